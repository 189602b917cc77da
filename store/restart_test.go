package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// Issue 9, item 12: a node killed with -9 again and again ended with level
// 0 at Badger's stall and several unflushed memtables, and badger.Open then
// hung for good replaying them. These tests build that state with a real
// writer process and check that Open returns and loses nothing.

const (
	stallDirEnv     = "VIGIL_STORE_STALL_DIR"
	stallProfileEnv = "VIGIL_STORE_STALL_PROFILE"
	stallValueSize  = 32 << 10
	stallPerBatch   = 16 // 512 KiB per commit: under Badger's batch limit for both profiles
	// oldStall is the level-0 stall both profiles had when item 12 was
	// reported; the helper writes with it to build the state that hung.
	oldStall = 8
)

func stallKey(i int) string { return fmt.Sprintf("stall/%07d", i) }

// stalledState reports whether level 0 is at oldStall and every memtable
// slot holds an unflushed WAL: the one the flusher is stuck on, a full
// flush channel (NumMemtables) and the active one. Replaying that many
// memtables is what blocked Open.
func stalledState(db *badger.DB, dir string, numMemtables int) bool {
	if db.Levels()[0].NumTables < oldStall {
		return false
	}
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	return len(mems) >= numMemtables+2
}

// TestHelperStallWriter is not a test: TestOpenAfterCrashAtLevel0Stall runs
// the test binary again with it selected, as a writer process to kill. It
// writes with compaction off (no Badger compactors, no lazy compactor) and
// the old stall, as a node that was killed before any compaction ran.
func TestHelperStallWriter(t *testing.T) {
	dir := os.Getenv(stallDirEnv)
	if dir == "" {
		t.Skip("helper process for TestOpenAfterCrashAtLevel0Stall")
	}
	o := badgerOptions(dir, Profile(os.Getenv(stallProfileEnv)), nil, zap.NewNop()).
		WithNumCompactors(0).WithNumLevelZeroTablesStall(oldStall)
	db, err := badger.Open(o)
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	for b := 0; ; b++ {
		// Checked before the commit: a commit that returns after the
		// state was reached wrote into the last (active) memtable, so
		// every WAL to replay holds data.
		stalled := stalledState(db, dir, o.NumMemtables)
		if err := db.Update(func(txn *badger.Txn) error {
			for i := b * stallPerBatch; i < (b+1)*stallPerBatch; i++ {
				if err := txn.Set([]byte(stallKey(i)), payload(stallKey(i), stallValueSize)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			fmt.Printf("ERR batch %d: %v\n", b, err)
			os.Exit(3)
		}
		fmt.Printf("ACK %d\n", b) // synced (SyncWrites): durable from here
		if stalled {
			fmt.Println("STALLED")
		}
	}
}

// writeUntilStalled runs the stall writer on dir until the stalled state is
// reached, SIGKILLs it and returns how many batches it acknowledged.
func writeUntilStalled(t *testing.T, dir string, profile Profile) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStallWriter$")
	cmd.Env = append(os.Environ(), stallDirEnv+"="+dir, stallProfileEnv+"="+string(profile))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed, timedOut := false, false
	// The writer needs ~50 MiB (small) or ~100 MiB (default) of synced
	// writes; far less than this unless the machine is stuck.
	timer := time.AfterFunc(90*time.Second, func() { timedOut = true; _ = cmd.Process.Kill() })
	defer timer.Stop()
	acked, stalled := 0, false
	var errLines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ACK "):
			n, _ := strconv.Atoi(strings.TrimPrefix(line, "ACK "))
			acked = max(acked, n+1)
		case line == "STALLED" && !killed:
			stalled, killed = true, true
			_ = cmd.Process.Kill() // SIGKILL: no Close, the WALs stay unflushed
		case strings.HasPrefix(line, "ERR "):
			errLines = append(errLines, line)
		}
	}
	waitErr := cmd.Wait()
	if !stalled || len(errLines) > 0 {
		t.Fatalf("writer never reached the stalled state (timed out: %v, acked %d batches, wait: %v)\n%s\nstderr:\n%s",
			timedOut, acked, waitErr, strings.Join(errLines, "\n"), stderr.String())
	}
	return acked
}

