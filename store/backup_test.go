package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// dumpAll returns every key and value in the store.
func dumpAll(t testing.TB, s *Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeBackup backs s up into a file and returns its path.
func writeBackup(t *testing.T, s *Store, h BackupHeader) (string, BackupInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.backup")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Backup(context.Background(), f, h)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, info
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	s, _ := openStore(t, t.TempDir(), func(o *Options) { o.EncryptionKey = key })
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("m%03d", i)
		if err := s.Update(ctx, enqueueWithAudit(id, "peer-ee", 2000)); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, func(tx *Tx) error {
			return tx.PutCase(&Case{ID: "case-" + id, Country: "EE", State: "open", CreatedAt: t0, UpdatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Overwritten and deleted keys must come back as they are now.
	if err := s.Update(ctx, func(tx *Tx) error {
		tx.DeleteDraft("alice", "d1")
		return tx.PutCase(&Case{ID: "case-m000", Country: "EE", State: "closed", CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	want := dumpAll(t, s)
	path, info := writeBackup(t, s, BackupHeader{Country: "FR", PeerID: "12D3Koo", StoreEncrypted: true})
	if fi, err := os.Stat(path); err != nil || fi.Size() != info.Bytes {
		t.Fatalf("backup file: %v, size %d, Backup said %d", err, fi.Size(), info.Bytes)
	}
	h, err := CheckBackup(path)
	if err != nil || h.Country != "FR" || h.PeerID != "12D3Koo" || !h.StoreEncrypted || h.TakenAt.IsZero() {
		t.Fatalf("CheckBackup = %+v, %v", h, err)
	}

	// The backup of an encrypted store is encrypted: no record is in it
	// in clear.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, payload("m007", 2000)[:64]) || bytes.Contains(raw, []byte("case-m007")) {
		t.Fatal("the backup of an encrypted store holds records in clear")
	}

	// Restored into a new directory with the store key.
	dir := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(path, Options{Dir: dir, Profile: ProfileSmall, Logger: testLogger(t), EncryptionKey: key})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.Cases != 50 || res.AuditRecords != 50 || res.Queued != 50 || res.Header.Country != "FR" {
		t.Fatalf("Restore = %+v", res)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("restored dir: %v %v", fi.Mode(), err)
	}
	r, _ := openStore(t, dir, func(o *Options) { o.EncryptionKey = key })
	got := dumpAll(t, r)
	if len(got) != len(want) {
		t.Fatalf("restored %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("key %q differs after restore", k)
		}
	}
	mustVerifyAudit(t, r, 50)
	// The restored store takes writes after the restored versions.
	if err := r.Update(ctx, enqueueWithAudit("after", "peer-ee", 100)); err != nil {
		t.Fatal(err)
	}
	mustVerifyAudit(t, r, 51)
	checkOutboxSeqs(t, r, 51)
}

// TestBackupUnderConcurrentWrites takes a backup while writers keep
// committing. Each write stores a message and its audit record in one
// transaction, so a consistent snapshot holds exactly as many of one as of
// the other, and an audit chain whose head matches; everything
// acknowledged before Backup was called must be in it.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	// Several megabytes first, so the store has many tables and the
	// stream has many key ranges to read.
	for i := 0; i < 40; i++ {
		if err := s.Update(ctx, func(tx *Tx) error {
			for j := 0; j < 25; j++ {
				if err := enqueueWithAudit(fmt.Sprintf("pre%02d-%02d", i, j), "peer-ee", 8<<10)(tx); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ { // bounded; stopped once the backup ends
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%04d", w, i)
				if err := s.Update(ctx, enqueueWithAudit(id, "peer-ee", 4<<10)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then back up.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		if err := s.View(func(*ReadTx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	before := make([]string, 0, len(acked))
	for id := range acked {
		before = append(before, id)
	}
	mu.Unlock()
	path, _ := writeBackup(t, s, BackupHeader{})
	close(stop)
	wg.Wait()

	dir := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(path, Options{Dir: dir, Profile: ProfileSmall, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	r, _ := openStore(t, dir)
	msgs, audits := countPrefix(t, r, "msg/"), countPrefix(t, r, auditPrefix)
	if msgs != audits || uint64(audits) != res.AuditRecords {
		t.Fatalf("restored %d messages and %d audit records (Restore said %d): not one snapshot", msgs, audits, res.AuditRecords)
	}
	checkOutboxSeqs(t, r, msgs)
	for _, id := range before {
		if err := r.View(func(tx *ReadTx) error { _, err := tx.Message(id); return err }); err != nil {
			t.Fatalf("message %s, acknowledged before the backup, not restored: %v", id, err)
		}
	}
	mu.Lock()
	t.Logf("%d messages restored; %d acknowledged before the backup, %d in all", msgs, len(before), 1000+len(acked))
	mu.Unlock()
}

func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	for i := 0; i < 20; i++ {
		if err := s.Update(ctx, enqueueWithAudit(fmt.Sprintf("m%d", i), "peer-ee", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := writeBackup(t, s, BackupHeader{Country: "FR"})
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(orig)
	flipped[len(orig)/2] ^= 0x40
	head := bytes.IndexByte(orig[len(backupMagic):], '\n') + len(backupMagic) + 1
	cases := []struct {
		name, path string
		want       error
	}{
		{"not a backup", variant("roster.json", []byte(`{"serial": 1}`)), ErrNotBackup},
		{"empty", variant("empty", nil), ErrNotBackup},
		{"footer cut off", variant("cut-footer", orig[:len(orig)-backupFooterLen]), ErrBackupCorrupt},
		{"cut in the middle", variant("cut-middle", orig[:len(orig)/2]), ErrBackupCorrupt},
		{"header only", variant("header-only", orig[:head]), ErrBackupCorrupt},
		{"one byte flipped", variant("flipped", flipped), ErrBackupCorrupt},
		{"missing", filepath.Join(t.TempDir(), "nope"), os.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			_, err := Restore(c.path, Options{Dir: dir, Profile: ProfileSmall, Logger: testLogger(t)})
			if !errors.Is(err, c.want) {
				t.Fatalf("Restore = %v, want %v", err, c.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused restore left %s behind (%v)", dir, err)
			}
		})
	}

	// A target that is not empty is never touched.
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "MANIFEST"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(good, Options{Dir: full, Profile: ProfileSmall}); !errors.Is(err, ErrRestoreTarget) {
		t.Fatalf("restore into a non-empty dir: %v", err)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Fatalf("restore into a non-empty dir changed it: %d entries", len(ents))
	}
	// An empty existing directory is fine, and a store cannot be
	// restored into twice.
	empty := t.TempDir()
	if _, err := Restore(good, Options{Dir: empty, Profile: ProfileSmall}); err != nil {
		t.Fatalf("restore into an empty dir: %v", err)
	}
	if _, err := Restore(good, Options{Dir: empty, Profile: ProfileSmall}); !errors.Is(err, ErrRestoreTarget) {
		t.Fatalf("second restore into the same dir: %v", err)
	}
}

func TestBackupStops(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	if err := s.Update(context.Background(), enqueueWithAudit("m1", "peer-ee", 100)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if _, err := s.Backup(ctx, &buf, BackupHeader{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup with a cancelled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(context.Background(), &buf, BackupHeader{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup of a closed store: %v", err)
	}
}

// TestEncryptedBackupRefuses: an encrypted backup is restored only with
// its key, and a backup cut at a chunk boundary is refused even when its
// footer is made to match.
func TestEncryptedBackupRefuses(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, _ := openStore(t, t.TempDir(), func(o *Options) { o.EncryptionKey = key })
	for i := 0; i < 40; i++ { // several chunks
		if err := s.Update(context.Background(), enqueueWithAudit(fmt.Sprintf("m%d", i), "peer-ee", 4000)); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := writeBackup(t, s, BackupHeader{})
	restore := func(p string, k []byte) error {
		_, err := Restore(p, Options{Dir: filepath.Join(t.TempDir(), "r"), Profile: ProfileSmall, Logger: testLogger(t), EncryptionKey: k})
		return err
	}
	if err := restore(path, nil); !errors.Is(err, ErrBackupKey) {
		t.Fatalf("restore without the key: %v", err)
	}
	if err := restore(path, bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrBackupKey) {
		t.Fatalf("restore with another key: %v", err)
	}

	// Drop the last chunk and write a footer that matches what is left.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := bytes.IndexByte(b[len(backupMagic):], '\n') + len(backupMagic) + 1
	body := b[head : len(b)-backupFooterLen]
	cut := 0
	for off := 0; off < len(body); {
		size := int(binary.BigEndian.Uint32(body[off:]))
		if off+4+size == len(body) {
			cut = off
		}
		off += 4 + size
	}
	if cut == 0 {
		t.Fatal("the backup has only one chunk")
	}
	forged := append(bytes.Clone(b[:head]), body[:cut]...)
	sum := sha256.New()
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(cut))
	sum.Write(forged)
	sum.Write(l[:])
	forged = append(append(append(forged, l[:]...), sum.Sum(nil)...), backupEndMagic...)
	fp := filepath.Join(t.TempDir(), "forged")
	if err := os.WriteFile(fp, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBackup(fp); err != nil {
		t.Fatalf("the forged footer does not match: %v", err)
	}
	if err := restore(fp, key); !errors.Is(err, ErrBackupCorrupt) {
		t.Fatalf("restore of a backup without its last chunk: %v", err)
	}
	if err := restore(path, key); err != nil {
		t.Fatalf("restore with the key: %v", err)
	}
}
