package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// benchEnvSize makes a message of ~4 KiB once JSON-encoded (base64).
const benchEnvSize = 3 << 10

// BenchmarkFsync4K is the floor for a durable write on this disk: append
// 4 KiB to a file and fsync it.
func BenchmarkFsync4K(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	ops := 0
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkFdatasyncPrealloc4K is the floor for the journal's write: 4 KiB
// overwritten in place in a zero-filled, synced file, then fdatasync. No
// metadata changes, so the disk writes only the data.
func BenchmarkFdatasyncPrealloc4K(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const size = 32 << 20
	if _, err := f.Write(make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	off := int64(0)
	for b.Loop() {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		off = (off + 4096) % size
	}
}

// durabilities runs a benchmark once per durability mechanism.
func durabilities(b *testing.B, fn func(b *testing.B, d Durability)) {
	for _, d := range []Durability{DurabilityJournal, DurabilityBadger} {
		b.Run(string(d), func(b *testing.B) { fn(b, d) })
	}
}

func benchStore(b *testing.B, d Durability) (*Store, *commitStats) {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), Profile: ProfileDefault, Durability: d, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	st := &commitStats{}
	s.onCommit = st.hook
	b.Cleanup(func() { _ = s.Close() })
	return s, st
}

func enqueueMsg(m *Message) func(*Tx) error {
	return func(tx *Tx) error { return tx.Enqueue(m) }
}

// BenchmarkUpdateSerial: one ~4 KiB message per Update, one caller at a
// time, so every Update is its own synced commit.
func BenchmarkUpdateSerial(b *testing.B) { durabilities(b, benchUpdateSerial) }

func benchUpdateSerial(b *testing.B, d Durability) {
	s, _ := benchStore(b, d)
	env := payload("bench", benchEnvSize)
	ctx := context.Background()
	ops := 0
	syncs := s.Stats().Syncs
	for b.Loop() {
		m := newMsg(fmt.Sprint("m", ops), fmt.Sprint("peer", ops%8), 0)
		m.Envelope = env
		if err := s.Update(ctx, enqueueMsg(m)); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(s.Stats().Syncs-syncs)/float64(ops), "syncs/op")
}

// BenchmarkUpdateSerialByPath: BenchmarkUpdateSerial's Update, taking
// turns between committing on the caller's goroutine (an idle store,
// since stop 21) and handing the write to the committer goroutine and
// waiting to be woken by it (before), so both see the same disk and the
// same VM drift. Reported: each path's p50 and p99 in µs.
//
// idle is the pause before each Update. Back to back, the committer's
// goroutine is still being woken from the last one; a node's commits come
// after network waits, with the vCPUs halted (BENCHMARKS.md, wake-ups).
func BenchmarkUpdateSerialByPath(b *testing.B) {
	for _, d := range []Durability{DurabilityJournal, DurabilityBadger} {
		for _, idle := range []time.Duration{0, 200 * time.Microsecond} {
			b.Run(fmt.Sprintf("%s/idle=%v", d, idle), func(b *testing.B) { benchUpdateByPath(b, d, idle) })
		}
	}
}

func benchUpdateByPath(b *testing.B, d Durability, idle time.Duration) {
	s, _ := benchStore(b, d)
	env := payload("bench", benchEnvSize)
	ctx := context.Background()
	var lat [2][]time.Duration // [0] the caller commits, [1] via the committer
	ops := 0
	for b.Loop() {
		if idle > 0 {
			time.Sleep(idle)
		}
		path := ops % 2
		s.viaCommitter.Store(path == 1)
		m := newMsg(fmt.Sprint("m", ops), fmt.Sprint("peer", ops%8), 0)
		m.Envelope = env
		start := time.Now()
		if err := s.Update(ctx, enqueueMsg(m)); err != nil {
			b.Fatal(err)
		}
		lat[path] = append(lat[path], time.Since(start))
		ops++
	}
	for i, name := range []string{"caller", "committer"} {
		l := lat[i]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), name+"-p99-µs")
	}
}

// BenchmarkUpdateParallel: the same Update from 16×GOMAXPROCS goroutines;
// group commit folds concurrent Updates into one synced transaction.
func BenchmarkUpdateParallel(b *testing.B) { durabilities(b, benchUpdateParallel) }

func benchUpdateParallel(b *testing.B, d Durability) {
	s, stats := benchStore(b, d)
	env := payload("bench", benchEnvSize)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			m := newMsg(fmt.Sprint("m", i), fmt.Sprint("peer", i%8), 0)
			m.Envelope = env
			if err := s.Update(ctx, enqueueMsg(m)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	commits, writes, largest := stats.snapshot()
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "ops/s")
	if commits > 0 {
		b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
		b.ReportMetric(float64(largest), "max-writes/commit")
	}
}

// BenchmarkManyStores: many small-profile stores on one filesystem, as a
// testnet runs them, each committing one ~1 KiB write at the same moment
// (a roster update reaching every node). One op is one such round.
func BenchmarkManyStores(b *testing.B) { durabilities(b, benchManyStores) }

func benchManyStores(b *testing.B, d Durability) {
	const n = 48
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(Options{Dir: b.TempDir(), Profile: ProfileSmall, Durability: d, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	env := payload("bench", 1<<10)
	ctx := context.Background()
	round := 0
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := newMsg(fmt.Sprint("m", round, "-", i), "peer", 0)
				m.Envelope = env
				errs <- s.Update(ctx, enqueueMsg(m))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		round++
	}
}
