package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store/journal"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("store is closed")

// ErrDiskFull is returned by Update when the store's filesystem has less
// free space than Options.MinFreeBytes (plus the write itself).
var ErrDiskFull = errors.New("not enough free disk space")

// Options configures Open.
type Options struct {
	Dir     string
	Profile Profile
	// Durability chooses how commits become durable; "" is DurabilityJournal.
	Durability    Durability
	EncryptionKey []byte // optional AES key for encryption at rest
	Logger        *zap.Logger
	// MaxBatch caps how many queued writes share one commit.
	MaxBatch int
	// MinFreeBytes is the free space the store's filesystem must keep;
	// Update fails with ErrDiskFull below it. 0 means the profile's
	// default (8 memtables: room for flushes and compactions); negative
	// disables the check.
	MinFreeBytes int64
	// PeerReserveBytes is free space kept, on top of MinFreeBytes, for
	// local work: writes made through UpdatePeer (on behalf of a remote
	// member) fail with ErrLocalReserve below MinFreeBytes+PeerReserveBytes,
	// so a peer filling the disk never locks the node's own operators out
	// (issue 9, "local work has its own reserve"). 0 disables the reserve.
	PeerReserveBytes int64
	// OpenCase, if set, says which cases count as open for a peer's quota;
	// the store then keeps a per-country count of them (admission.go).
	OpenCase func(*Case) bool
}

// Store is a node's Badger database plus its group committer.
type Store struct {
	db     *badger.DB
	log    *zap.Logger
	writes chan *writeReq
	quit   chan struct{}
	wg     sync.WaitGroup
	max    int

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against racing Update senders
	closed    bool

	// commitMu is held by whoever runs a commit: the committer goroutine,
	// or an Update that found no commit running and commits on its own
	// goroutine (update). It guards the fields marked "committer only".
	commitMu sync.Mutex
	// held is 1 while the committer has taken a request off writes and
	// waits for commitMu (tests count it as queued: waitQueued).
	held atomic.Int32
	// leading is set while a caller commits for itself (lead); committer
	// only.
	leading bool
	// viaCommitter (tests, benchmarks) sends every Update to the
	// committer, as before stop 21, for A/B measurements in one run.
	viaCommitter atomic.Bool

	dir       string
	minFree   int64
	freeBytes func() (uint64, error) // nil where unsupported; replaced in tests
	peerRes   int64                  // Options.PeerReserveBytes
	openCase  func(*Case) bool       // Options.OpenCase

	onCommit func(n int) // test and metrics hook: writes per commit
	stats    counters

	lazy *lazyCompaction // small profile only (compact.go)

	// journal makes commits durable with DurabilityJournal (durability.go);
	// nil with DurabilityBadger.
	journal *journal.Journal
	ckpt    chan struct{} // wakes the checkpointer
	gate    readGate      // keeps readers out of the sync window
	jbuf    []byte        // the record being built; committer only
	audit   auditCache    // the audit head and tree; committer only
	// broken is set when a journaled commit could not be applied to
	// Badger: the journal holds writes Badger lacks, so the store refuses
	// writes until a restart replays them. Committer only.
	broken error
	// crashAfterJournal (tests) stops a commit between the journal and
	// Badger, as a crash would.
	crashAfterJournal bool
	// powerCut (SimulatePowerCut) loses the next commit as a power cut
	// in its sync window would. Committer only, once armed.
	powerCut atomic.Bool
}

type writeReq struct {
	fn   func(*Tx) error
	done chan error
	peer bool // on behalf of a remote member: kept out of the local reserve
	// written, if set, runs once fn's writes are in the journal record,
	// before the record is synced (UpdateWritten).
	written func()
}

// Open opens (or creates) the store in opts.Dir and starts its committer.
func Open(opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	switch opts.Durability {
	case "":
		opts.Durability = DurabilityJournal
	case DurabilityJournal, DurabilityBadger:
	default:
		return nil, fmt.Errorf("open store %s: unknown durability %q", opts.Dir, opts.Durability)
	}
	bopts := badgerOptions(opts.Dir, opts.Profile, opts.EncryptionKey, opts.Logger.Named("badger"))
	if opts.Durability == DurabilityJournal {
		bopts = bopts.WithSyncWrites(false) // the journal syncs instead
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 8 * bopts.MemTableSize
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, log: opts.Logger, writes: make(chan *writeReq, opts.MaxBatch),
		quit: make(chan struct{}), max: opts.MaxBatch,
		dir: opts.Dir, minFree: opts.MinFreeBytes, freeBytes: freeSpace(opts.Dir),
		peerRes: opts.PeerReserveBytes, openCase: opts.OpenCase}
	if err := s.openJournal(opts); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.buildOpenIndex(); err != nil {
		s.closeJournal()
		db.Close()
		return nil, err
	}
	if n := s.level0Tables(); n >= l0Hold {
		// After crashes, replayed memtables land in level 0; the
		// compactor (or Badger's own) takes them down now.
		opts.Logger.Info("store opened with a full level 0; compacting", zap.Int("level0_tables", n))
	}
	if bopts.NumCompactors == 0 { // small profile (compact.go)
		s.lazy = newLazyCompaction(bopts.NumLevelZeroTables)
		s.wg.Add(1)
		go s.lazyCompactor()
	}
	if s.journal != nil {
		s.wg.Add(1)
		go s.checkpointer()
	}
	s.wg.Add(1)
	go s.committer()
	return s, nil
}

