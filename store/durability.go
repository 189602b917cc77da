package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store/journal"
)

// With DurabilityJournal a group commit is one journal record (the writes
// of every request in the batch, in order), made durable with a single
// fdatasync before Badger applies the same writes unsynced. Badger's own
// synced commit costs two msyncs (memtable WAL and value log, even when the
// value log was not written); the journal's costs one fdatasync on a
// preallocated file. BENCHMARKS.md has the numbers.
//
// Order matters for crash safety:
//  1. the record is appended and synced; on error nothing is applied;
//  2. Badger applies it (visible to readers only from here on, so nothing
//     a reader sees, sends or acknowledges is less durable than the
//     journal);
//  3. the waiters are answered.
//
// A crash between 1 and 2 leaves a record Badger lacks: Open replays the
// journal into Badger before anything reads. A crash before 1 finished
// leaves a torn record the journal cuts off; nobody was answered.

// journalSegment is the size of one journal file per profile: many small
// nodes on one machine keep small, growing files; a national node keeps
// preallocated ones.
func journalOptions(dir string, profile Profile, key []byte) journal.Options {
	o := journal.Options{Dir: filepath.Join(dir, "journal"), Key: key}
	if profile == ProfileSmall {
		o.SegmentSize = 4 << 20
	} else {
		o.SegmentSize, o.Preallocate = 32<<20, true
	}
	return o
}

// Badger's batch limit is 15% of the memtable (1.2 MiB by default), so a
// record always fits a segment (journal.ErrTooLarge would say otherwise).

const (
	opSet    = 1
	opDelete = 2
)

// encodeWrites is the journal record of one Badger transaction: the
// buffered writes of each request, in commit order.
func encodeWrites(buf []byte, txs []*Tx) []byte {
	n := 0
	for _, t := range txs {
		n += len(t.order)
	}
	buf = binary.AppendUvarint(buf[:0], uint64(n))
	for _, t := range txs {
		for _, k := range t.order {
			v := t.pending[k]
			if v == nil {
				buf = append(buf, opDelete)
				buf = binary.AppendUvarint(buf, uint64(len(k)))
				buf = append(buf, k...)
				continue
			}
			buf = append(buf, opSet)
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
		}
	}
	return buf
}

var errBadRecord = errors.New("malformed journal record")

// errSimulatedCrash is what a test's crashAfterJournal makes a commit
// return: journaled, never applied to Badger.
var errSimulatedCrash = errors.New("simulated crash after the journal write")

// errSimulatedPowerCut is what a commit lost to SimulatePowerCut returns.
var errSimulatedPowerCut = errors.New("store needs a restart: simulated power cut before the journal sync")

// SimulatePowerCut makes the store lose its next commit as a power cut in
// the commit's sync window would: the writes are handed on
// (UpdateWritten) but never reach the disk, the commit fails, and the
// store refuses writes until it is closed and opened again, which finds
// none of them. It is for crash tests (issue 13) and has no effect with
// DurabilityBadger.
func (s *Store) SimulatePowerCut() { s.powerCut.Store(true) }

// handOff calls the written hooks of a commit's requests (UpdateWritten).
func handOff(waiting []staged) {
	for _, w := range waiting {
		if w.r.written != nil {
			w.r.written()
		}
	}
}

