package store

import "sync/atomic"

// Stats are a store's cumulative counters since Open: what `vigil bench`
// divides by the requests it sent, and what the metrics export.
type Stats struct {
	// Commits is the number of Badger transactions committed.
	Commits uint64 `json:"commits"`
	// Writes is the number of Update calls whose writes were committed;
	// Writes/Commits is the group-commit factor.
	Writes uint64 `json:"writes"`
	// Syncs is the number of sync system calls the store issued to make
	// commits durable (fdatasync, fsync or msync), counted where they are
	// made.
	Syncs uint64 `json:"syncs"`
}

// counters are the live values behind Stats.
type counters struct {
	commits, writes, syncs atomic.Uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Writes: s.stats.writes.Load(), Syncs: s.stats.syncs.Load()}
}