// Close stops the committer after it finishes queued writes, then closes
// Badger.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		s.wg.Wait()
		err = s.db.Close()
		if s.journal != nil {
			if err == nil && s.broken == nil {
				// Badger flushed every memtable to synced tables on a
				// clean close: the journal has nothing left to replay.
				err = s.journal.Reset()
			}
			err = errors.Join(err, s.journal.Close())
		}
	})
	return err
}

// Update runs fn inside the next group commit and returns once the commit
// is synced to disk. fn's writes are applied only if it returns nil; it may
// run on another goroutine and must not block.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	return s.update(ctx, &writeReq{fn: fn, done: make(chan error, 1)})
}

// UpdateWritten is Update, and calls written as soon as fn's writes are
// in the journal record and before that record is synced: a crash of the
// process keeps them from there on (the record is in the page cache and
// is replayed on Open), a power cut may not. Update still returns only
// once the writes are durable. written runs inside the commit and must not
// block; it is not called if fn fails or the record cannot be written.
// With DurabilityBadger there is no such earlier point: written runs once
// the commit is synced.
//
// It exists for one caller (node/cases, issue 13): handing a new outgoing
// message to its delivery worker while the sender's own commit syncs,
// which only a resubmission that seals to the same bytes makes safe
// against a power cut.
func (s *Store) UpdateWritten(ctx context.Context, fn func(*Tx) error, written func()) error {
	return s.update(ctx, &writeReq{fn: fn, done: make(chan error, 1), written: written})
}

func (s *Store) update(ctx context.Context, req *writeReq) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if !s.viaCommitter.Load() && s.held.Load() == 0 && len(s.writes) == 0 && s.commitMu.TryLock() {
		// No commit is running and none is waiting: commit here instead
		// of waking the committer and being woken by it. On this 2-vCPU
		// VM each of those two hand-offs costs a goroutine wake-up
		// (BENCHMARKS.md, stop 21). Writes already waiting go first, with
		// the committer (but for the moment in which it takes one off the
		// queue, when none has returned yet). Close waits for this
		// commit (wg).
		s.wg.Add(1)
		s.mu.RUnlock()
		s.lead(req)
		return <-req.done
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the write will be committed or fail; wait for the answer
	// even if ctx ends, so the caller never reports failure for a write
	// that became durable.
	return <-req.done
}

// View runs fn in a read-only snapshot. It never sees a commit that is
// not yet durable (durability.go, readGate).
func (s *Store) View(fn func(*ReadTx) error) error {
	if s.db.IsClosed() {
		return ErrClosed
	}
	txn := s.gate.begin(s.db)
	defer txn.Discard()
	return fn(&ReadTx{txn: txn})
}

