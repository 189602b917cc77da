package store

import (
	"fmt"
	"math"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
)

// Profile selects Badger memory settings.
type Profile string

const (
	// ProfileDefault suits one always-on national node.
	ProfileDefault Profile = "default"
	// ProfileSmall suits many nodes on one machine (test networks, drills).
	ProfileSmall Profile = "small"
)

// Durability is how a commit is made durable before Update returns.
type Durability string

const (
	// DurabilityJournal appends each group commit to the store's journal
	// and syncs it with one fdatasync; Badger applies it unsynced and is
	// checkpointed in the background (journal.go).
	DurabilityJournal Durability = "journal"
	// DurabilityBadger has Badger sync its WAL and value log on every
	// commit (SyncWrites): two msyncs per commit.
	DurabilityBadger Durability = "badger"
)

// badgerOptions tunes Badger for a small always-on daemon. Badger's defaults
// (64 MiB memtables ×5, 256 MiB block cache) commit ~86 MiB of heap per
// database, far more than a node that stores a few thousand cases a year needs.
func badgerOptions(dir string, profile Profile, encKey []byte, log *zap.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		// SyncWrites makes each transaction commit sync the memtable WAL it
		// wrote to. That matters: with SyncWrites=false and db.Sync(), a
		// write that landed in a memtable which then rotated to the
		// immutable list is not covered by Sync (it only syncs the active
		// memtable's WAL). Group commit gets its throughput by folding many
		// writes into one transaction instead.
		WithSyncWrites(true).
		WithLogger(zapBadgerLogger{log.Sugar()}).
		WithNumCompactors(2). // Badger's minimum
		// Compact once level 0 holds 2 tables; stall writes at 8 (the
		// small profile replaces Badger's stall with its own, below).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(l0Hold).
		WithDetectConflicts(false) // one writer goroutine: nothing to detect
	switch profile {
	case ProfileSmall:
		// No compactor goroutines: they poll every 50 ms; the store
		// compacts lazily instead (compact.go).
		//
		// No level-0 stall inside Badger (issue 9, item 12). Badger's
		// stall makes the memtable flusher wait until a compactor takes
		// tables off level 0, but with NumCompactors 0 the only compactor
		// is ours, and it can start only once badger.Open has returned.
		// Open replays every unflushed WAL (.mem file) and hands each to
		// the flusher through a channel of NumMemtables slots; with level
		// 0 at the stall the flusher blocks on the first, the channel
		// fills and Open blocks for good. A node killed with -9 again and
		// again before a compaction ran (each start flushes the previous
		// run's memtable into one more level-0 table) reached exactly
		// that state. MaxInt32 disables the stall, so Open always
		// finishes; level 0 stays bounded by the store instead: the lazy
		// compactor runs as soon as Open returns, and the committer holds
		// writes while level 0 has l0Hold tables or more (compact.go),
		// the same back-pressure Badger's stall gave, but applied where
		// the compactor can always run.
		o = o.WithNumCompactors(0).
			WithNumLevelZeroTablesStall(math.MaxInt32).
			WithMemTableSize(4 << 20).
			WithNumMemtables(2).
			WithBaseTableSize(1 << 20).
			WithValueLogFileSize(4 << 20).
			WithBlockCacheSize(1 << 20).
			WithIndexCacheSize(1 << 20)
	default:
		// Badger's own compactors run here, and Open starts them before
		// it replays the WAL, so a flush waiting on the level-0 stall (8)
		// is always released by a compaction: Open cannot hang.
		o = o.WithMemTableSize(8 << 20).
			WithNumMemtables(2).
			WithBaseTableSize(4 << 20).
			WithValueLogFileSize(8 << 20).
			WithBlockCacheSize(8 << 20).
			WithIndexCacheSize(4 << 20)
	}
	// ValueThreshold must stay below Badger's max batch size (15% of
	// MemTableSize: 600 KiB for the small profile). 64 KiB keeps every
	// envelope (requests are text) inside the LSM tree, so one WAL sync
	// covers a commit and the value log is rarely touched.
	o = o.WithValueThreshold(64 << 10)
	if len(encKey) > 0 {
		// Encrypted tables must be decrypted on every read unless cached;
		// Badger requires a block cache with encryption, which both profiles
		// set above. Data keys rotate every 10 days (Badger's default).
		o = o.WithEncryptionKey(encKey).WithCompression(options.None)
	} else {
		o = o.WithCompression(options.Snappy)
	}
	return o
}

// LoadEncryptionKey reads an at-rest key file: 16, 24 or 32 raw bytes (AES).
func LoadEncryptionKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("store key %s: mode %o is readable by others; chmod 600", path, fi.Mode().Perm())
	}
	k, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store key %s: %w", path, err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("store key %s: want 16, 24 or 32 bytes, got %d", path, len(k))
}

type zapBadgerLogger struct{ s *zap.SugaredLogger }

func (l zapBadgerLogger) Errorf(f string, a ...any)   { l.s.Errorf(f, a...) }
func (l zapBadgerLogger) Warningf(f string, a ...any) { l.s.Warnf(f, a...) }
func (l zapBadgerLogger) Infof(f string, a ...any)    { l.s.Debugf(f, a...) } // Badger is chatty
func (l zapBadgerLogger) Debugf(f string, a ...any)   { l.s.Debugf(f, a...) }
