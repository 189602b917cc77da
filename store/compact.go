package store

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// The small profile runs many stores on one machine (a 193-node testnet
// has one per node). Badger's compactor goroutines poll every 50 ms
// whether a level needs compacting: two per database, 40 wake-ups a
// second, about 0.65% of a core per idle node process on the benchmark
// machine, so 1.25 cores for 193 idle nodes. The small profile therefore
// starts no Badger compactors (NumCompactors 0) and the store compacts
// lazily instead: at once when Open returns, then every compactEvery (or
// sooner when the committer asks), it looks at level 0 and, once it holds
// NumLevelZeroTables tables, runs Badger's Flatten, which compacts every
// non-empty level down into one and returns. Badger prefers no writes
// during Flatten, only because new level-0 tables make it work longer;
// writes stay correct, and a testnet node writes little.
//
// The small profile turns Badger's level-0 stall off (badger.go explains
// why it hung Open), so the store bounds level 0 itself: before each
// commit the committer checks level 0 and, at l0Hold tables or more, wakes
// the compactor and waits for its pass to end (up to l0HoldPasses passes,
// so a compaction that keeps failing, e.g. on a full disk, delays writes
// but never wedges them). Close waits for a Flatten in progress; the
// write-ahead log is already synced, so a kill meanwhile loses nothing,
// and the next start compacts again at once.
const (
	compactEvery = 2 * time.Second
	// l0Hold is where level-0 writes stall: Badger's stall in the default
	// profile, the committer's hold in the small one. Six 4 MiB memtables
	// past the point a compaction is due, which a testnet node does not
	// write in compactEvery.
	l0Hold       = 8
	l0HoldPasses = 3
)

// lazyCompaction is the small profile's compactor state, shared by the
// compactor goroutine and the committer.
type lazyCompaction struct {
	trigger int           // NumLevelZeroTables: compact at this many level-0 tables
	kick    chan struct{} // cap 1: ask for a pass now
	mu      sync.Mutex
	passEnd chan struct{} // closed when the next (or current) pass ends
}

func newLazyCompaction(trigger int) *lazyCompaction {
	return &lazyCompaction{trigger: trigger, kick: make(chan struct{}, 1), passEnd: make(chan struct{})}
}

// level0Tables reports how many tables level 0 holds.
func (s *Store) level0Tables() int {
	levels := s.db.Levels()
	if len(levels) == 0 {
		return 0
	}
	return levels[0].NumTables
}

// lazyCompactor runs until the store closes (started by Open for the
// small profile). Its first pass runs at once: a restart after a crash
// may have flushed several replayed memtables into level 0.
func (s *Store) lazyCompactor() {
	defer s.wg.Done()
	c := s.lazy
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		if n := s.level0Tables(); n >= c.trigger {
			if err := s.db.Flatten(1); err != nil {
				s.log.Warn("compaction failed; will retry", zap.Int("level0_tables", n), zap.Error(err))
			}
		}
		c.mu.Lock()
		close(c.passEnd)
		c.passEnd = make(chan struct{})
		c.mu.Unlock()
		select {
		case <-s.quit:
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

// holdForCompaction is called by the committer before each commit. In the
// small profile it waits while level 0 holds l0Hold tables or more (see
// the comment at the top of this file); otherwise it returns at once.
func (s *Store) holdForCompaction() {
	c := s.lazy
	if c == nil {
		return
	}
	for i := 0; i < l0HoldPasses; i++ {
		if s.level0Tables() < l0Hold {
			return
		}
		c.mu.Lock()
		end := c.passEnd
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default: // a pass is already asked for
		}
		select {
		case <-end:
		case <-s.quit:
			return // Close: finish queued writes; the next start compacts
		}
	}
}