// applyRecord replays one journal record into Badger (unsynced: the
// record stays in the journal until a checkpoint).
func applyRecord(db *badger.DB, rec []byte) error {
	n, k := binary.Uvarint(rec)
	if k <= 0 {
		return errBadRecord
	}
	rec = rec[k:]
	txn := db.NewTransaction(true)
	defer txn.Discard()
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(rec)
		if k <= 0 || uint64(len(rec)-k) < l {
			return nil, false
		}
		b := rec[k : k+int(l)]
		rec = rec[k+int(l):]
		return b, true
	}
	for i := uint64(0); i < n; i++ {
		if len(rec) == 0 {
			return errBadRecord
		}
		op := rec[0]
		rec = rec[1:]
		key, ok := field()
		if !ok {
			return errBadRecord
		}
		var err error
		switch op {
		case opSet:
			val, ok := field()
			if !ok {
				return errBadRecord
			}
			err = txn.Set(key, val)
		case opDelete:
			err = txn.Delete(key)
		default:
			return errBadRecord
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	if len(rec) != 0 {
		return errBadRecord
	}
	return txn.Commit()
}

// checkpointer releases sealed journal segments once their writes are
// durable in Badger. It runs until the store closes.
func (s *Store) checkpointer() {
	defer s.wg.Done()
	retry := time.NewTicker(5 * time.Second) // after a failed checkpoint
	defer retry.Stop()
	for {
		select {
		case <-s.ckpt:
		case <-retry.C:
		case <-s.quit:
			return
		}
		for {
			n := s.journal.Sealed()
			if n == 0 {
				break
			}
			if err := s.badgerDurable(); err != nil {
				if !errors.Is(err, ErrClosed) {
					s.log.Error("journal checkpoint", zap.Error(err))
				}
				break
			}
			if err := s.journal.Release(n); err != nil {
				s.log.Error("journal checkpoint: release segments", zap.Error(err))
				break
			}
		}
	}
}

// badgerDurable returns once everything Badger has applied so far is on
// disk in Badger's own files. db.Sync syncs only the active memtable's
// WAL; writes in memtables that rotated out earlier are durable once
// those are flushed to level-0 tables (synced, in the manifest), and
// Badger deletes a memtable's .mem file only then. So: sync, then wait
// until every .mem file older than the newest is gone.
// TestBadgerDeletesMemFileOnlyAfterFlush pins that behaviour of Badger.
func (s *Store) badgerDurable() error {
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync badger: %w", err)
	}
	s.stats.syncs.Add(2) // memtable WAL and value log (db.go Sync)
	older, err := olderMemtables(s.dir)
	if err != nil {
		return err
	}
	for len(older) > 0 {
		select {
		case <-s.quit:
			return ErrClosed
		case <-time.After(10 * time.Millisecond):
		}
		left := older[:0]
		for _, p := range older {
			if _, err := os.Stat(p); err == nil {
				left = append(left, p)
			}
		}
		older = left
	}
	return nil
}

// olderMemtables lists Badger's memtable files other than the newest.
func olderMemtables(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list memtables: %w", err)
	}
	type mem struct {
		fid  int
		path string
	}
	var mems []mem
	top := -1
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".mem")
		if !ok {
			continue
		}
		fid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		mems = append(mems, mem{fid, filepath.Join(dir, e.Name())})
		top = max(top, fid)
	}
	var out []string
	for _, m := range mems {
		if m.fid < top {
			out = append(out, m.path)
		}
	}
	return out, nil
}

// staged is one request's writes, waiting in the batch's transaction.
type staged struct {
	r  *writeReq
	tx *Tx
}

