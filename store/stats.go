package store

import (
	"sync/atomic"
	"time"
)

// Stats are a store's cumulative counters since Open: what `vigil bench`
// divides by the requests it sent, and what the metrics export.
type Stats struct {
	// Commits is the number of Badger transactions committed.
	Commits uint64 `json:"commits"`
	// Writes is the number of Update calls whose writes were committed;
	// Writes/Commits is the group-commit factor.
	Writes uint64 `json:"writes"`
	// CallerCommits is the part of Commits run on the goroutine of an
	// Update that found no commit running, with no hand-off to the
	// committer goroutine and back; the rest queued behind a commit.
	CallerCommits uint64 `json:"caller_commits"`
	// Syncs is the number of sync system calls the store issued to make
	// commits durable (fdatasync, fsync or msync), counted where they are
	// made.
	Syncs uint64 `json:"syncs"`
	// CommitTime is the time spent making commits durable, summed: from
	// the committer handing a transaction on to it being on disk and
	// applied (journal write, sync and Badger apply; or Badger's synced
	// commit). It excludes the time requests wait to be batched.
	CommitTime time.Duration `json:"commit_time_ns"`
	// SyncTime is the part of CommitTime spent in the journal's
	// fdatasync (0 with DurabilityBadger, whose syncs happen inside
	// Badger's commit and are not timed apart).
	SyncTime time.Duration `json:"sync_time_ns"`
	// StageTime is the time the committer spent running the requests'
	// functions and staging their writes, summed: their reads, record
	// encoding and audit appends. Every write waits for it, so it is on
	// every request's path, before CommitTime.
	StageTime time.Duration `json:"stage_time_ns"`
}

// counters are the live values behind Stats.
type counters struct {
	commits, writes, syncs atomic.Uint64
	callerCommits          atomic.Uint64
	commitNanos, syncNanos atomic.Int64
	stageNanos             atomic.Int64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Writes: s.stats.writes.Load(), Syncs: s.stats.syncs.Load(),
		CallerCommits: s.stats.callerCommits.Load(),
		CommitTime:    time.Duration(s.stats.commitNanos.Load()), SyncTime: time.Duration(s.stats.syncNanos.Load()),
		StageTime: time.Duration(s.stats.stageNanos.Load())}
}