// ViewApplied runs fn in a read-only snapshot of everything applied,
// durable or not: unlike View it does not wait for a commit in its sync
// window, and may see that commit's writes. Use it only where an absence
// is what counts, because what is absent here is absent on disk too;
// read anything found again with View before acting on it. (Submit's
// idempotency pre-check: under load, waiting at the gate lined every
// submitter up behind each commit and tripled the sender's syncs per
// request, BENCHMARKS.md.)
func (s *Store) ViewApplied(fn func(*ReadTx) error) error {
	if s.db.IsClosed() {
		return ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return fn(&ReadTx{txn: txn})
}

// lead commits first, with the requests queued behind it, on the calling
// goroutine, which holds commitMu and a count in wg.
func (s *Store) lead(first *writeReq) {
	defer s.wg.Done()
	defer s.commitMu.Unlock()
	finished := false
	defer crashUnlessFinished(&finished)
	batch := s.fill([]*writeReq{first})
	s.holdForCompaction() // bounds level 0 (small profile, compact.go)
	s.leading = true
	s.commit(batch)
	s.leading = false
	finished = true
}

// crashUnlessFinished ends the process on a panic in a commit. The panic leaves
// the batch half staged: the other requests in it are never answered and
// the audit cache may be ahead of Badger. On the committer goroutine a
// panic ends the process anyway; a caller committing for itself may be
// one whose panics are recovered (net/http's handlers), and the node
// would go on with writers hung and its audit head unknown.
// A runtime.Goexit (t.FailNow in a store function) leaves the same
// state without a panic, so what counts is that the commit finished.
func crashUnlessFinished(finished *bool) {
	if *finished {
		return
	}
	p := recover()
	if p == nil {
		p = "the committing goroutine exited (runtime.Goexit)"
	}
	stack := debug.Stack()
	go func() { panic(fmt.Sprintf("store commit: %v\n%s", p, stack)) }()
	select {}
}

// fill appends queued requests to batch, up to MaxBatch, without waiting.
func (s *Store) fill(batch []*writeReq) []*writeReq {
	for len(batch) < s.max {
		select {
		case r := <-s.writes:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// committer commits what callers queue while another commit runs.
func (s *Store) committer() {
	defer s.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.quit:
			// Drain anything that slipped in before closed was set.
			s.commitMu.Lock()
			defer s.commitMu.Unlock()
			for {
				select {
				case r := <-s.writes:
					s.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		s.held.Store(1)
		s.commitMu.Lock()
		s.held.Store(0)
		batch := s.fill([]*writeReq{first})
		s.holdForCompaction() // bounds level 0 (small profile, compact.go)
		s.commit(batch)
		s.commitMu.Unlock()
	}
}

// commit applies each request's buffered writes to one Badger transaction
// and commits it (synced). A request whose fn fails is answered with its
// error and contributes nothing. If the transaction would grow too big, the
// requests staged so far are committed on their own and the rest go into a
// new transaction; every request is answered only after the transaction
// holding its writes is synced. A request without writes is answered at
// once only if no uncommitted write was visible to it; otherwise it waits
// for (and shares the outcome of) the commit of the writes it saw.
func (s *Store) commit(batch []*writeReq) {
	var (
		waiting []staged
		size    int64 // bytes staged in txn
	)
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	// restage rebuilds txn from the waiting requests only, dropping
	// whatever part of a failed request was applied to it.
	restage := func() {
		txn.Discard()
		txn = s.db.NewTransaction(true)
		for _, w := range waiting {
			if err := w.tx.apply(txn); err != nil {
				s.log.Error("restage write", zap.Error(err))
			}
		}
	}
	commitWaiting := func() error {
		err := s.broken
		if err == nil {
			err = s.checkSpace(size)
		}
		if err == nil {
			err = s.commitDurably(txn, waiting)
		}
		writes := 0
		for _, w := range waiting {
			if len(w.tx.pending) > 0 {
				writes++
			}
		}
		if err != nil {
			s.audit.invalidate()
			s.log.Error("store commit failed", zap.Error(err), zap.Int("writes", writes))
		} else {
			s.stats.commits.Add(1)
			if s.leading {
				s.stats.callerCommits.Add(1)
			}
			s.stats.writes.Add(uint64(writes))
			if s.onCommit != nil {
				s.onCommit(writes)
			}
		}
		for _, w := range waiting {
			w.r.done <- err
		}
		waiting, size = waiting[:0], 0
		txn.Discard() // no-op after Commit
		txn = s.db.NewTransaction(true)
		return err
	}
	peerRoom := -1 // unknown until a peer write asks; probed once per batch
	for _, r := range batch {
		if r.peer {
			if peerRoom < 0 {
				peerRoom = 0
				if s.peerSpace() {
					peerRoom = 1
				}
			}
			if peerRoom == 0 {
				r.done <- ErrLocalReserve
				continue
			}
		}
		stageStart := time.Now()
		stageDone := func() { s.stats.stageNanos.Add(int64(time.Since(stageStart))) }
		tx := &Tx{ReadTx: ReadTx{txn: txn}, pending: map[string][]byte{}, openCase: s.openCase, audit: &s.audit}
		if err := r.fn(tx); err != nil {
			stageDone()
			if tx.audited {
				s.audit.invalidate() // it may have advanced the cache
			}
			r.done <- err
			continue
		}
		if len(tx.pending) == 0 && len(waiting) == 0 {
			stageDone()
			r.done <- nil // it saw only committed state
			continue
		}
		err := tx.apply(txn)
		stageDone()
		if errors.Is(err, badger.ErrTxnTooBig) && len(waiting) > 0 {
			// txn now holds part of tx: throw it away, commit the earlier
			// requests alone, then stage tx in a fresh transaction. Their
			// reads saw the same state, so their writes are unchanged.
			restage()
			if cerr := commitWaiting(); cerr != nil {
				// tx read the writes that were just lost (counters, the
				// audit head): applying it now would store values derived
				// from them, so it fails with them.
				r.done <- cerr
				continue
			}
			err = tx.apply(txn)
		}
		if err != nil {
			restage()
			s.audit.invalidate()
			r.done <- fmt.Errorf("stage write: %w", err)
			continue
		}
		waiting = append(waiting, staged{r, tx})
		size += tx.size()
	}
	if len(waiting) > 0 {
		_ = commitWaiting()
	}
}

// checkSpace refuses a commit of n bytes when the filesystem is nearly
// full. Badger writes its WAL, tables and value log through mmap of sparse
// files; when the disk fills, the write faults with SIGBUS and the process
// dies instead of getting an error. Keeping a reserve turns that into
// ErrDiskFull.
func (s *Store) checkSpace(n int64) error {
	if s.minFree < 0 || s.freeBytes == nil {
		return nil
	}
	free, err := s.freeBytes()
	if err != nil {
		return nil // cannot tell: let Badger try
	}
	need := uint64(s.minFree) + 2*uint64(n)
	if free < need {
		return fmt.Errorf("%w: %d bytes free in %s, a commit needs %d", ErrDiskFull, free, s.dir, need)
	}
	return nil
}