// TestOpenAfterCrashAtLevel0Stall reproduces item 12 on both store
// profiles: level 0 at the stall, four unflushed memtables, the writer
// killed with -9. Open must return (a hang fails the test at its timeout,
// or at the deadline below with a message), every acknowledged batch must
// be there, and the store must take writes and compact level 0.
func TestOpenAfterCrashAtLevel0Stall(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	for _, profile := range []Profile{ProfileSmall, ProfileDefault} {
		t.Run(string(profile), func(t *testing.T) {
			dir := t.TempDir()
			acked := writeUntilStalled(t, dir, profile)
			mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
			t.Logf("killed after %d acknowledged batches; %d WAL files to replay", acked, len(mems))

			type result struct {
				s   *Store
				err error
			}
			opened := make(chan result, 1)
			go func() {
				s, err := Open(Options{Dir: dir, Profile: profile, Logger: testLogger(t)})
				opened <- result{s, err}
			}()
			var s *Store
			select {
			case r := <-opened:
				if r.err != nil {
					t.Fatalf("Open: %v", r.err)
				}
				s = r.s
			case <-time.After(2 * time.Minute):
				t.Fatalf("Open of a store killed at the level-0 stall hung (issue 9, item 12)")
			}
			defer s.Close()

			if err := s.db.View(func(txn *badger.Txn) error {
				for i := 0; i < acked*stallPerBatch; i++ {
					it, err := txn.Get([]byte(stallKey(i)))
					if err != nil {
						return fmt.Errorf("acknowledged %s lost: %w", stallKey(i), err)
					}
					v, err := it.ValueCopy(nil)
					if err != nil || !bytes.Equal(v, payload(stallKey(i), stallValueSize)) {
						return fmt.Errorf("acknowledged %s corrupted (%v)", stallKey(i), err)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}

			// It serves: a write through the committer commits (in the
			// small profile after the hold lets the compactor run).
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.Update(ctx, enqueueWithAudit("after-restart", "peer", 1<<10)); err != nil {
				t.Fatalf("write after restart: %v", err)
			}
			// And compacts level 0 without waiting for more writes.
			deadline := time.Now().Add(time.Minute)
			for s.level0Tables() >= l0Hold {
				if time.Now().After(deadline) {
					t.Fatalf("level 0 still holds %d tables a minute after Open", s.level0Tables())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// A clean reopen after all that.
			s2, err := Open(Options{Dir: dir, Profile: profile, Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if err := s2.View(func(r *ReadTx) error {
				_, err := r.Message("after-restart")
				return err
			}); err != nil {
				t.Fatalf("write after restart lost: %v", err)
			}
			if err := s2.Close(); err != nil && !errors.Is(err, ErrClosed) {
				t.Fatal(err)
			}
		})
	}
}

// TestSmallProfileBoundsLevel0 writes through the committer faster than a
// testnet node ever does and checks that level 0 stays bounded without
// Badger's stall: the committer holds at l0Hold, and only memtables already
// on their way to disk (NumMemtables immutable ones plus the active one)
// can land after that.
func TestSmallProfileBoundsLevel0(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~40 MiB")
	}
	s, _ := openStore(t, t.TempDir())
	o := badgerOptions("x", ProfileSmall, nil, zap.NewNop())
	bound := l0Hold + o.NumMemtables + 1
	ctx := context.Background()
	peak := 0
	const batches = 80 // 80 × 512 KiB: ten 4 MiB memtables
	for b := 0; b < batches; b++ {
		if err := s.Update(ctx, func(tx *Tx) error {
			for i := b * stallPerBatch; i < (b+1)*stallPerBatch; i++ {
				tx.set(stallKey(i), payload(stallKey(i), stallValueSize))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, s.level0Tables())
	}
	t.Logf("level 0 peak: %d tables (bound %d)", peak, bound)
	if peak > bound {
		t.Fatalf("level 0 reached %d tables, bound %d", peak, bound)
	}
}