// openJournal opens the journal (DurabilityJournal) and replays it into
// Badger before anything reads the store.
func (s *Store) openJournal(opts Options) error {
	if opts.Durability != DurabilityJournal {
		return nil
	}
	replayed := 0
	j, err := journal.Open(journalOptions(opts.Dir, opts.Profile, opts.EncryptionKey), func(rec []byte) error {
		replayed++
		return applyRecord(s.db, rec)
	})
	if err != nil {
		return fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	if replayed > 0 {
		s.log.Info("store journal replayed", zap.Int("records", replayed))
	}
	s.journal, s.ckpt = j, make(chan struct{}, 1)
	return nil
}

func (s *Store) closeJournal() {
	if s.journal != nil {
		s.journal.Close()
	}
}

// commitDurably commits txn, holding the waiting requests' writes, and
// returns once it is durable: Badger's synced commit, or the journal
// record then Badger's unsynced commit.
func (s *Store) commitDurably(txn *badger.Txn, waiting []staged) error {
	start := time.Now()
	defer func() { s.stats.commitNanos.Add(int64(time.Since(start))) }()
	if s.journal == nil {
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		// Badger v4.9.6 with SyncWrites msyncs the value log and the
		// memtable WAL on every commit (value.go write, db.go writeToLSM).
		s.stats.syncs.Add(2)
		handOff(waiting)
		return nil
	}
	if s.powerCut.Swap(false) {
		// The record reached the page cache, was handed on, and the power
		// went before the sync: nothing of it is on disk, so nothing is
		// written or applied, and the store, like the machine, is gone
		// until it is opened again.
		handOff(waiting)
		s.broken = errSimulatedPowerCut
		return s.broken
	}
	txs := make([]*Tx, len(waiting))
	for i, w := range waiting {
		txs[i] = w.tx
	}
	s.jbuf = encodeWrites(s.jbuf, txs)
	err := s.journal.Write(s.jbuf)
	if cap(s.jbuf) > 1<<20 {
		s.jbuf = nil // one huge batch should not pin its buffer
	}
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		return fmt.Errorf("commit: %w", err)
	}
	if s.crashAfterJournal {
		if err := s.journal.Sync(); err != nil {
			return err
		}
		s.broken = errSimulatedCrash
		return s.broken
	}
	// The record is in the page cache (a crash of the process keeps it).
	// Badger applies the writes while the disk syncs the record; readers
	// are held at the gate until both are done, so nothing unsynced is
	// ever read, sent or acknowledged.
	s.gate.close()
	// Hand-offs run inside the window, so a reader they wake (the outbox
	// reloading from the store) waits at the gate for the sync instead of
	// reading a snapshot without the writes.
	handOff(waiting)
	applied := make(chan error, 1)
	go func() { applied <- txn.Commit() }()
	before, syncStart := s.journal.Syncs(), time.Now()
	syncErr := s.journal.Sync()
	s.stats.syncNanos.Add(int64(time.Since(syncStart)))
	s.stats.syncs.Add(s.journal.Syncs() - before)
	commitErr := <-applied
	switch {
	case syncErr != nil:
		// Badger has writes the disk may not: refuse writes from here on;
		// a restart replays what the journal really holds.
		s.broken = fmt.Errorf("store needs a restart: the journal sync failed: %w", syncErr)
		s.log.Error("store journal sync failed; restart the node", zap.Error(syncErr))
	case commitErr != nil:
		// Durable in the journal but not in Badger: readers would not see
		// it until a restart replays it. Refuse writes from here on, so
		// nothing builds on a state that is not the durable one.
		s.broken = fmt.Errorf("store needs a restart: a journaled commit could not be applied: %w", commitErr)
		s.log.Error("store commit journaled but not applied; restart the node to replay it", zap.Error(commitErr))
	}
	s.gate.open()
	if s.broken != nil {
		return s.broken
	}
	if s.journal.Sealed() > 0 {
		select {
		case s.ckpt <- struct{}{}:
		default:
		}
	}
	return nil
}

// readGate holds readers back while a commit is applied to Badger but its
// journal record is not yet synced, so that no reader sees (and the
// outbox never sends) a write a power cut could still take back. Only
// the start of a read waits; a read that started before keeps its
// snapshot, which does not hold the commit.
type readGate struct {
	mu     sync.Mutex
	closed chan struct{} // non-nil while a commit is in the window
}

// close opens the window; the committer only.
func (g *readGate) close() {
	g.mu.Lock()
	g.closed = make(chan struct{})
	g.mu.Unlock()
}

// open ends the window and releases the readers waiting on it.
func (g *readGate) open() {
	g.mu.Lock()
	close(g.closed)
	g.closed = nil
	g.mu.Unlock()
}

// begin starts a read-only Badger transaction outside any window.
func (g *readGate) begin(db *badger.DB) *badger.Txn {
	for {
		g.mu.Lock()
		ch := g.closed
		if ch == nil {
			// Under the lock: the committer cannot open a window between
			// this check and the snapshot.
			txn := db.NewTransaction(false)
			g.mu.Unlock()
			return txn
		}
		g.mu.Unlock()
		<-ch
	}
}
