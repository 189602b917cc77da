package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// crashImage copies a store directory as a crash would leave it: every
// file as the page cache holds it (a kill -9 loses nothing written with
// write(2) or to a shared mapping). dropMem also drops Badger's memtable
// WALs, which the journal mode never syncs: what a power cut may do.
func crashImage(t *testing.T, src string, dropMem bool) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if d.Name() == "LOCK" || dropMem && strings.HasSuffix(d.Name(), ".mem") {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func putMsgs(t *testing.T, s *Store, from, to, size int) {
	t.Helper()
	for i := from; i < to; i++ {
		m := newMsg(fmt.Sprint("m", i), "peer", size)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(m) }); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
}

func wantMsgs(t *testing.T, s *Store, from, to, size int) {
	t.Helper()
	err := s.View(func(tx *ReadTx) error {
		for i := from; i < to; i++ {
			id := fmt.Sprint("m", i)
			m, err := tx.Message(id)
			if err != nil {
				return fmt.Errorf("message %s: %w", id, err)
			}
			if !bytes.Equal(m.Envelope, payload(id, size)) {
				return fmt.Errorf("message %s came back different", id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every acknowledged commit survives the loss of Badger's unsynced WAL:
// the journal replays it on Open.
func TestJournalRestoresWhatBadgerLost(t *testing.T) {
	for _, p := range []Profile{ProfileSmall, ProfileDefault} {
		t.Run(string(p), func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openStore(t, dir, func(o *Options) { o.Profile = p })
			putMsgs(t, s, 0, 50, 3000)
			img := crashImage(t, dir, true)
			// Without the journal the image has lost the writes: Badger
			// alone (its memtable WALs gone) does not hold them.
			db, err := badger.Open(badgerOptions(img, p, nil, testLogger(t)).WithReadOnly(false))
			if err != nil {
				t.Fatal(err)
			}
			err = db.View(func(txn *badger.Txn) error {
				_, err := txn.Get([]byte(msgKey("m0")))
				return err
			})
			db.Close()
			if !errors.Is(err, badger.ErrKeyNotFound) {
				t.Fatalf("Badger without its WAL still has the message (%v): the test shows nothing", err)
			}
			r, _ := openStore(t, img, func(o *Options) { o.Profile = p })
			wantMsgs(t, r, 0, 50, 3000)
			// And the replayed store goes on working.
			putMsgs(t, r, 50, 60, 3000)
			wantMsgs(t, r, 0, 60, 3000)
		})
	}
}

// A crash after the journal record is durable and before Badger applied
// it: the write was acknowledged to nobody (the committer had not
// answered), but it is durable, and Open applies it.
func TestCrashBetweenJournalAndBadger(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	putMsgs(t, s, 0, 5, 1000)
	s.crashAfterJournal = true // read by the committer, which is idle now
	err := s.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m5", "peer", 1000)) })
	if !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("update: %v, want the simulated crash", err)
	}
	// Nothing builds on the lost write: the store refuses writes now.
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m6", "peer", 1000)) }); err == nil {
		t.Fatal("a store whose journal is ahead of Badger accepted a write")
	}
	img := crashImage(t, dir, false)
	if err := s.View(func(tx *ReadTx) error { _, err := tx.Message("m5"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Badger has the write it never applied: %v", err)
	}
	r, _ := openStore(t, img)
	wantMsgs(t, r, 0, 6, 1000)
}

// Sealed segments are released once Badger made their writes durable,
// so the journal stays bounded; a reopen after that replays only what is
// left, and nothing is lost.
func TestCheckpointReleasesSegments(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir) // small profile: 4 MiB segments and memtables
	putMsgs(t, s, 0, 3000, 4000)
	if s.Stats().Syncs < 3000 {
		t.Fatalf("%d syncs for 3000 serial commits", s.Stats().Syncs)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.journal.Sealed() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sealed journal segments not released after 30 s", s.journal.Sealed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "journal", "*.wal"))
	if len(segs) > 2 {
		t.Errorf("journal holds %d files after its checkpoint: %v", len(segs), segs)
	}
	// Replaying what is left over a Badger that already holds it changes
	// nothing. (Dropping the .mem files here would also drop the active
	// memtable's WAL, which the checkpoint synced: not what a crash does.)
	img := crashImage(t, dir, false)
	r, _ := openStore(t, img)
	wantMsgs(t, r, 0, 3000, 4000)
}

// A clean close leaves the journal empty: Badger flushed everything, so
// the next Open has nothing to replay.
func TestCleanCloseResetsJournal(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	putMsgs(t, s, 0, 20, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "journal", "0*.wal"))
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4096 { // a header and no records
			t.Errorf("journal segment %s holds %d bytes after a clean close", p, fi.Size())
		}
	}
	r, _ := openStore(t, dir)
	wantMsgs(t, r, 0, 20, 1000)
}

// badgerDurable relies on Badger deleting a memtable's .mem file only
// once the memtable is in a synced level-0 table. Pin it: after a
// rotation, once the older .mem is gone, its writes are there without it.
func TestBadgerDeletesMemFileOnlyAfterFlush(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir) // 4 MiB memtables
	i := 0
	for {
		putMsgs(t, s, i, i+100, 4000)
		i += 100
		if older, _ := olderMemtables(dir); len(older) > 0 || i > 5000 {
			break
		}
	}
	if older, _ := olderMemtables(dir); len(older) == 0 {
		t.Skip("no memtable rotation seen (Badger flushed faster than we looked)")
	}
	if err := s.badgerDurable(); err != nil {
		t.Fatal(err)
	}
	if older, _ := olderMemtables(dir); len(older) != 0 {
		t.Fatalf("badgerDurable returned with older memtables left: %v", older)
	}
	// Without the journal, Badger alone (its synced active WAL and its
	// tables) has every write made before badgerDurable.
	img := crashImage(t, dir, false)
	if err := os.RemoveAll(filepath.Join(img, "journal")); err != nil {
		t.Fatal(err)
	}
	r, _ := openStore(t, img, func(o *Options) { o.Durability = DurabilityBadger })
	wantMsgs(t, r, 0, i, 4000)
}

// Both mechanics count their syncs: one fdatasync per commit with the
// journal, Badger's two msyncs without it.
func TestSyncsPerCommit(t *testing.T) {
	for d, want := range map[Durability]uint64{DurabilityJournal: 1, DurabilityBadger: 2} {
		s, _ := openStore(t, t.TempDir(), func(o *Options) { o.Durability = d })
		before := s.Stats()
		putMsgs(t, s, 0, 10, 100)
		after := s.Stats()
		if got := (after.Syncs - before.Syncs) / (after.Commits - before.Commits); got != want {
			t.Errorf("%s: %d syncs per commit, want %d", d, got, want)
		}
		// The time counters run with the commits: the sync is part of
		// the commit, and only the journal's is timed apart.
		commit, sync := after.CommitTime-before.CommitTime, after.SyncTime-before.SyncTime
		if commit <= 0 || sync > commit || (d == DurabilityJournal) != (sync > 0) {
			t.Errorf("%s: commit time %v, sync time %v", d, commit, sync)
		}
	}
}

// UpdateWritten hands a write on before its sync, exactly once, and never
// for a write that failed; a reader the hand-off wakes sees the write,
// because it waits at the gate until the write is durable.
func TestUpdateWrittenHandsOffBeforeDurable(t *testing.T) {
	for _, d := range []Durability{DurabilityJournal, DurabilityBadger} {
		t.Run(string(d), func(t *testing.T) {
			s, _ := openStore(t, t.TempDir(), func(o *Options) { o.Durability = d })
			seen := make(chan error, 1)
			calls := 0
			err := s.UpdateWritten(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m1", "peer", 500)) }, func() {
				calls++
				// What a woken outbox worker does: read from another goroutine.
				go func() {
					seen <- s.View(func(tx *ReadTx) error { _, err := tx.Message("m1"); return err })
				}()
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("hand-off ran %d times, want once", calls)
			}
			if err := <-seen; err != nil {
				t.Fatalf("a reader woken by the hand-off did not see the write: %v", err)
			}
			failed := errors.New("refused")
			err = s.UpdateWritten(context.Background(), func(tx *Tx) error { return failed }, func() { calls++ })
			if !errors.Is(err, failed) || calls != 1 {
				t.Fatalf("failed update: err %v, hand-offs %d; want the error and no hand-off", err, calls)
			}
		})
	}
}

// SimulatePowerCut loses a commit that was handed on: the hand-off ran,
// the update fails, the store takes no more writes, and once reopened it
// has everything committed before and nothing of the lost commit.
func TestSimulatePowerCutLosesTheHandedOnCommit(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	putMsgs(t, s, 0, 3, 1000)
	s.SimulatePowerCut()
	handed := false
	err := s.UpdateWritten(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m3", "peer", 1000)) },
		func() { handed = true })
	if !errors.Is(err, errSimulatedPowerCut) || !handed {
		t.Fatalf("update: %v, handed on %v; want the power cut after the hand-off", err, handed)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m4", "peer", 1000)) }); err == nil {
		t.Fatal("the store took a write after the power cut")
	}
	if err := s.Close(); err != nil && !errors.Is(err, errSimulatedPowerCut) {
		t.Fatalf("close: %v", err)
	}
	r, _ := openStore(t, dir)
	wantMsgs(t, r, 0, 3, 1000)
	if err := r.View(func(tx *ReadTx) error { _, err := tx.Message("m3"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the lost commit is in the reopened store: %v", err)
	}
	putMsgs(t, r, 3, 5, 1000) // the IDs are free again, and writes work
	wantMsgs(t, r, 0, 5, 1000)
}

// ViewApplied does not wait for a commit in its sync window (View does):
// read from inside the window, where View would wait for ever.
func TestViewAppliedDoesNotWaitAtTheGate(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	putMsgs(t, s, 0, 1, 100)
	read := make(chan error, 1)
	err := s.UpdateWritten(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg("m1", "peer", 100)) }, func() {
		// On the committer, inside the window.
		done := make(chan error, 1)
		go func() {
			done <- s.ViewApplied(func(tx *ReadTx) error {
				_, err := tx.Message("m0")
				return err
			})
		}()
		select {
		case err := <-done:
			read <- err
		case <-time.After(10 * time.Second):
			read <- errors.New("ViewApplied waited for the sync window to close")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
}

// A write refused for want of disk space is never handed on: nothing of
// it was written, so a peer must not see it either.
func TestUpdateWrittenDiskFullHandsNothingOn(t *testing.T) {
	s, _ := openStore(t, t.TempDir(), func(o *Options) { o.MinFreeBytes = 1 << 20 })
	s.freeBytes = (&fakeFree{free: []uint64{1 << 20, 1 << 30}}).probe // full, then room again
	handed := 0
	enqueue := func(id string) error {
		return s.UpdateWritten(context.Background(), func(tx *Tx) error { return tx.Enqueue(newMsg(id, "peer", 100)) },
			func() { handed++ })
	}
	if err := enqueue("m1"); !errors.Is(err, ErrDiskFull) || handed != 0 {
		t.Fatalf("disk full: err %v, hand-offs %d; want ErrDiskFull and none", err, handed)
	}
	if err := enqueue("m2"); err != nil || handed != 1 {
		t.Fatalf("with room again: err %v, hand-offs %d; want one", err, handed)
	}
	if err := s.View(func(tx *ReadTx) error { _, err := tx.Message("m1"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused write is stored: %v", err)
	}
}
