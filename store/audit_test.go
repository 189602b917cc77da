package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

var auditT0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// auditFixture is a store holding an audit log of 50 records with signed
// checkpoints at sizes 20 and 50.
type auditFixture struct {
	t    *testing.T
	s    *Store
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

const auditFixtureRecords = 50

func openAuditStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir(), Profile: ProfileSmall, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (f *auditFixture) sign(msg []byte) ([]byte, error) { return ed25519.Sign(f.priv, msg), nil }
func (f *auditFixture) verify(msg, sig []byte) bool     { return ed25519.Verify(f.pub, msg, sig) }

func (f *auditFixture) append(from, to int) {
	f.t.Helper()
	for i := from; i <= to; i++ {
		env := sha256.Sum256([]byte(fmt.Sprint("envelope ", i)))
		err := f.s.Update(context.Background(), func(tx *Tx) error {
			return tx.Audit(AuditRecord{
				At: auditT0.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprint("officer", i%3),
				Action: "case.viewed", CaseID: fmt.Sprint("case-", i%7), MessageID: fmt.Sprint("m", i),
				MessageHash: hex.EncodeToString(env[:]), Detail: "d",
			})
		})
		if err != nil {
			f.t.Fatalf("audit %d: %v", i, err)
		}
	}
}

func (f *auditFixture) checkpoint(wantSize uint64) *Checkpoint {
	f.t.Helper()
	cp, err := f.s.SignAuditCheckpoint(context.Background(), "EE-poc", f.sign, auditT0.Add(time.Duration(wantSize)*time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	if cp.Size != wantSize || !f.verify(cp.Body(), cp.Signature) {
		f.t.Fatalf("checkpoint = %+v, want size %d and a valid signature", cp, wantSize)
	}
	return cp
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &auditFixture{t: t, s: openAuditStore(t), pub: pub, priv: priv}
	f.append(1, 20)
	f.checkpoint(20)
	f.append(21, auditFixtureRecords)
	f.checkpoint(auditFixtureRecords)
	return f
}

func (f *auditFixture) report() *AuditReport {
	f.t.Helper()
	var rep *AuditReport
	err := f.s.View(func(r *ReadTx) (err error) { rep, err = r.VerifyAuditLog(f.verify); return err })
	if err != nil {
		f.t.Fatalf("VerifyAuditLog: %v", err)
	}
	return rep
}

func (f *auditFixture) raw(key string) []byte {
	f.t.Helper()
	var v []byte
	err := f.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		f.t.Fatalf("read %q: %v", key, err)
	}
	return v
}

// put writes (or with nil deletes) a key directly in Badger, bypassing Tx.
func (f *auditFixture) put(key string, v []byte) {
	f.t.Helper()
	err := f.s.db.Update(func(txn *badger.Txn) error {
		if v == nil {
			return txn.Delete([]byte(key))
		}
		return txn.Set([]byte(key), v)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *auditFixture) expectProblem(seq uint64, words ...string) {
	f.t.Helper()
	rep := f.report()
	if rep.OK || rep.FirstProblem == "" {
		f.t.Fatalf("tampering not detected: %+v", rep)
	}
	if rep.ProblemSeq != seq {
		f.t.Errorf("ProblemSeq = %d, want %d (%s)", rep.ProblemSeq, seq, rep.FirstProblem)
	}
	for _, w := range words {
		if !strings.Contains(rep.FirstProblem, w) {
			f.t.Errorf("FirstProblem %q does not mention %q", rep.FirstProblem, w)
		}
	}
	f.t.Logf("detected: %s", rep.FirstProblem)
}

func TestAuditLogVerifies(t *testing.T) {
	f := newAuditFixture(t)
	rep := f.report()
	if !rep.OK || rep.FirstProblem != "" || rep.Records != auditFixtureRecords || rep.Checkpoints != 2 ||
		rep.LatestCheckpoint == nil || rep.LatestCheckpoint.Size != auditFixtureRecords {
		t.Fatalf("report = %+v", rep)
	}
	if rep.Root != hex.EncodeToString(rep.LatestCheckpoint.Root) {
		t.Fatalf("report root %s, checkpoint root %x", rep.Root, rep.LatestCheckpoint.Root)
	}
	// The chain-only check agrees.
	var n uint64
	if err := f.s.View(func(r *ReadTx) (err error) { n, err = r.VerifyAudit(); return err }); err != nil || n != auditFixtureRecords {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	// No growth: the latest checkpoint is returned, nothing new is stored.
	cp := f.checkpoint(auditFixtureRecords)
	if !cp.Time.Equal(rep.LatestCheckpoint.Time) {
		t.Fatalf("re-signed an unchanged log: %v vs %v", cp.Time, rep.LatestCheckpoint.Time)
	}
	var cps []*Checkpoint
	if err := f.s.View(func(r *ReadTx) (err error) { cps, err = r.AuditCheckpoints(); return err }); err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Size != 20 || cps[1].Size != auditFixtureRecords || cps[0].Signer != "EE-poc" {
		t.Fatalf("checkpoints = %+v", cps)
	}
	if want := fmt.Sprintf("vigil-audit-checkpoint/v1\n20\n%s\n%d\n",
		base64.StdEncoding.EncodeToString(cps[0].Root), cps[0].Time.UnixNano()); string(cps[0].Body()) != want {
		t.Fatalf("body %q, want %q", cps[0].Body(), want)
	}
	// A wrong key fails every checkpoint.
	other, _, _ := ed25519.GenerateKey(nil)
	var rep2 *AuditReport
	if err := f.s.View(func(r *ReadTx) (err error) {
		rep2, err = r.VerifyAuditLog(func(m, s []byte) bool { return ed25519.Verify(other, m, s) })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rep2.OK || rep2.ProblemSeq != 20 || !strings.Contains(rep2.FirstProblem, "signature invalid") {
		t.Fatalf("wrong key: %+v", rep2)
	}
	// The records read back with the message hash.
	var recs []*AuditRecord
	if err := f.s.View(func(r *ReadTx) (err error) { recs, err = r.Audit(0, 0); return err }); err != nil {
		t.Fatal(err)
	}
	env := sha256.Sum256([]byte("envelope 7"))
	if len(recs) != auditFixtureRecords || recs[6].MessageHash != hex.EncodeToString(env[:]) {
		t.Fatalf("record 7 = %+v", recs[6])
	}
}

func TestAuditEmptyLog(t *testing.T) {
	s := openAuditStore(t)
	var rep *AuditReport
	if err := s.View(func(r *ReadTx) (err error) { rep, err = r.VerifyAuditLog(nil); return err }); err != nil {
		t.Fatal(err)
	}
	empty := rfc6962.DefaultHasher.EmptyRoot()
	if !rep.OK || rep.Records != 0 || rep.Root != hex.EncodeToString(empty) {
		t.Fatalf("empty log: %+v", rep)
	}
	cp, err := s.SignAuditCheckpoint(context.Background(), "n", func([]byte) ([]byte, error) { return []byte("sig"), nil }, auditT0)
	if err != nil || cp.Size != 0 || !bytes.Equal(cp.Root, empty) {
		t.Fatalf("empty checkpoint = %+v, %v", cp, err)
	}
	// A failing signer stores nothing.
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Audit(AuditRecord{Actor: "a", Action: "b"}) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("hsm offline")
	if _, err := s.SignAuditCheckpoint(context.Background(), "n", func([]byte) ([]byte, error) { return nil, boom }, auditT0); !errors.Is(err, boom) {
		t.Fatalf("failing signer: %v", err)
	}
	var cps []*Checkpoint
	if err := s.View(func(r *ReadTx) (err error) { cps, err = r.AuditCheckpoints(); return err }); err != nil || len(cps) != 1 {
		t.Fatalf("checkpoints = %v, %v", cps, err)
	}
}

// TestAuditTreeAtomic checks that several records in one Update, and an
// Update that fails, keep the tree in step with the records.
func TestAuditTreeAtomic(t *testing.T) {
	s := openAuditStore(t)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		for i := range 5 {
			if err := tx.Audit(AuditRecord{Actor: "a", Action: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Audit(AuditRecord{Actor: "mallory", Action: "x"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Audit(AuditRecord{Actor: "a", Action: "5"}) }); err != nil {
		t.Fatal(err)
	}
	var rep *AuditReport
	var size uint64
	var root []byte
	if err := s.View(func(r *ReadTx) (err error) {
		if size, root, err = r.AuditRoot(); err != nil {
			return err
		}
		rep, err = r.VerifyAuditLog(nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records != 6 || size != 6 || rep.Root != hex.EncodeToString(root) {
		t.Fatalf("report %+v, tree size %d root %x", rep, size, root)
	}
}

func TestAuditTamperModified(t *testing.T) {
	f := newAuditFixture(t)
	key := auditKey(17)
	orig := f.raw(key)
	f.put(key, bytes.Replace(orig, []byte(`"case.viewed"`), []byte(`"case.vieweD"`), 1))
	f.expectProblem(17, "record 17 was modified")

	// Even with its leaf hash rewritten to match, the chain still breaks.
	f.put(auditNodeKey(compact.NewNodeID(0, 16)), rfc6962.DefaultHasher.HashLeaf(f.raw(key)))
	f.expectProblem(17, "record 17 was modified")
}

func TestAuditTamperDeleted(t *testing.T) {
	f := newAuditFixture(t)
	f.put(auditKey(5), nil)
	f.expectProblem(5, "record 5 missing")
}

func TestAuditTamperReordered(t *testing.T) {
	f := newAuditFixture(t)
	r10, r11 := f.raw(auditKey(10)), f.raw(auditKey(11))
	f.put(auditKey(10), r11)
	f.put(auditKey(11), r10)
	f.expectProblem(10, "record 10 is out of order")
}

func TestAuditTamperLastModified(t *testing.T) {
	f := newAuditFixture(t)
	key := auditKey(auditFixtureRecords)
	orig := f.raw(key)
	f.put(key, bytes.Replace(orig, []byte(`"d"`), []byte(`"e"`), 1))
	f.expectProblem(auditFixtureRecords, "record 50 was modified")

	// Rewrite its leaf hash too: the stored tree node above it no longer
	// matches.
	f.put(auditNodeKey(compact.NewNodeID(0, auditFixtureRecords-1)), rfc6962.DefaultHasher.HashLeaf(f.raw(key)))
	f.expectProblem(auditFixtureRecords, "tree node over records 49 to 50")

	// Rewrite that node too: the signed checkpoint at 50 catches it.
	h := rfc6962.DefaultHasher
	f.put(auditNodeKey(compact.NewNodeID(1, (auditFixtureRecords-1)/2)),
		h.HashChildren(h.HashLeaf(f.raw(auditKey(auditFixtureRecords-1))), h.HashLeaf(f.raw(key))))
	f.expectProblem(auditFixtureRecords, "checkpoint at size 50 does not match the log", "from 21 to 50")

	// Delete the checkpoint too (an oversight body keeps copies): the
	// head catches it.
	f.put(auditCheckpointKey(auditFixtureRecords), nil)
	f.expectProblem(auditFixtureRecords, "record 50 was modified", "head")

	// And rewrite the head: the stored compact range catches it.
	f.put(auditHeadKey, fmt.Appendf(nil, `{"seq":50,"hash":%q}`, auditHash(f.raw(key))))
	f.expectProblem(auditFixtureRecords, "tree state")
}

func TestAuditTamperTruncated(t *testing.T) {
	f := newAuditFixture(t)
	f.put(auditKey(auditFixtureRecords), nil)
	f.expectProblem(auditFixtureRecords, "record 50 missing")
	// With the head rolled back too, the checkpoint at 50 still proves it.
	f.put(auditHeadKey, fmt.Appendf(nil, `{"seq":49,"hash":%q}`, auditHash(f.raw(auditKey(49)))))
	f.expectProblem(auditFixtureRecords, "record 50 missing", "checkpoint")
}

func TestAuditTamperCheckpoint(t *testing.T) {
	f := newAuditFixture(t)
	key := auditCheckpointKey(20)
	var cp Checkpoint
	if err := decodeRecord(f.raw(key), &cp); err != nil {
		t.Fatal(err)
	}
	cp.Signature[0] ^= 1
	b, _ := json.Marshal(cp)
	f.put(key, b)
	f.expectProblem(20, "checkpoint signature invalid")

	// A forged root with a valid signature by someone else's key is no
	// better; a re-signed wrong root (the key holder lying) is caught by
	// the root comparison.
	cp.Signature[0] ^= 1
	cp.Root = bytes.Repeat([]byte{7}, 32)
	cp.Signature = ed25519.Sign(f.priv, cp.Body())
	b, _ = json.Marshal(cp)
	f.put(key, b)
	f.expectProblem(20, "checkpoint at size 20 does not match the log")
}

func TestAuditTamperTreeState(t *testing.T) {
	f := newAuditFixture(t)
	f.put(auditTreeKey, nil)
	f.expectProblem(auditFixtureRecords, "tree state is missing")
}

func TestAuditExport(t *testing.T) {
	f := newAuditFixture(t)
	var buf bytes.Buffer
	if err := f.s.View(func(r *ReadTx) error { return r.ExportAudit(&buf) }); err != nil {
		t.Fatal(err)
	}
	// An independent verifier: only the JSON lines, crypto/ed25519 and
	// RFC 6962 hashing.
	h := rfc6962.DefaultHasher
	rng := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	roots := map[uint64][]byte{}
	var cps []Checkpoint
	prev := ""
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Seq         uint64      `json:"seq"`
			Actor       string      `json:"actor"`
			MessageHash string      `json:"message_hash"`
			PrevHash    string      `json:"prev_hash"`
			LeafIndex   *uint64     `json:"leaf_index"`
			Hash        string      `json:"hash"`
			LeafHash    string      `json:"leaf_hash"`
			Leaf        []byte      `json:"leaf"`
			Checkpoint  *Checkpoint `json:"checkpoint"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if line.Checkpoint != nil {
			cps = append(cps, *line.Checkpoint)
			continue
		}
		if line.LeafIndex == nil || *line.LeafIndex != rng.End() || line.Seq != rng.End()+1 {
			t.Fatalf("record line out of order at %d: %s", rng.End(), sc.Text())
		}
		// The flat fields are the leaf's fields.
		var leafRec AuditRecord
		if err := json.Unmarshal(line.Leaf, &leafRec); err != nil || leafRec.Seq != line.Seq ||
			leafRec.Actor != line.Actor || leafRec.MessageHash != line.MessageHash || line.MessageHash == "" {
			t.Fatalf("leaf %s does not match line %s (%v)", line.Leaf, sc.Text(), err)
		}
		sum := sha256.Sum256(line.Leaf)
		if line.Hash != hex.EncodeToString(sum[:]) || line.PrevHash != prev {
			t.Fatalf("chain broken at %d", line.Seq)
		}
		prev = line.Hash
		lh := h.HashLeaf(line.Leaf)
		if line.LeafHash != hex.EncodeToString(lh) {
			t.Fatalf("leaf hash of %d", line.Seq)
		}
		if err := rng.Append(lh, nil); err != nil {
			t.Fatal(err)
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		roots[rng.End()] = root
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rng.End() != auditFixtureRecords || len(cps) != 2 {
		t.Fatalf("exported %d records and %d checkpoints", rng.End(), len(cps))
	}
	for _, cp := range cps {
		if !ed25519.Verify(f.pub, cp.Body(), cp.Signature) {
			t.Fatalf("exported checkpoint %d: bad signature", cp.Size)
		}
		if !bytes.Equal(roots[cp.Size], cp.Root) {
			t.Fatalf("exported checkpoint %d: root %x, recomputed %x", cp.Size, cp.Root, roots[cp.Size])
		}
	}
}

func TestAuditProofs(t *testing.T) {
	f := newAuditFixture(t)
	var cps []*Checkpoint
	if err := f.s.View(func(r *ReadTx) (err error) { cps, err = r.AuditCheckpoints(); return err }); err != nil {
		t.Fatal(err)
	}
	h := rfc6962.DefaultHasher
	for _, cp := range cps {
		for seq := uint64(1); seq <= cp.Size; seq++ {
			var p [][]byte
			var leaf []byte
			err := f.s.View(func(r *ReadTx) (err error) {
				if leaf, err = r.get(auditKey(seq)); err != nil {
					return err
				}
				p, err = r.AuditInclusionProof(seq, cp.Size)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(h, seq-1, cp.Size, h.HashLeaf(leaf), p, cp.Root); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", seq, cp.Size, err)
			}
		}
	}
	var p [][]byte
	if err := f.s.View(func(r *ReadTx) (err error) { p, err = r.AuditConsistencyProof(20, 50); return err }); err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(h, 20, 50, p, cps[0].Root, cps[1].Root); err != nil {
		t.Fatalf("consistency 20→50: %v", err)
	}
	if err := f.s.View(func(r *ReadTx) error {
		if _, err := r.AuditInclusionProof(1, 51); err == nil {
			return errors.New("proof for a size beyond the log")
		}
		if _, err := r.AuditInclusionProof(0, 5); err == nil {
			return errors.New("proof for record 0")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLegacyLog checks a log written before the Merkle tree existed
// (records, chain and head only): it verifies, gets a tree on the next
// append, and proofs cover the old records too.
func TestAuditLegacyLog(t *testing.T) {
	s := openAuditStore(t)
	prev := ""
	err := s.db.Update(func(txn *badger.Txn) error {
		for i := uint64(1); i <= 7; i++ {
			b, _ := json.Marshal(AuditRecord{Seq: i, At: auditT0, Actor: "old", Action: "x", PrevHash: prev})
			if err := txn.Set([]byte(auditKey(i)), b); err != nil {
				return err
			}
			prev = auditHash(b)
		}
		head, _ := json.Marshal(auditHead{Seq: 7, Hash: prev})
		return txn.Set([]byte(auditHeadKey), head)
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func() *AuditReport {
		t.Helper()
		var rep *AuditReport
		if err := s.View(func(r *ReadTx) (err error) { rep, err = r.VerifyAuditLog(nil); return err }); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(); !rep.OK || rep.Records != 7 {
		t.Fatalf("legacy log: %+v", rep)
	}
	for range 3 {
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Audit(AuditRecord{Actor: "new", Action: "y"}) }); err != nil {
			t.Fatal(err)
		}
	}
	rep := verify()
	if !rep.OK || rep.Records != 10 {
		t.Fatalf("migrated log: %+v", rep)
	}
	cp, err := s.SignAuditCheckpoint(context.Background(), "n", func([]byte) ([]byte, error) { return nil, nil }, auditT0)
	if err != nil || hex.EncodeToString(cp.Root) != rep.Root {
		t.Fatalf("checkpoint %+v, %v; root %s", cp, err, rep.Root)
	}
	h := rfc6962.DefaultHasher
	for seq := uint64(1); seq <= 10; seq++ {
		var p [][]byte
		var leaf []byte
		if err := s.View(func(r *ReadTx) (err error) {
			if leaf, err = r.get(auditKey(seq)); err != nil {
				return err
			}
			p, err = r.AuditInclusionProof(seq, 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, seq-1, 10, h.HashLeaf(leaf), p, cp.Root); err != nil {
			t.Fatalf("inclusion of %d: %v", seq, err)
		}
	}
}

// TestAuditVerifyChecks tampers with the log once per check VerifyAuditLog
// composes and pins the whole report each time: what it says, about which
// record, and how far it got.
func TestAuditVerifyChecks(t *testing.T) {
	rewriteCheckpoint := func(f *auditFixture, size uint64, change func(*Checkpoint)) {
		var cp Checkpoint
		if err := decodeRecord(f.raw(auditCheckpointKey(size)), &cp); err != nil {
			f.t.Fatal(err)
		}
		change(&cp)
		b, err := json.Marshal(cp)
		if err != nil {
			f.t.Fatal(err)
		}
		f.put(auditCheckpointKey(size), b)
	}
	h := rfc6962.DefaultHasher
	for _, tc := range []struct {
		name   string
		tamper func(f *auditFixture)
		noSig  bool // verify without a signature check
		want   AuditReport
		// latest is the size of the report's latest checkpoint (0: none).
		latest uint64
	}{
		{name: "intact", tamper: func(*auditFixture) {},
			want:   AuditReport{Records: 50, Checkpoints: 2, OK: true},
			latest: 50},
		{name: "checkpoint key", tamper: func(f *auditFixture) { f.put(auditCPPrefix+"x", []byte(`{}`)) },
			want:   AuditReport{Checkpoints: 2, FirstProblem: `unexpected audit checkpoint key "auditcp/x"`},
			latest: 50},
		{name: "checkpoint corrupt", tamper: func(f *auditFixture) { f.put(auditCheckpointKey(20), []byte("not json")) },
			want: AuditReport{Records: 19, Checkpoints: 2, ProblemSeq: 20,
				FirstProblem: "checkpoint at size 20 is corrupt: invalid character 'o' in literal null (expecting 'u')"},
			latest: 50},
		{name: "checkpoint size", tamper: func(f *auditFixture) { rewriteCheckpoint(f, 20, func(cp *Checkpoint) { cp.Size = 21 }) },
			want: AuditReport{Records: 19, Checkpoints: 2, ProblemSeq: 20,
				FirstProblem: "checkpoint at size 20 is corrupt: stored at size 20 but says size 21"},
			latest: 50},
		{name: "checkpoint signature", tamper: func(f *auditFixture) { rewriteCheckpoint(f, 50, func(cp *Checkpoint) { cp.Signature[3] ^= 1 }) },
			want: AuditReport{Records: 49, Checkpoints: 2, ProblemSeq: 50,
				FirstProblem: "checkpoint at size 50: checkpoint signature invalid"},
			latest: 50},
		{name: "checkpoint signature unchecked", noSig: true,
			tamper: func(f *auditFixture) { rewriteCheckpoint(f, 50, func(cp *Checkpoint) { cp.Signature[3] ^= 1 }) },
			want:   AuditReport{Records: 50, Checkpoints: 2, OK: true},
			latest: 50},
		{name: "checkpoint root", tamper: func(f *auditFixture) {
			rewriteCheckpoint(f, 50, func(cp *Checkpoint) {
				cp.Root = bytes.Repeat([]byte{9}, 32)
				cp.Signature = ed25519.Sign(f.priv, cp.Body())
			})
		},
			want: AuditReport{Records: 49, Checkpoints: 2, ProblemSeq: 50,
				FirstProblem: "checkpoint at size 50 does not match the log: a record from 21 to 50 was changed"},
			latest: 50},
		{name: "checkpoint beyond the log", tamper: func(f *auditFixture) {
			cp := Checkpoint{Size: 60, Root: bytes.Repeat([]byte{9}, 32), Time: auditT0, Signer: "EE-poc"}
			cp.Signature = ed25519.Sign(f.priv, cp.Body())
			b, _ := json.Marshal(cp)
			f.put(auditCheckpointKey(60), b)
		},
			want: AuditReport{Records: 50, Checkpoints: 3, ProblemSeq: 51,
				FirstProblem: "record 51 missing: the log ends at record 50 but a checkpoint covers 60 records"},
			latest: 60},
		{name: "record key", tamper: func(f *auditFixture) { f.put(auditPrefix+"zz", []byte(`{}`)) },
			want: AuditReport{Records: 50, Checkpoints: 2, ProblemSeq: 51,
				FirstProblem: `unexpected audit key "audit/zz" after record 50`},
			latest: 50},
		{name: "records missing", tamper: func(f *auditFixture) { f.put(auditKey(5), nil); f.put(auditKey(6), nil) },
			want:   AuditReport{Records: 4, Checkpoints: 2, ProblemSeq: 5, FirstProblem: "records 5 to 6 missing"},
			latest: 50},
		{name: "record not JSON", tamper: func(f *auditFixture) { f.put(auditKey(8), []byte("garbage")) },
			want: AuditReport{Records: 7, Checkpoints: 2, ProblemSeq: 8,
				FirstProblem: "record 8 was modified: it is not valid JSON"},
			latest: 50},
		{name: "leaf hash missing", tamper: func(f *auditFixture) { f.put(auditNodeKey(compact.NewNodeID(0, 11)), nil) },
			want: AuditReport{Records: 11, Checkpoints: 2, ProblemSeq: 12,
				FirstProblem: "record 12 has no stored leaf hash"},
			latest: 50},
		{name: "first prev_hash", tamper: func(f *auditFixture) {
			var a AuditRecord
			if err := decodeRecord(f.raw(auditKey(1)), &a); err != nil {
				f.t.Fatal(err)
			}
			a.PrevHash = "00"
			b, _ := json.Marshal(a)
			f.put(auditKey(1), b)
			f.put(auditNodeKey(compact.NewNodeID(0, 0)), h.HashLeaf(b))
		},
			want: AuditReport{Checkpoints: 2, ProblemSeq: 1,
				FirstProblem: "record 1 was modified: its prev_hash is not empty"},
			latest: 50},
		{name: "tree node missing", tamper: func(f *auditFixture) { f.put(auditNodeKey(compact.NewNodeID(1, 0)), nil) },
			want: AuditReport{Records: 1, Checkpoints: 2, ProblemSeq: 2,
				FirstProblem: "the audit tree node over records 1 to 2 is missing"},
			latest: 50},
		{name: "head missing", tamper: func(f *auditFixture) { f.put(auditHeadKey, nil) },
			want:   AuditReport{Records: 50, Checkpoints: 2, ProblemSeq: 50, FirstProblem: "the audit head is missing"},
			latest: 50},
		{name: "head behind", tamper: func(f *auditFixture) {
			f.put(auditHeadKey, fmt.Appendf(nil, `{"seq":49,"hash":%q}`, auditHash(f.raw(auditKey(49)))))
		},
			want: AuditReport{Records: 50, Checkpoints: 2, ProblemSeq: 50,
				FirstProblem: "record 50 was not appended through the audit log (the head is at record 49)"},
			latest: 50},
		{name: "head ahead", tamper: func(f *auditFixture) {
			f.put(auditHeadKey, fmt.Appendf(nil, `{"seq":51,"hash":%q}`, auditHash(f.raw(auditKey(50)))))
		},
			want: AuditReport{Records: 50, Checkpoints: 2, ProblemSeq: 51,
				FirstProblem: "record 51 missing: the log ends at record 50 but its head is at record 51"},
			latest: 50},
		{name: "tree state size", tamper: func(f *auditFixture) {
			var tr auditTree
			if err := decodeRecord(f.raw(auditTreeKey), &tr); err != nil {
				f.t.Fatal(err)
			}
			tr.Begin = 2
			b, _ := json.Marshal(tr)
			f.put(auditTreeKey, b)
		},
			want: AuditReport{Records: 50, Checkpoints: 2, ProblemSeq: 50,
				FirstProblem: "the audit tree state (size 50) does not match the log (50 records)"},
			latest: 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuditFixture(t)
			tc.tamper(f)
			verify := f.verify
			if tc.noSig {
				verify = nil
			}
			var rep *AuditReport
			if err := f.s.View(func(r *ReadTx) (err error) { rep, err = r.VerifyAuditLog(verify); return err }); err != nil {
				t.Fatalf("VerifyAuditLog: %v", err)
			}
			if tc.latest == 0 && rep.LatestCheckpoint != nil || tc.latest != 0 && (rep.LatestCheckpoint == nil || rep.LatestCheckpoint.Size != tc.latest) {
				t.Errorf("latest checkpoint %+v, want size %d", rep.LatestCheckpoint, tc.latest)
			}
			got := *rep
			got.LatestCheckpoint = nil
			if tc.want.OK {
				if len(got.Root) != 64 {
					t.Errorf("root %q, want 32 bytes in hex", got.Root)
				}
				got.Root = ""
			}
			if got != tc.want {
				t.Errorf("report\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestAuditCacheAfterUnstageableRequest: a request that appends to the
// audit log and then cannot be staged at all (too big for any transaction)
// must not leave the committer's audit cache ahead of the store, or the
// next record would skip a sequence number.
func TestAuditCacheAfterUnstageableRequest(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	ctx := context.Background()
	if err := s.Update(ctx, enqueueWithAudit("a", "p", 100)); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Audit(AuditRecord{Actor: "x", Action: "huge"}); err != nil {
			return err
		}
		for j := range 40 {
			if err := tx.PutMessage(newMsg(fmt.Sprint("huge", j), "p", 45<<10)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("a 1.8 MiB request was staged; the test needs one over Badger's batch limit")
	}
	if err := s.Update(ctx, enqueueWithAudit("b", "p", 100)); err != nil {
		t.Fatal(err)
	}
	mustVerifyAudit(t, s, 2)
}
