package store

import (
	"time"

	"go.uber.org/zap"
)

// The small profile runs many stores on one machine (a 193-node testnet
// has one per node). Badger's compactor goroutines poll every 50 ms
// whether a level needs compacting: two per database, 40 wake-ups a
// second, about 0.65% of a core per idle node process on the benchmark
// machine, so 1.25 cores for 193 idle nodes. The small profile therefore
// starts no Badger compactors (NumCompactors 0) and the store compacts
// lazily instead: every compactEvery it looks at level 0 and, once it holds
// NumLevelZeroTables tables, runs Badger's Flatten, which compacts every
// non-empty level down into one and returns. Badger prefers no writes
// during Flatten, only because new level-0 tables make it work longer;
// writes stay correct, and a testnet node writes little. Writes stall
// only when level 0 reaches NumLevelZeroTablesStall (8) tables, six 4 MiB
// memtables after a compaction is due, which a testnet node does not
// write in compactEvery. Close waits for a Flatten in progress; the
// write-ahead log is already synced, so a kill meanwhile loses nothing.
const compactEvery = 2 * time.Second

// lazyCompactor runs until the store closes (started by Open for the
// small profile).
func (s *Store) lazyCompactor(l0Tables int) {
	defer s.wg.Done()
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		levels := s.db.Levels()
		if len(levels) == 0 || levels[0].NumTables < l0Tables {
			continue
		}
		if err := s.db.Flatten(1); err != nil {
			s.log.Warn("compaction failed; will retry", zap.Error(err))
		}
	}
}
