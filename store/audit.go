package store

// The audit log is tamper-evident in two independent ways:
//
//   - a hash chain: each record carries the SHA-256 of the stored bytes of
//     the record before it (prev_hash), and meta/audit-head holds the
//     sequence number and hash of the newest record. The chain pinpoints
//     the first record that was changed, removed or moved.
//   - an RFC 6962 Merkle tree (github.com/transparency-dev/merkle) over the
//     exact stored record bytes, maintained incrementally as a compact range
//     in meta/audit-tree, with every perfect subtree node (including each
//     leaf hash) stored under audittree/. Signed checkpoints (signed tree
//     heads, auditcp/) commit to the root at a size; handed to an oversight
//     body they make any later rewrite of the log provable, and inclusion
//     and consistency proofs can be served from the stored nodes.
//
// Record, head, compact range and tree nodes are written in the same Tx, so
// they are committed atomically.
//
// Keys:
//
//	audit/<seq, 8 bytes BE>             record JSON (the Merkle leaf)
//	meta/audit-head                     {"seq","hash"} of the newest record
//	meta/audit-tree                     compact range {"begin","end","hashes","leaves_from"}
//	audittree/<level, 1 byte><index BE> Merkle node hash (level 0: leaf hash)
//	auditcp/<size, 8 bytes BE>          signed Checkpoint JSON

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// AuditRecord is one entry in the append-only, hash-chained audit log.
type AuditRecord struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"` // user, "node", or a peer ID
	Action    string    `json:"action"`
	CaseID    string    `json:"case_id,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	// MessageHash is the hex SHA-256 of the envelope the action concerns,
	// set by callers when there is one.
	MessageHash string `json:"message_hash,omitempty"`
	Detail      string `json:"detail,omitempty"` // never request contents
	PrevHash    string `json:"prev_hash"`
	Hash        string `json:"-"` // SHA-256 of the stored record (the next record's PrevHash)
}

const (
	auditPrefix     = "audit/"
	auditHeadKey    = "meta/audit-head"
	auditTreeKey    = "meta/audit-tree"
	auditNodePrefix = "audittree/"
	auditCPPrefix   = "auditcp/"

	// CheckpointOrigin opens the signed body of every audit checkpoint.
	CheckpointOrigin = "vigil-audit-checkpoint/v1"
)

func auditKey(seq uint64) string {
	return auditPrefix + string(binary.BigEndian.AppendUint64(nil, seq))
}

func auditNodeKey(id compact.NodeID) string {
	return auditNodePrefix + string(binary.BigEndian.AppendUint64([]byte{byte(id.Level)}, id.Index))
}

func auditCheckpointKey(size uint64) string {
	return auditCPPrefix + string(binary.BigEndian.AppendUint64(nil, size))
}

// seqFromKey decodes the big-endian number after prefix.
func seqFromKey(key, prefix string) (uint64, bool) {
	rest := key[len(prefix):]
	if len(rest) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(rest)), true
}

var (
	auditHasher = rfc6962.DefaultHasher
	auditRanges = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
)

type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func auditHash(stored []byte) string {
	h := sha256.Sum256(stored)
	return hex.EncodeToString(h[:])
}

// auditTree is the stored compact range of the audit log's Merkle tree.
type auditTree struct {
	Begin  uint64   `json:"begin"` // always 0
	End    uint64   `json:"end"`   // tree size
	Hashes [][]byte `json:"hashes"`
	// LeavesFrom is the first record whose tree nodes are stored (1 unless
	// the log predates the tree).
	LeavesFrom uint64 `json:"leaves_from"`
}

func (a *auditTree) rng() (*compact.Range, error) {
	r, err := auditRanges.NewRange(a.Begin, a.End, a.Hashes)
	if err != nil {
		return nil, fmt.Errorf("audit tree state is corrupt: %w", err)
	}
	return r, nil
}

func (a *auditTree) root() ([]byte, error) {
	r, err := a.rng()
	if err != nil {
		return nil, err
	}
	return rangeRoot(r)
}

func rangeRoot(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return auditHasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// rebuildAuditTree builds the compact range of a log written before the
// Merkle tree existed from its records. Its nodes are not stored.
func (r *ReadTx) rebuildAuditTree(headSeq uint64) (*auditTree, error) {
	rng := auditRanges.NewEmptyRange(0)
	err := r.scan(auditPrefix, false, func(_ string, v []byte) (bool, error) {
		return true, rng.Append(auditHasher.HashLeaf(v), nil)
	})
	if err != nil {
		return nil, err
	}
	if rng.End() != headSeq {
		return nil, fmt.Errorf("audit log has %d records but its head is at record %d: run audit verify", rng.End(), headSeq)
	}
	return &auditTree{End: rng.End(), Hashes: rng.Hashes(), LeavesFrom: headSeq + 1}, nil
}

// loadAuditTree returns the stored compact range, or rebuilds it for a
// log that predates it.
func loadAuditTree(getRecord func(string, any) error, r *ReadTx) (*auditTree, error) {
	var tr auditTree
	err := getRecord(auditTreeKey, &tr)
	if err == nil {
		return &tr, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var head auditHead
	if err := getRecord(auditHeadKey, &head); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if head.Seq == 0 {
		return &auditTree{LeavesFrom: 1}, nil
	}
	return r.rebuildAuditTree(head.Seq)
}

// auditCache is the audit log's head and compact range as of the writes
// staged so far, kept by the committer (the only writer) so that an append
// does not read and decode both from Badger again: about 20 µs of every
// commit on the request path (BENCHMARKS.md). It is valid only while it
// matches what the staging transaction would read; the committer drops it
// whenever that may not hold (invalidate): a request that appended and then
// failed, a restaged transaction, a failed commit. Writes made around the
// committer (tests that tamper with the log) are not seen by it.
type auditCache struct {
	valid bool
	head  auditHead
	tree  auditTree
}

func (c *auditCache) invalidate() { c.valid = false }

// auditState returns the head and tree an append builds on: the cache's
// copy, or the stored one.
func (t *Tx) auditState() (auditHead, *auditTree, error) {
	if t.audit != nil && t.audit.valid {
		tree := t.audit.tree
		tree.Hashes = slices.Clone(tree.Hashes) // the range appends in place
		return t.audit.head, &tree, nil
	}
	var head auditHead
	if err := t.getRecord(auditHeadKey, &head); err != nil && !errors.Is(err, ErrNotFound) {
		return head, nil, err
	}
	tree, err := loadAuditTree(t.getRecord, &t.ReadTx)
	return head, tree, err
}

// Audit appends a record to the audit log: the hash chain, the Merkle tree
// and the head are updated in the same transaction.
func (t *Tx) Audit(a AuditRecord) error {
	t.audited = true // from here on a failure of the request drops the cache
	head, tree, err := t.auditState()
	if err != nil {
		return err
	}
	if tree.End != head.Seq {
		return fmt.Errorf("audit tree (size %d) does not match the audit head (record %d)", tree.End, head.Seq)
	}
	rng, err := tree.rng()
	if err != nil {
		return err
	}
	a.Seq = head.Seq + 1
	a.PrevHash = head.Hash
	a.At = a.At.UTC()
	a.Hash = ""
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode audit: %w", err)
	}
	err = rng.Append(auditHasher.HashLeaf(b), func(id compact.NodeID, h []byte) {
		t.set(auditNodeKey(id), h)
	})
	if err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	t.set(auditKey(a.Seq), b)
	tree.End, tree.Hashes = rng.End(), rng.Hashes()
	if err := t.setRecord(auditTreeKey, tree); err != nil {
		return err
	}
	newHead := auditHead{Seq: a.Seq, Hash: auditHash(b)}
	if err := t.setRecord(auditHeadKey, newHead); err != nil {
		return err
	}
	if t.audit != nil {
		// tree is this append's own copy (auditState), so the cache may
		// take it as it is.
		t.audit.valid, t.audit.head, t.audit.tree = true, newHead, *tree
	}
	return nil
}

// Audit returns audit records with seq > after, oldest first.
func (r *ReadTx) Audit(after uint64, limit int) ([]*AuditRecord, error) {
	var out []*AuditRecord
	err := r.scan(auditPrefix, false, func(_ string, v []byte) (bool, error) {
		var a AuditRecord
		if err := decodeRecord(v, &a); err != nil {
			return false, fmt.Errorf("decode audit: %w", err)
		}
		if a.Seq > after {
			a.Hash = auditHash(v)
			out = append(out, &a)
		}
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// VerifyAudit walks the whole audit chain and reports the first break: a
// record whose prev_hash does not match its predecessor, a gap in sequence
// numbers, or a head that does not match the last record. It checks the hash
// chain only; VerifyAuditLog also checks the Merkle tree and checkpoints.
func (r *ReadTx) VerifyAudit() (n uint64, err error) {
	prev := ""
	err = r.scan(auditPrefix, false, func(_ string, v []byte) (bool, error) {
		var a AuditRecord
		if err := decodeRecord(v, &a); err != nil {
			return false, fmt.Errorf("audit record %d: %w", n+1, err)
		}
		if a.Seq != n+1 {
			return false, fmt.Errorf("audit chain gap: record %d follows %d", a.Seq, n)
		}
		if a.PrevHash != prev {
			return false, fmt.Errorf("audit chain broken at record %d", a.Seq)
		}
		prev, n = auditHash(v), a.Seq
		return true, nil
	})
	if err != nil {
		return n, err
	}
	var head auditHead
	if herr := r.getRecord(auditHeadKey, &head); herr != nil && !errors.Is(herr, ErrNotFound) {
		return n, herr
	}
	if head.Seq != n || head.Hash != prev {
		return n, fmt.Errorf("audit head (record %d) does not match the chain (record %d)", head.Seq, n)
	}
	return n, nil
}

// AuditRoot returns the size of the audit log's Merkle tree and its RFC 6962
// root hash (SHA-256 of the empty string for an empty log), as maintained
// by Tx.Audit.
func (r *ReadTx) AuditRoot() (size uint64, root []byte, err error) {
	tree, err := loadAuditTree(r.getRecord, r)
	if err != nil {
		return 0, nil, err
	}
	root, err = tree.root()
	return tree.End, root, err
}

// ---------------------------------------------------------------------------
// checkpoints

// Checkpoint is a signed tree head: the signer's statement that the audit
// log had Size records with Merkle root Root at Time.
type Checkpoint struct {
	Size      uint64    `json:"size"`
	Root      []byte    `json:"root"` // RFC 6962 root hash; base64 in JSON
	Time      time.Time `json:"time"`
	Signer    string    `json:"signer"`
	Signature []byte    `json:"signature"` // over Body(); base64 in JSON
}

// Body is the canonical text the checkpoint's signature covers:
//
//	vigil-audit-checkpoint/v1\n<size>\n<base64 root>\n<unix nanoseconds>\n
func (c *Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n%d\n", CheckpointOrigin, c.Size,
		base64.StdEncoding.EncodeToString(c.Root), c.Time.UnixNano())
}

// SignAuditCheckpoint signs the current Merkle root of the audit log with
// sign and, if the log grew since the latest stored checkpoint (or none is
// stored), stores the new checkpoint. It returns the latest checkpoint.
// sign runs outside the commit, so it may be slow (an HSM, a remote signer).
func (s *Store) SignAuditCheckpoint(ctx context.Context, signer string, sign func([]byte) ([]byte, error), now time.Time) (*Checkpoint, error) {
	var (
		size   uint64
		root   []byte
		latest *Checkpoint
	)
	err := s.View(func(r *ReadTx) (err error) {
		if size, root, err = r.AuditRoot(); err != nil {
			return err
		}
		latest, err = r.latestAuditCheckpoint()
		return err
	})
	if err != nil {
		return nil, err
	}
	if latest != nil {
		if latest.Size > size {
			return nil, fmt.Errorf("audit log has %d records but its latest checkpoint covers %d", size, latest.Size)
		}
		if latest.Size == size {
			return latest, nil
		}
	}
	cp := &Checkpoint{Size: size, Root: root, Time: now.UTC(), Signer: signer}
	if cp.Signature, err = sign(cp.Body()); err != nil {
		return nil, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	out := cp
	err = s.Update(ctx, func(tx *Tx) error {
		// Another signer may have stored a checkpoint meanwhile. The tree is
		// append-only, so cp stays true for its size either way.
		cur, err := tx.latestAuditCheckpoint()
		if err != nil {
			return err
		}
		if cur != nil && cur.Size >= cp.Size {
			out = cur
			return nil
		}
		out = cp
		return tx.setRecord(auditCheckpointKey(cp.Size), cp)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *ReadTx) latestAuditCheckpoint() (*Checkpoint, error) {
	var cp *Checkpoint
	err := r.scan(auditCPPrefix, true, func(_ string, v []byte) (bool, error) {
		cp = new(Checkpoint)
		if err := decodeRecord(v, cp); err != nil {
			return false, fmt.Errorf("decode audit checkpoint: %w", err)
		}
		return false, nil
	})
	return cp, err
}

// AuditCheckpoints returns the stored checkpoints, smallest size first.
func (r *ReadTx) AuditCheckpoints() ([]*Checkpoint, error) {
	var out []*Checkpoint
	err := r.scan(auditCPPrefix, false, func(_ string, v []byte) (bool, error) {
		var cp Checkpoint
		if err := decodeRecord(v, &cp); err != nil {
			return false, fmt.Errorf("decode audit checkpoint: %w", err)
		}
		out = append(out, &cp)
		return true, nil
	})
	return out, err
}

// ---------------------------------------------------------------------------
// verification

// AuditReport is the outcome of VerifyAuditLog.
type AuditReport struct {
	Records          uint64      `json:"records"`           // records verified (all of them when OK)
	Root             string      `json:"root"`              // hex Merkle root of the whole log (when OK)
	Checkpoints      int         `json:"checkpoints"`       // checkpoints stored
	LatestCheckpoint *Checkpoint `json:"latest_checkpoint"` // largest stored checkpoint, if any
	OK               bool        `json:"ok"`
	FirstProblem     string      `json:"first_problem"` // the first inconsistency, in log order
	ProblemSeq       uint64      `json:"problem_seq"`   // the record (or checkpoint size) it concerns
}

type storedCheckpoint struct {
	cp  *Checkpoint
	bad string // why it cannot be decoded
}

// VerifyAuditLog checks the whole audit log and reports the first
// inconsistency: a record missing, moved or modified (by sequence numbers,
// stored leaf hashes and the hash chain), a head or Merkle tree state that
// does not match the records, or a checkpoint whose signature is invalid
// (verify(body, signature) false) or whose root does not match the Merkle
// root recomputed from the records at its size. verify nil skips signature
// checks. Problems in the log give OK=false and FirstProblem; the error is
// only for failures to read the store.
//
// The checks run in log order, each stopping the walk at its first
// problem: the checkpoints are read, the records walked (position, record,
// leaf hash, chain, tree nodes, a checkpoint at that size), and then the
// head, the checkpoints beyond the log and the tree state are compared
// with what the walk found.
func (r *ReadTx) VerifyAuditLog(verify func(msg, sig []byte) bool) (*AuditReport, error) {
	v := &auditVerifier{r: r, verify: verify, rep: &AuditReport{}, cps: map[uint64]storedCheckpoint{}}
	rep := v.rep
	if err := v.loadCheckpoints(); err != nil || v.failed() {
		return rep, err
	}
	if err := v.loadTree(); err != nil {
		return rep, err
	}
	if !v.checkCheckpoint(0, auditHasher.EmptyRoot()) {
		return rep, nil
	}
	err := r.scan(auditPrefix, false, v.checkRecord)
	rep.Records = v.n
	if err != nil || v.failed() {
		return rep, err
	}
	head, err := v.readHead()
	if err != nil {
		return rep, err
	}
	root, err := rangeRoot(v.rng)
	if err != nil {
		return rep, err
	}
	if !v.checkHead(head) {
		return rep, nil
	}
	if !v.checkCheckpointsWithinLog() {
		return rep, nil
	}
	if ok, err := v.checkTreeState(root); err != nil || !ok {
		return rep, err
	}
	rep.OK = true
	rep.Root = hex.EncodeToString(root)
	return rep, nil
}

// auditVerifier is one run of VerifyAuditLog: what the walk has seen so
// far, and the report its checks write their first problem into.
type auditVerifier struct {
	r      *ReadTx
	verify func(msg, sig []byte) bool // nil: no signature checks
	rep    *AuditReport

	cps     map[uint64]storedCheckpoint // by size
	cpSizes []uint64                    // in key order
	goodCP  uint64                      // largest checkpoint that matched so far

	tree       *auditTree // nil for a log that predates the Merkle tree
	leavesFrom uint64     // first record with stored tree nodes

	n    uint64         // records verified
	prev string         // chain hash of record n
	rng  *compact.Range // Merkle range over records 1..n
}

// fail records the problem and its record (or checkpoint size).
func (v *auditVerifier) fail(seq uint64, format string, args ...any) {
	v.rep.FirstProblem = fmt.Sprintf(format, args...)
	v.rep.ProblemSeq = seq
}

func (v *auditVerifier) failed() bool { return v.rep.FirstProblem != "" }

// loadCheckpoints reads every stored checkpoint (there are few), to be
// checked when the walk reaches its size. A checkpoint key that is no
// size is a problem; a checkpoint that cannot be decoded is one only when
// the walk reaches it.
func (v *auditVerifier) loadCheckpoints() error {
	return v.r.scan(auditCPPrefix, false, func(k string, b []byte) (bool, error) {
		size, ok := seqFromKey(k, auditCPPrefix)
		if !ok {
			v.fail(0, "unexpected audit checkpoint key %q", k)
			return false, nil
		}
		sc := storedCheckpoint{cp: new(Checkpoint)}
		if err := decodeRecord(b, sc.cp); err != nil {
			sc.bad = err.Error()
		} else if sc.cp.Size != size {
			sc.bad = fmt.Sprintf("stored at size %d but says size %d", size, sc.cp.Size)
		}
		v.cps[size] = sc
		v.cpSizes = append(v.cpSizes, size)
		v.rep.Checkpoints++
		if sc.bad == "" {
			v.rep.LatestCheckpoint = sc.cp
		}
		return true, nil
	})
}

// loadTree reads the stored Merkle tree state, if any.
func (v *auditVerifier) loadTree() error {
	var tr auditTree
	switch err := v.r.getRecord(auditTreeKey, &tr); {
	case err == nil:
		v.tree = &tr
	case errors.Is(err, ErrNotFound):
	default:
		return err
	}
	v.leavesFrom = uint64(1<<64 - 1) // no tree: check no leaf hashes
	if v.tree != nil {
		v.leavesFrom = v.tree.LeavesFrom
	}
	v.rng = auditRanges.NewEmptyRange(0)
	return nil
}

// checkCheckpoint checks the checkpoint at size, if there is one: it
// decodes, its signature is valid, and its root is the root of the first
// size records.
func (v *auditVerifier) checkCheckpoint(size uint64, root []byte) bool {
	sc, ok := v.cps[size]
	switch {
	case !ok:
		return true
	case sc.bad != "":
		v.fail(size, "checkpoint at size %d is corrupt: %s", size, sc.bad)
	case v.verify != nil && !v.verify(sc.cp.Body(), sc.cp.Signature):
		v.fail(size, "checkpoint at size %d: checkpoint signature invalid", size)
	case !bytes.Equal(sc.cp.Root, root):
		v.fail(size, "checkpoint at size %d does not match the log: a record from %d to %d was changed", size, v.goodCP+1, size)
	default:
		v.goodCP = size
		return true
	}
	return false
}

// checkRecord is one step of the walk over the records, in key order.
func (v *auditVerifier) checkRecord(k string, b []byte) (bool, error) {
	pos, ok := v.checkPosition(k)
	if !ok {
		return false, nil
	}
	a, ok := v.decodeRecord(pos, b)
	if !ok {
		return false, nil
	}
	leaf := auditHasher.HashLeaf(b)
	if ok, err := v.checkLeafHash(pos, leaf); err != nil || !ok {
		return false, err
	}
	if !v.checkChain(pos, a) {
		return false, nil
	}
	if ok, err := v.checkTreeNodes(pos, leaf); err != nil || !ok {
		return false, err
	}
	if _, ok := v.cps[pos]; ok {
		root, err := rangeRoot(v.rng)
		if err != nil {
			return false, err
		}
		if !v.checkCheckpoint(pos, root) {
			return false, nil
		}
	}
	v.n, v.prev = pos, auditHash(b)
	return true, nil
}

// checkPosition checks that key k holds the record after the last one
// verified: no key that is no position, no record missing.
func (v *auditVerifier) checkPosition(k string) (uint64, bool) {
	pos, ok := seqFromKey(k, auditPrefix)
	want := v.n + 1
	switch {
	case !ok:
		v.fail(want, "unexpected audit key %q after record %d", k, v.n)
	case pos > want+1:
		v.fail(want, "records %d to %d missing", want, pos-1)
	case pos == want+1:
		v.fail(want, "record %d missing", want)
	case pos != want:
		v.fail(pos, "unexpected audit record at position %d", pos)
	default:
		return pos, true
	}
	return 0, false
}

// decodeRecord decodes the record at pos and checks it says it is there.
func (v *auditVerifier) decodeRecord(pos uint64, b []byte) (AuditRecord, bool) {
	var a AuditRecord
	if err := decodeRecord(b, &a); err != nil {
		v.fail(pos, "record %d was modified: it is not valid JSON", pos)
		return a, false
	}
	if a.Seq != pos {
		v.fail(pos, "record %d is out of order: position %d holds record %d", pos, pos, a.Seq)
		return a, false
	}
	return a, true
}

// checkLeafHash compares the record's leaf hash with the stored one (for
// records written since the log has a tree).
func (v *auditVerifier) checkLeafHash(pos uint64, leaf []byte) (bool, error) {
	if pos < v.leavesFrom {
		return true, nil
	}
	stored, err := v.r.get(auditNodeKey(compact.NewNodeID(0, pos-1)))
	switch {
	case errors.Is(err, ErrNotFound):
		v.fail(pos, "record %d has no stored leaf hash", pos)
	case err != nil:
		return false, err
	case !bytes.Equal(stored, leaf):
		v.fail(pos, "record %d was modified: it does not match its stored leaf hash", pos)
	default:
		return true, nil
	}
	return false, nil
}

// checkChain checks that the record names the hash of the one before it.
func (v *auditVerifier) checkChain(pos uint64, a AuditRecord) bool {
	if a.PrevHash == v.prev {
		return true
	}
	if pos == 1 {
		v.fail(pos, "record 1 was modified: its prev_hash is not empty")
	} else {
		v.fail(pos-1, "record %d was modified: its hash does not match the prev_hash of record %d", pos-1, pos)
	}
	return false
}

// checkTreeNodes adds the record's leaf to the Merkle range and checks
// that the stored tree nodes it completes (which proofs are served from)
// are the ones the records give.
func (v *auditVerifier) checkTreeNodes(pos uint64, leaf []byte) (bool, error) {
	var nodeErr error
	err := v.rng.Append(leaf, func(id compact.NodeID, h []byte) {
		if id.Level == 0 || pos < v.leavesFrom || nodeErr != nil || v.failed() {
			return
		}
		stored, err := v.r.get(auditNodeKey(id))
		b, e := id.Coverage()
		switch {
		case errors.Is(err, ErrNotFound):
			v.fail(pos, "the audit tree node over records %d to %d is missing", b+1, e)
		case err != nil:
			nodeErr = err
		case !bytes.Equal(stored, h):
			v.fail(pos, "the audit tree node over records %d to %d does not match them", b+1, e)
		}
	})
	if err != nil || nodeErr != nil || v.failed() {
		return false, errors.Join(err, nodeErr)
	}
	return true, nil
}

// readHead reads the audit head; nil if there is none.
func (v *auditVerifier) readHead() (*auditHead, error) {
	var head auditHead
	switch err := v.r.getRecord(auditHeadKey, &head); {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &head, nil
}

// checkHead checks the audit head (nil: none) against the last record: a
// record missing at the end, or one written around the log, shows here.
func (v *auditVerifier) checkHead(stored *auditHead) bool {
	var head auditHead // an empty log may have no head
	if stored != nil {
		head = *stored
	}
	n := v.n
	switch {
	case stored == nil && n > 0:
		v.fail(n, "the audit head is missing")
	case head.Seq > n:
		v.fail(n+1, "record %d missing: the log ends at record %d but its head is at record %d", n+1, n, head.Seq)
	case head.Seq < n:
		v.fail(head.Seq+1, "record %d was not appended through the audit log (the head is at record %d)", head.Seq+1, head.Seq)
	case head.Hash != v.prev:
		v.fail(n, "record %d was modified: it does not match the audit head", n)
	default:
		return true
	}
	return false
}

// checkCheckpointsWithinLog checks that no checkpoint covers more records
// than the log holds: records cut from its end show here.
func (v *auditVerifier) checkCheckpointsWithinLog() bool {
	for _, size := range v.cpSizes {
		if size > v.n {
			v.fail(v.n+1, "record %d missing: the log ends at record %d but a checkpoint covers %d records", v.n+1, v.n, size)
			return false
		}
	}
	return true
}

// checkTreeState checks the stored Merkle tree state against the root of
// the records. A log that predates the tree has no nodes; one that has
// nodes must have its tree state.
func (v *auditVerifier) checkTreeState(root []byte) (bool, error) {
	if v.tree == nil {
		var nodes bool
		if err := v.r.scan(auditNodePrefix, false, func(string, []byte) (bool, error) {
			nodes = true
			return false, nil
		}); err != nil {
			return false, err
		}
		if nodes {
			v.fail(v.n, "the audit tree state is missing")
			return false, nil
		}
		return true, nil
	}
	stored, err := v.tree.root()
	if err != nil || v.tree.Begin != 0 || v.tree.End != v.n || !bytes.Equal(stored, root) {
		v.fail(v.n, "the audit tree state (size %d) does not match the log (%d records)", v.tree.End, v.n)
		return false, nil
	}
	return true, nil
}

// ---------------------------------------------------------------------------
// export

// AuditExportRecord is one record line of ExportAudit.
type AuditExportRecord struct {
	*AuditRecord        // absent if the stored bytes are not valid JSON
	LeafIndex    uint64 `json:"leaf_index"` // position in the log - 1
	Hash         string `json:"hash"`       // hex SHA-256 of Leaf (the chain hash)
	LeafHash     string `json:"leaf_hash"`  // hex RFC 6962 leaf hash of Leaf
	Leaf         []byte `json:"leaf"`       // exact stored record bytes; base64
}

// AuditExportCheckpoint is one checkpoint line of ExportAudit.
type AuditExportCheckpoint struct {
	Checkpoint *Checkpoint `json:"checkpoint"`
}

// ExportAudit writes the audit log as JSON lines for an oversight body: one
// line per record in log order (AuditExportRecord: the record's fields, its
// leaf_index, chain hash, RFC 6962 leaf hash and the exact stored bytes as
// base64 "leaf"), then one line per checkpoint ({"checkpoint": {...}},
// smallest size first). From these lines alone a verifier can rebuild the
// hash chain and the Merkle tree and check every checkpoint's root and
// signature (over Checkpoint.Body). Records are exported as stored, even
// when they do not verify.
func (r *ReadTx) ExportAudit(w io.Writer) error {
	enc := json.NewEncoder(w)
	err := r.scan(auditPrefix, false, func(k string, v []byte) (bool, error) {
		pos, ok := seqFromKey(k, auditPrefix)
		if !ok || pos == 0 {
			return false, fmt.Errorf("unexpected audit key %q", k)
		}
		line := AuditExportRecord{
			LeafIndex: pos - 1,
			Hash:      auditHash(v),
			LeafHash:  hex.EncodeToString(auditHasher.HashLeaf(v)),
			Leaf:      v,
		}
		var a AuditRecord
		if decodeRecord(v, &a) == nil {
			line.AuditRecord = &a
		}
		return true, enc.Encode(line)
	})
	if err != nil {
		return fmt.Errorf("export audit: %w", err)
	}
	cps, err := r.AuditCheckpoints()
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if err := enc.Encode(AuditExportCheckpoint{Checkpoint: cp}); err != nil {
			return fmt.Errorf("export audit: %w", err)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// proofs

// AuditInclusionProof returns the RFC 6962 inclusion proof of record seq
// (leaf index seq-1) in the audit tree of the given size, to check with
// proof.VerifyInclusion against a checkpoint of that size.
func (r *ReadTx) AuditInclusionProof(seq, size uint64) ([][]byte, error) {
	if seq == 0 || seq > size {
		return nil, fmt.Errorf("record %d is not in a log of %d records", seq, size)
	}
	if err := r.checkAuditSize(size); err != nil {
		return nil, err
	}
	nodes, err := proof.Inclusion(seq-1, size)
	if err != nil {
		return nil, err
	}
	return r.auditProof(nodes)
}

// AuditConsistencyProof returns the RFC 6962 consistency proof between the
// audit tree at size1 and at size2, to check with proof.VerifyConsistency
// against checkpoints of those sizes.
func (r *ReadTx) AuditConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("tree size %d > %d", size1, size2)
	}
	if err := r.checkAuditSize(size2); err != nil {
		return nil, err
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return r.auditProof(nodes)
}

func (r *ReadTx) checkAuditSize(size uint64) error {
	cur, _, err := r.AuditRoot()
	if err != nil {
		return err
	}
	if size > cur {
		return fmt.Errorf("audit log has only %d records, not %d", cur, size)
	}
	return nil
}

func (r *ReadTx) auditProof(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := r.auditNode(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return nodes.Rehash(hashes, auditHasher.HashChildren)
}

// auditNode returns the hash of a perfect subtree node: stored, or (for a
// log that predates the tree) computed from the records under it.
func (r *ReadTx) auditNode(id compact.NodeID) ([]byte, error) {
	h, err := r.get(auditNodeKey(id))
	if !errors.Is(err, ErrNotFound) {
		return h, err
	}
	if id.Level == 0 {
		v, err := r.get(auditKey(id.Index + 1))
		if err != nil {
			return nil, fmt.Errorf("audit record %d: %w", id.Index+1, err)
		}
		return auditHasher.HashLeaf(v), nil
	}
	left, err := r.auditNode(compact.NewNodeID(id.Level-1, 2*id.Index))
	if err != nil {
		return nil, err
	}
	right, err := r.auditNode(compact.NewNodeID(id.Level-1, 2*id.Index+1))
	if err != nil {
		return nil, err
	}
	return auditHasher.HashChildren(left, right), nil
}
