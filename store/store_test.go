package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// ---------------------------------------------------------------------------
// helpers

// commitStats records what the committer's onCommit hook reports.
type commitStats struct {
	mu      sync.Mutex
	batches []int
}

func (c *commitStats) hook(n int) {
	c.mu.Lock()
	c.batches = append(c.batches, n)
	c.mu.Unlock()
}

// snapshot returns the number of commits, the writes they carried and the
// largest single commit.
func (c *commitStats) snapshot() (commits, writes, largest int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.batches {
		writes += n
		largest = max(largest, n)
	}
	return len(c.batches), writes, largest
}

func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))
}

// openStore opens a small-profile store in dir, closes it at test end and
// installs a commit counter (before any Update, so the hook is race-free).
func openStore(t testing.TB, dir string, mod ...func(*Options)) (*Store, *commitStats) {
	t.Helper()
	opts := Options{Dir: dir, Profile: ProfileSmall, Logger: testLogger(t)}
	for _, f := range mod {
		f(&opts)
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	st := &commitStats{}
	s.onCommit = st.hook
	t.Cleanup(func() { _ = s.Close() })
	return s, st
}

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// payload returns n deterministic bytes derived from id, so a reader can
// check that what it got back is exactly what was written.
func payload(id string, n int) []byte {
	out := make([]byte, n)
	_, _ = rand.NewChaCha8(sha256.Sum256([]byte(id))).Read(out)
	return out
}

func newMsg(id, peer string, envSize int) *Message {
	return &Message{
		ID:        id,
		CaseID:    "case-" + id,
		Direction: Outgoing,
		Type:      "request",
		Peer:      peer,
		Country:   "EE",
		Envelope:  payload(id, envSize),
		State:     StateQueued,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

// blockCommitter occupies the committer with an Update whose fn waits, so
// the test can queue requests and have them all land in the next batch
// deterministically. The returned func releases it.
func blockCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, rel := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(*Tx) error {
			close(started)
			<-rel
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("committer never ran the blocking update")
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(rel)
			if err := <-done; err != nil {
				t.Errorf("blocking update: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// queued counts the requests waiting for the next commit: in the queue,
// or taken off it by the committer, which waits for the running commit.
func queued(s *Store) int { return len(s.writes) + int(s.held.Load()) }

// waitQueued waits until n requests wait for the next commit.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for queued(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued", queued(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// countPrefix counts stored keys with prefix.
func countPrefix(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	n := 0
	err := s.View(func(r *ReadTx) error {
		return r.scan(prefix, false, func(string, []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatalf("count %s: %v", prefix, err)
	}
	return n
}

// checkOutboxSeqs asserts the outbox index holds exactly seqs 1..want,
// each naming a stored message, and that the outbox counter agrees.
func checkOutboxSeqs(t testing.TB, s *Store, want int) {
	t.Helper()
	seen := make(map[uint64]string)
	var counter uint64
	err := s.View(func(r *ReadTx) error {
		if b, err := r.get("meta/seq/outbox"); err == nil {
			counter = binary.BigEndian.Uint64(b)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return r.scan("out/", false, func(k string, v []byte) (bool, error) {
			seq, err := strconv.ParseUint(k[strings.LastIndexByte(k, '/')+1:], 10, 64)
			if err != nil {
				return false, fmt.Errorf("outbox key %q: %w", k, err)
			}
			if prev, dup := seen[seq]; dup {
				return false, fmt.Errorf("outbox seq %d used by %s and %s", seq, prev, v)
			}
			seen[seq] = string(v)
			if _, err := r.get(msgKey(string(v))); err != nil {
				return false, fmt.Errorf("outbox entry %s: message %s: %w", k, v, err)
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != want || counter != uint64(want) {
		t.Fatalf("outbox: %d distinct seqs, counter %d; want %d", len(seen), counter, want)
	}
	for i := uint64(1); i <= uint64(want); i++ {
		if _, ok := seen[i]; !ok {
			t.Fatalf("outbox seq %d missing (seqs must be 1..%d)", i, want)
		}
	}
}

func mustVerifyAudit(t testing.TB, s *Store, want uint64) {
	t.Helper()
	var n uint64
	err := s.View(func(r *ReadTx) (err error) {
		n, err = r.VerifyAudit()
		return err
	})
	if err != nil || n != want {
		t.Fatalf("VerifyAudit = %d, %v; want %d, nil", n, err, want)
	}
}

func enqueueWithAudit(id, peer string, envSize int) func(*Tx) error {
	return func(tx *Tx) error {
		if err := tx.Enqueue(newMsg(id, peer, envSize)); err != nil {
			return err
		}
		return tx.Audit(AuditRecord{At: t0, Actor: "node", Action: "enqueue", MessageID: id})
	}
}

// ---------------------------------------------------------------------------
// basic reads and writes

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openStore(t, dir)

	m := newMsg("m1", "peerA", 300)
	m.Flags = []string{"urgent"}
	m.Receipt = []byte("signed")
	m.DeliveredAt = t0.Add(time.Hour)
	c := &Case{ID: "c1", Direction: Incoming, Kind: "mla", Country: "LV", Peer: "peerB",
		State: "open", CreatedAt: t0, UpdatedAt: t0, MessageIDs: []string{"m1"}}

	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if err := tx.PutCase(c); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		got, err := tx.Message("m1")
		if err != nil {
			return fmt.Errorf("read own write: %w", err)
		}
		if !reflect.DeepEqual(got, m) {
			return fmt.Errorf("read own write: got %+v", got)
		}
		if _, err := tx.Case("nope"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("tx.Case(missing) = %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}

	check := func(s *Store) {
		t.Helper()
		err := s.View(func(r *ReadTx) error {
			gotM, err := r.Message("m1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(gotM, m) {
				t.Errorf("Message = %+v\nwant      %+v", gotM, m)
			}
			gotC, err := r.Case("c1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(gotC, c) {
				t.Errorf("Case = %+v\nwant   %+v", gotC, c)
			}
			msgs, err := r.Messages(gotC)
			if err != nil || len(msgs) != 1 || msgs[0].ID != "m1" {
				t.Errorf("Messages(c1) = %v, %v", msgs, err)
			}
			if _, err := r.Message("missing"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Message(missing) = %v, want ErrNotFound", err)
			}
			if _, err := r.Case("missing"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Case(missing) = %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("View: %v", err)
		}
	}
	check(s)

	// Durable across reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir)
	check(s2)

	// Deleting through a Tx hides the key from later reads in the same fn.
	err = s2.Update(ctx, func(tx *Tx) error {
		tx.del(msgKey("m1"))
		if _, err := tx.Message("m1"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("after del: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.View(func(r *ReadTx) error { _, err := r.Message("m1"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted message: %v, want ErrNotFound", err)
	}
}

func TestCasesNewestFirst(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	ids := []string{"20260101-a", "20260301-c", "20260201-b"}
	for _, id := range ids {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.PutCase(&Case{ID: id, CreatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"20260301-c", "20260201-b", "20260101-a"}},
		{2, []string{"20260301-c", "20260201-b"}},
	} {
		var got []string
		err := s.View(func(r *ReadTx) error {
			cs, err := r.Cases(tc.limit)
			for _, c := range cs {
				got = append(got, c.ID)
			}
			return err
		})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cases(%d) = %v, %v; want %v", tc.limit, got, err, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// group commit semantics

var errBoom = errors.New("boom")

// failingFn writes plenty (message, outbox entry, audit record) and then
// fails: none of it may reach the database.
func failingFn(id, peer string) func(*Tx) error {
	return func(tx *Tx) error {
		if err := enqueueWithAudit(id, peer, 100)(tx); err != nil {
			return err
		}
		return fmt.Errorf("update %s: %w", id, errBoom)
	}
}

func checkExactly(t *testing.T, s *Store, ok, failed []string) {
	t.Helper()
	err := s.View(func(r *ReadTx) error {
		for _, id := range ok {
			m, err := r.Message(id)
			if err != nil {
				return fmt.Errorf("successful %s: %w", id, err)
			}
			if !bytes.Equal(m.Envelope, payload(id, len(m.Envelope))) {
				return fmt.Errorf("successful %s: envelope corrupted", id)
			}
		}
		for _, id := range failed {
			if _, err := r.Message(id); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("failed update %s left a message behind (err=%v)", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, s, "msg/"); n != len(ok) {
		t.Fatalf("%d messages stored, want %d", n, len(ok))
	}
	checkOutboxSeqs(t, s, len(ok))
	mustVerifyAudit(t, s, uint64(len(ok)))
}

// TestFailedUpdateIsolatedInBatch puts failing and succeeding updates into
// the same batch deterministically: the committer is held while they queue.
func TestFailedUpdateIsolatedInBatch(t *testing.T) {
	s, stats := openStore(t, t.TempDir())
	release := blockCommitter(t, s)

	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("m%03d", i)
		fn := enqueueWithAudit(id, "peerA", 100)
		if i%3 == 1 {
			fn = failingFn(id, "peerA")
		}
		wg.Go(func() { errs[i] = s.Update(context.Background(), fn) })
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()

	var ok, failed []string
	for i, err := range errs {
		id := fmt.Sprintf("m%03d", i)
		switch {
		case i%3 == 1 && errors.Is(err, errBoom):
			failed = append(failed, id)
		case i%3 != 1 && err == nil:
			ok = append(ok, id)
		default:
			t.Fatalf("Update %s = %v", id, err)
		}
	}
	commits, writes, largest := stats.snapshot()
	t.Logf("%d commits, %d writes, largest %d", commits, writes, largest)
	if writes != len(ok) {
		t.Fatalf("commits carried %d writes, want %d", writes, len(ok))
	}
	// All n were queued before the committer was released and n < MaxBatch,
	// so the successful ones must share one commit.
	if largest != len(ok) {
		t.Fatalf("largest commit carried %d writes, want all %d in one", largest, len(ok))
	}
	checkExactly(t, s, ok, failed)
}

// TestFailedUpdatesConcurrent does the same with free-running goroutines.
func TestFailedUpdatesConcurrent(t *testing.T) {
	dir := t.TempDir()
	s, stats := openStore(t, dir)
	const goroutines, per = 50, 20
	var (
		mu         sync.Mutex
		ok, failed []string
		wg         sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				id := fmt.Sprintf("g%02d-%03d", g, i)
				fail := (g+i)%4 == 0
				fn := enqueueWithAudit(id, fmt.Sprintf("peer%d", g%3), 100)
				if fail {
					fn = failingFn(id, "peerX")
				}
				err := s.Update(context.Background(), fn)
				mu.Lock()
				switch {
				case fail && errors.Is(err, errBoom):
					failed = append(failed, id)
				case !fail && err == nil:
					ok = append(ok, id)
				default:
					t.Errorf("Update %s (fail=%v) = %v", id, fail, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	commits, writes, largest := stats.snapshot()
	t.Logf("%d ok, %d failed: %d commits, largest %d", len(ok), len(failed), commits, largest)
	if writes != len(ok) {
		t.Fatalf("commits carried %d writes, want %d", writes, len(ok))
	}
	checkExactly(t, s, ok, failed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir)
	checkExactly(t, s2, ok, failed)
}

func TestConcurrentUpdatesDurable(t *testing.T) {
	dir := t.TempDir()
	s, stats := openStore(t, dir)
	const goroutines, per = 50, 40 // 2000 updates
	var wg sync.WaitGroup
	var failures atomic.Int32
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				id := fmt.Sprintf("g%02d-%03d", g, i)
				if err := s.Update(context.Background(), enqueueWithAudit(id, fmt.Sprintf("peer%d", g%5), 200)); err != nil {
					t.Errorf("Update %s: %v", id, err)
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failures.Load() > 0 {
		t.FailNow()
	}
	const total = goroutines * per
	commits, writes, largest := stats.snapshot()
	t.Logf("%d updates in %v: %d commits (%.1f writes/commit, largest %d)",
		total, elapsed.Round(time.Millisecond), commits, float64(writes)/float64(commits), largest)
	if writes != total {
		t.Fatalf("commits carried %d writes, want %d", writes, total)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, _ := openStore(t, dir)
	if n := countPrefix(t, s2, "msg/"); n != total {
		t.Fatalf("%d messages after reopen, want %d", n, total)
	}
	checkOutboxSeqs(t, s2, total)
	mustVerifyAudit(t, s2, total)
	var depths map[string]int
	if err := s2.View(func(r *ReadTx) (err error) { depths, err = r.OutboxDepths(); return err }); err != nil {
		t.Fatal(err)
	}
	for p := range 5 {
		if d := depths[fmt.Sprintf("peer%d", p)]; d != total/5 {
			t.Errorf("peer%d depth %d, want %d", p, d, total/5)
		}
	}
	// Each writer's messages must sit in its peer's outbox in the order the
	// writer issued them (Update is sequential per goroutine).
	err := s2.View(func(r *ReadTx) error {
		for p := range 5 {
			out, err := r.Outbox(fmt.Sprintf("peer%d", p))
			if err != nil {
				return err
			}
			last := map[string]string{}
			for _, m := range out {
				g := m.ID[:3]
				if prev, ok := last[g]; ok && prev >= m.ID {
					return fmt.Errorf("peer%d outbox: %s after %s", p, m.ID, prev)
				}
				last[g] = m.ID
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitBatches checks batching deterministically: n updates
// queued while the committer is busy go out in one commit, and MaxBatch
// caps a commit.
func TestGroupCommitBatches(t *testing.T) {
	for _, tc := range []struct {
		name            string
		maxBatch, queue int
	}{
		{"fits", 0, 100},
		{"capped", 8, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stats := openStore(t, t.TempDir(), func(o *Options) { o.MaxBatch = tc.maxBatch })
			release := blockCommitter(t, s)
			var wg sync.WaitGroup
			// With a cap, queue 3×cap: cap fit in the channel, the rest wait.
			n := tc.queue
			if tc.maxBatch > 0 {
				n = 3 * tc.maxBatch
			}
			for i := range n {
				wg.Go(func() {
					if err := s.Update(context.Background(), enqueueWithAudit(fmt.Sprintf("m%03d", i), "p", 50)); err != nil {
						t.Errorf("Update: %v", err)
					}
				})
			}
			waitQueued(t, s, tc.queue)
			release()
			wg.Wait()
			commits, writes, largest := stats.snapshot()
			t.Logf("%d commits, largest %d", commits, largest)
			if writes != n {
				t.Fatalf("commits carried %d writes, want %d", writes, n)
			}
			if largest != tc.queue {
				t.Fatalf("largest commit %d, want %d", largest, tc.queue)
			}
			checkOutboxSeqs(t, s, n)
			mustVerifyAudit(t, s, uint64(n))
		})
	}
}

// TestUpdateWithoutWritesWaitsForCommit: an fn that only reads may observe
// earlier writes of its batch, so it must not return before they are
// durable (or before they fail).
func TestUpdateWithoutWritesWaitsForCommit(t *testing.T) {
	s, stats := openStore(t, t.TempDir())
	release := blockCommitter(t, s)
	writeDone := make(chan error, 1)
	go func() {
		writeDone <- s.Update(context.Background(), func(tx *Tx) error {
			return tx.PutMessage(newMsg("m1", "p", 10))
		})
	}()
	waitQueued(t, s, 1)
	var sawIt bool
	readDone := make(chan error, 1)
	go func() {
		readDone <- s.Update(context.Background(), func(tx *Tx) error {
			_, err := tx.Message("m1")
			sawIt = err == nil
			return nil
		})
	}()
	waitQueued(t, s, 2)
	release()
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if !sawIt {
		t.Fatal("reader in the same batch did not see the earlier write")
	}
	// The reader has returned nil after seeing m1: m1 must be committed.
	if commits, writes, _ := stats.snapshot(); commits < 1 || writes != 1 {
		t.Fatalf("reader returned before the write it saw was committed (commits=%d writes=%d)", commits, writes)
	}
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// outbox

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	put := func(ids ...string) {
		t.Helper()
		err := s.Update(ctx, func(tx *Tx) error {
			for _, id := range ids {
				peer, _, _ := strings.Cut(id, ":")
				if err := tx.Enqueue(newMsg(id, peer, 20)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// "peerA" is a prefix of "peerAA": their outboxes must stay apart.
	put("peerA:1")
	put("peerB:1", "peerA:2", "peerAA:1") // several in one Update
	put("peerA:3")
	put("peerA:4")

	outbox := func(peer string) []string {
		t.Helper()
		var ids []string
		err := s.View(func(r *ReadTx) error {
			ms, err := r.Outbox(peer)
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			return err
		})
		if err != nil {
			t.Fatalf("Outbox(%s): %v", peer, err)
		}
		return ids
	}
	depths := func() map[string]int {
		t.Helper()
		var d map[string]int
		if err := s.View(func(r *ReadTx) (err error) { d, err = r.OutboxDepths(); return err }); err != nil {
			t.Fatal(err)
		}
		return d
	}

	if got, want := outbox("peerA"), []string{"peerA:1", "peerA:2", "peerA:3", "peerA:4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Outbox(peerA) = %v, want %v", got, want)
	}
	if got, want := outbox("peerB"), []string{"peerB:1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Outbox(peerB) = %v, want %v", got, want)
	}
	if got := outbox("nobody"); len(got) != 0 {
		t.Fatalf("Outbox(nobody) = %v", got)
	}
	if got, want := depths(), map[string]int{"peerA": 4, "peerAA": 1, "peerB": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("OutboxDepths = %v, want %v", got, want)
	}

	// Ten-plus seqs sort numerically, not lexically (zero padding).
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf("peerC:%02d", i))
	}
	put(many...)
	if got := outbox("peerC"); !reflect.DeepEqual(got, many) {
		t.Fatalf("Outbox(peerC) = %v, want %v", got, many)
	}

	// Dequeue (delivered) removes from the outbox but keeps the message.
	err := s.Update(ctx, func(tx *Tx) error {
		for _, id := range []string{"peerA:2", "peerA:1", "peerB:1"} {
			m, err := tx.Message(id)
			if err != nil {
				return err
			}
			tx.Dequeue(m)
			m.State = StateDelivered
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outbox("peerA"), []string{"peerA:3", "peerA:4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Outbox(peerA) after dequeue = %v, want %v", got, want)
	}
	if got, want := depths(), map[string]int{"peerA": 2, "peerAA": 1, "peerC": 12}; !reflect.DeepEqual(got, want) {
		t.Fatalf("OutboxDepths after dequeue = %v, want %v", got, want)
	}
	err = s.View(func(r *ReadTx) error {
		m, err := r.Message("peerA:1")
		if err == nil && m.State != StateDelivered {
			err = fmt.Errorf("state %s", m.State)
		}
		return err
	})
	if err != nil {
		t.Fatalf("dequeued message: %v", err)
	}

	// Dequeue of a message that never was queued is a no-op.
	if err := s.Update(ctx, func(tx *Tx) error { tx.Dequeue(&Message{ID: "x", Peer: "peerA"}); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := depths()["peerA"]; got != 2 {
		t.Fatalf("peerA depth %d after no-op dequeue", got)
	}
}

// ---------------------------------------------------------------------------
// audit chain

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir())
	audit := func(recs ...AuditRecord) error {
		return s.Update(ctx, func(tx *Tx) error {
			for _, a := range recs {
				if err := tx.Audit(a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// Empty log verifies with zero records.
	mustVerifyAudit(t, s, 0)

	for i := range 8 {
		if err := audit(AuditRecord{At: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Action: "view", CaseID: fmt.Sprint("c", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Several in one Update chain through the pending head.
	if err := audit(AuditRecord{Actor: "node", Action: "a"}, AuditRecord{Actor: "node", Action: "b"}); err != nil {
		t.Fatal(err)
	}
	// A failed Update must not advance the chain.
	err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Audit(AuditRecord{Actor: "mallory", Action: "oops"}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("failing update = %v", err)
	}
	if err := audit(AuditRecord{Actor: "node", Action: "c"}); err != nil {
		t.Fatal(err)
	}
	const total = 11
	mustVerifyAudit(t, s, total)

	var recs []*AuditRecord
	if err := s.View(func(r *ReadTx) (err error) { recs, err = r.Audit(0, 0); return err }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != total {
		t.Fatalf("Audit(0,0) returned %d records", len(recs))
	}
	for i, a := range recs {
		if a.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, a.Seq)
		}
		if a.Actor == "mallory" {
			t.Fatal("failed update's audit record was stored")
		}
		if i == 0 && a.PrevHash != "" || i > 0 && a.PrevHash != recs[i-1].Hash {
			t.Fatalf("record %d prev_hash %q does not link to %q", a.Seq, a.PrevHash, recs[max(i-1, 0)].Hash)
		}
		if a.Hash == "" {
			t.Fatalf("record %d has no hash", a.Seq)
		}
	}
	if recs[2].CaseID != "c2" || recs[2].Actor != "alice" || !recs[2].At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("record 3 = %+v", recs[2])
	}
	var page []*AuditRecord
	if err := s.View(func(r *ReadTx) (err error) { page, err = r.Audit(5, 3); return err }); err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Seq != 6 || page[2].Seq != 8 {
		t.Fatalf("Audit(5,3) = %d records starting at %v", len(page), page)
	}

	// Tamper directly with the stored bytes, bypassing the Tx API.
	raw := func(seq uint64) []byte {
		t.Helper()
		var v []byte
		err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get([]byte(auditKey(seq)))
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(nil)
			return err
		})
		if err != nil {
			t.Fatalf("read audit %d: %v", seq, err)
		}
		return v
	}
	put := func(seq uint64, v []byte) {
		t.Helper()
		err := s.db.Update(func(txn *badger.Txn) error {
			if v == nil {
				return txn.Delete([]byte(auditKey(seq)))
			}
			return txn.Set([]byte(auditKey(seq)), v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	verifyErr := func() (uint64, error) {
		var n uint64
		err := s.View(func(r *ReadTx) (err error) { n, err = r.VerifyAudit(); return err })
		return n, err
	}
	expectBreak := func(what, wantMsg string) {
		t.Helper()
		n, err := verifyErr()
		if err == nil {
			t.Fatalf("%s: VerifyAudit reported no break (n=%d)", what, n)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("%s: VerifyAudit error %q, want it to mention %q", what, err, wantMsg)
		}
		t.Logf("%s: %v", what, err)
	}

	orig5 := raw(5)
	tampered := bytes.Replace(orig5, []byte(`"alice"`), []byte(`"alicf"`), 1)
	if bytes.Equal(tampered, orig5) {
		t.Fatalf("record 5 has no actor to tamper with: %s", orig5)
	}
	put(5, tampered)
	expectBreak("edited record 5", "broken at record 6")
	put(5, orig5)
	mustVerifyAudit(t, s, total)

	put(5, nil)
	expectBreak("deleted record 5", "gap")
	put(5, orig5)
	mustVerifyAudit(t, s, total)

	// Editing the newest record is caught by the head.
	origLast := raw(total)
	put(total, bytes.Replace(origLast, []byte(`"c"`), []byte(`"d"`), 1))
	expectBreak("edited last record", "head")
	put(total, origLast)

	// Deleting the newest record (truncating the log) is caught by the head.
	put(total, nil)
	expectBreak("truncated log", "head")
	put(total, origLast)

	// Rewriting a record and re-chaining everything after it would need the
	// head too; editing the first record breaks at the second.
	orig1 := raw(1)
	put(1, bytes.Replace(orig1, []byte(`"view"`), []byte(`"vieW"`), 1))
	expectBreak("edited record 1", "broken at record 2")
	put(1, orig1)
	mustVerifyAudit(t, s, total)
}

func TestAuditConcurrent(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	var wg sync.WaitGroup
	const goroutines, per = 20, 25
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				if err := s.Update(context.Background(), func(tx *Tx) error {
					return tx.Audit(AuditRecord{Actor: fmt.Sprint("g", g), Action: fmt.Sprint(i)})
				}); err != nil {
					t.Errorf("audit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	mustVerifyAudit(t, s, goroutines*per)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir)
	mustVerifyAudit(t, s2, goroutines*per)
}

// ---------------------------------------------------------------------------
// oversized batches

// TestBatchOverMaxSize queues updates whose combined size is several times
// Badger's max batch size (15% of the 4 MiB small-profile memtable ≈ 614 KiB)
// into one batch; the committer must split it. One update that is too big
// on its own must fail alone.
func TestBatchOverMaxSize(t *testing.T) {
	dir := t.TempDir()
	s, stats := openStore(t, dir)
	// 45 KiB envelopes are stored in the LSM tree (under the 64 KiB value
	// threshold) and counted in full against the batch size. Every fifth is 100 KiB, which
	// goes to the value log instead.
	const n = 40
	envSize := func(i int) int {
		if i%5 == 4 {
			return 100 << 10
		}
		return 45 << 10
	}
	release := blockCommitter(t, s)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("big%02d", i)
			errs[i] = s.Update(context.Background(), enqueueWithAudit(id, "peerA", envSize(i)))
		})
	}
	// One update of 40×45 KiB values cannot fit in any transaction.
	waitQueued(t, s, n/2)
	var tooBig error
	wg.Go(func() {
		tooBig = s.Update(context.Background(), func(tx *Tx) error {
			for j := range 40 {
				if err := tx.PutMessage(newMsg(fmt.Sprint("huge", j), "peerA", 45<<10)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	waitQueued(t, s, n+1)
	release()
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	if !errors.Is(tooBig, badger.ErrTxnTooBig) {
		t.Errorf("oversized update = %v, want ErrTxnTooBig", tooBig)
	}
	commits, writes, largest := stats.snapshot()
	t.Logf("%d commits, largest %d", commits, largest)
	if writes != n {
		t.Fatalf("commits carried %d writes, want %d", writes, n)
	}
	// 32 × 45 KiB in the LSM alone is > 2 max batches.
	if commits < 3 {
		t.Fatalf("only %d commits for ~2 MiB of writes: batch was not split?", commits)
	}
	if largest < 2 {
		t.Fatalf("no commit carried more than one write")
	}

	check := func(s *Store) {
		t.Helper()
		err := s.View(func(r *ReadTx) error {
			for i := range n {
				id := fmt.Sprintf("big%02d", i)
				m, err := r.Message(id)
				if err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				if !bytes.Equal(m.Envelope, payload(id, envSize(i))) {
					return fmt.Errorf("%s: envelope differs", id)
				}
			}
			if _, err := r.Message("huge0"); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("oversized update left huge0 (err=%v)", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkOutboxSeqs(t, s, n)
		mustVerifyAudit(t, s, n)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir)
	check(s2)
}

// ---------------------------------------------------------------------------
// close and cancellation

func TestCloseDrainsQueue(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	release := blockCommitter(t, s)
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), enqueueWithAudit(fmt.Sprintf("m%02d", i), "p", 100))
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Close cannot finish while the committer is busy.
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with writes still queued", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("queued update %d: %v", i, err)
		}
	}

	if err := s.Update(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.View(func(*ReadTx) error { return nil }); err == nil {
		t.Fatal("View after Close succeeded")
	}

	s2, _ := openStore(t, dir)
	if got := countPrefix(t, s2, "msg/"); got != n {
		t.Fatalf("%d messages after drain, want %d", got, n)
	}
	checkOutboxSeqs(t, s2, n)
	mustVerifyAudit(t, s2, n)
}

func TestCloseRacingUpdates(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	var acked atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := s.Update(context.Background(), enqueueWithAudit(fmt.Sprintf("g%02d-%05d", g, i), "p", 50))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				acked.Add(1)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2, _ := openStore(t, dir)
	n := acked.Load()
	// Every acknowledged write is there; nothing unacknowledged is.
	if got := countPrefix(t, s2, "msg/"); int64(got) != n {
		t.Fatalf("%d messages stored, %d acknowledged", got, n)
	}
	checkOutboxSeqs(t, s2, int(n))
	mustVerifyAudit(t, s2, uint64(n))
	t.Logf("%d updates acknowledged before Close", n)
}

func TestUpdateContextCanceledWhileQueueFull(t *testing.T) {
	s, _ := openStore(t, t.TempDir(), func(o *Options) { o.MaxBatch = 1 })
	release := blockCommitter(t, s)
	queued := make(chan error, 2)
	for _, id := range []string{"queued", "queued2"} {
		go func() {
			queued <- s.Update(context.Background(), func(tx *Tx) error { return tx.PutMessage(newMsg(id, "p", 10)) })
		}()
	}
	// The committer holds one, waiting for the blocking commit; the other
	// fills the queue (capacity MaxBatch=1).
	waitQueued(t, s, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, func(tx *Tx) error { return tx.PutMessage(newMsg("late", "p", 10)) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update with expired ctx = %v, want DeadlineExceeded", err)
	}
	release()
	for range 2 {
		if err := <-queued; err != nil {
			t.Fatal(err)
		}
	}
	err = s.View(func(r *ReadTx) error {
		if _, err := r.Message("queued"); err != nil {
			return err
		}
		if _, err := r.Message("late"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("canceled update was applied (err=%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// encryption at rest

// fileContains reports whether any file under dir contains needle.
func fileContains(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	marker := "CLASSIFIED-7f3a9c1e-request-kind"
	write := func(dir string, key []byte) {
		t.Helper()
		s, _ := openStore(t, dir, func(o *Options) { o.EncryptionKey = key })
		err := s.Update(ctx, func(tx *Tx) error {
			return tx.PutCase(&Case{ID: "c1", Kind: marker, CreatedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Control: without a key the marker is on disk in the clear, so the
	// check below means something.
	plainDir := t.TempDir()
	write(plainDir, nil)
	if !fileContains(t, plainDir, []byte(marker)) {
		t.Fatal("control: plaintext marker not found in an unencrypted store")
	}

	key := bytes.Repeat([]byte{0x42}, 32)
	dir := t.TempDir()
	write(dir, key)
	if fileContains(t, dir, []byte(marker)) {
		t.Fatal("plaintext found in the encrypted store's files")
	}

	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"no key", nil},
		{"wrong key", bytes.Repeat([]byte{0x43}, 32)},
	} {
		s, err := Open(Options{Dir: dir, Profile: ProfileSmall, EncryptionKey: tc.key, Logger: testLogger(t)})
		if err == nil {
			s.Close()
			t.Fatalf("%s: opening the encrypted store succeeded", tc.name)
		}
		t.Logf("%s: %v", tc.name, err)
	}

	s, _ := openStore(t, dir, func(o *Options) { o.EncryptionKey = key })
	err := s.View(func(r *ReadTx) error {
		c, err := r.Case("c1")
		if err == nil && c.Kind != marker {
			err = fmt.Errorf("kind %q", c.Kind)
		}
		return err
	})
	if err != nil {
		t.Fatalf("read with the right key: %v", err)
	}
}

func TestLoadEncryptionKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{7}, n), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}
	for _, n := range []int{16, 24, 32} {
		p := write(fmt.Sprint("ok", n), n, 0o600)
		k, err := LoadEncryptionKey(p)
		if err != nil || len(k) != n {
			t.Errorf("%d-byte key: len %d, %v", n, len(k), err)
		}
	}
	for _, tc := range []struct {
		name string
		n    int
		mode os.FileMode
		want string
	}{
		{"world-readable", 32, 0o644, "chmod 600"},
		{"group-readable", 32, 0o640, "chmod 600"},
		{"short", 31, 0o600, "got 31"},
		{"long", 33, 0o600, "got 33"},
		{"empty", 0, 0o600, "got 0"},
	} {
		p := write(tc.name, tc.n, tc.mode)
		k, err := LoadEncryptionKey(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LoadEncryptionKey = %d bytes, %v; want error mentioning %q", tc.name, len(k), err, tc.want)
		}
	}
	if _, err := LoadEncryptionKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// ---------------------------------------------------------------------------
// crash durability (SIGKILL a writer process)

const (
	crashDirEnv   = "VIGIL_STORE_CRASH_DIR"
	crashRoundEnv = "VIGIL_STORE_CRASH_ROUND"
	crashEnvSize  = 6 << 10 // ~8 KiB of JSON per message: memtables rotate across rounds
)

// TestHelperCrashWriter is not a test: TestCrashDurability runs the test
// binary again with it selected, as a writer process to kill.
func TestHelperCrashWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashDurability")
	}
	round := os.Getenv(crashRoundEnv)
	s, err := Open(Options{Dir: dir, Profile: ProfileSmall})
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-w%d-%06d", round, w, i)
				if err := s.Update(context.Background(), enqueueWithAudit(id, fmt.Sprint("peer", w%3), crashEnvSize)); err != nil {
					mu.Lock()
					fmt.Printf("ERR %s: %v\n", id, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ACK %s\n", id) // os.Stdout is unbuffered: one write(2) per line
				mu.Unlock()
			}
		}()
	}
	time.Sleep(60 * time.Second) // the parent kills us long before this
	fmt.Println("ERR not killed")
	os.Exit(4)
}

// runAndKill starts a writer process on dir, waits for want acknowledged
// writes, SIGKILLs it and returns every ID it acknowledged.
func runAndKill(t *testing.T, dir string, round, want int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprint(crashRoundEnv, "=", round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill() // SIGKILL
		}
	}
	timer := time.AfterFunc(45*time.Second, kill)
	defer timer.Stop()

	var acked []string
	var errLines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ACK "):
			acked = append(acked, strings.TrimPrefix(line, "ACK "))
			if len(acked) == want {
				kill()
			}
		case strings.HasPrefix(line, "ERR "):
			errLines = append(errLines, line)
		}
	}
	// Lines still in the pipe after the kill were acknowledged before it;
	// the scanner has read them all (EOF).
	waitErr := cmd.Wait()
	if len(errLines) > 0 || len(acked) < want {
		t.Fatalf("round %d: writer acknowledged %d/%d (wait: %v)\n%s\nstderr:\n%s",
			round, len(acked), want, waitErr, strings.Join(errLines, "\n"), stderr.String())
	}
	if !killed {
		t.Fatalf("round %d: writer exited on its own: %v", round, waitErr)
	}
	return acked
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	dir := t.TempDir()
	var acked []string
	const rounds, perRound = 3, 300
	for round := range rounds {
		ids := runAndKill(t, dir, round, perRound)
		acked = append(acked, ids...)

		s, _ := openStore(t, dir)
		err := s.View(func(r *ReadTx) error {
			for _, id := range acked {
				m, err := r.Message(id)
				if err != nil {
					return fmt.Errorf("acknowledged %s lost: %w", id, err)
				}
				if !bytes.Equal(m.Envelope, payload(id, crashEnvSize)) || m.OutboxSeq == 0 {
					return fmt.Errorf("acknowledged %s corrupted", id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("after kill %d: %v", round+1, err)
		}
		// Every committed update wrote one message, one outbox entry and
		// one audit record atomically; unacknowledged ones may or may not
		// have made it, but never partially.
		msgs := countPrefix(t, s, "msg/")
		outs := countPrefix(t, s, "out/")
		if msgs < len(acked) || outs != msgs {
			t.Fatalf("after kill %d: %d messages, %d outbox entries, %d acknowledged", round+1, msgs, outs, len(acked))
		}
		checkOutboxSeqs(t, s, msgs)
		mustVerifyAudit(t, s, uint64(msgs))
		t.Logf("kill %d: %d acknowledged this round (%d total), %d stored", round+1, len(ids), len(acked), msgs)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// ---------------------------------------------------------------------------
// disk full

// fakeFree replaces the store's free-space probe; install before any Update.
type fakeFree struct {
	mu    sync.Mutex
	free  []uint64 // answers for successive probes; the last one repeats
	calls int
}

func (f *fakeFree) probe() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.free[min(f.calls, len(f.free)-1)]
	f.calls++
	return v, nil
}

func TestDiskFullGuard(t *testing.T) {
	ctx := context.Background()
	s, stats := openStore(t, t.TempDir(), func(o *Options) { o.MinFreeBytes = 1 << 20 })
	ff := &fakeFree{free: []uint64{1 << 30, 1 << 20, 1 << 30}}
	s.freeBytes = ff.probe
	if err := s.Update(ctx, enqueueWithAudit("m1", "p", 100)); err != nil {
		t.Fatalf("with space: %v", err)
	}
	// Exactly MinFreeBytes left: the write itself does not fit.
	err := s.Update(ctx, enqueueWithAudit("m2", "p", 100))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("nearly full: Update = %v, want ErrDiskFull", err)
	}
	if err := s.Update(ctx, enqueueWithAudit("m3", "p", 100)); err != nil {
		t.Fatalf("space again: %v", err)
	}
	if _, writes, _ := stats.snapshot(); writes != 2 {
		t.Fatalf("%d writes committed, want 2", writes)
	}
	checkExactly(t, s, []string{"m1", "m3"}, []string{"m2"})

	// Negative MinFreeBytes turns the check off.
	s2, _ := openStore(t, t.TempDir(), func(o *Options) { o.MinFreeBytes = -1 })
	s2.freeBytes = (&fakeFree{free: []uint64{0}}).probe
	if err := s2.Update(ctx, enqueueWithAudit("m1", "p", 100)); err != nil {
		t.Fatalf("check disabled: %v", err)
	}
}

// TestCommitFailureMidBatch: when a batch is split because it is too big
// and the first part fails to commit, the request that forced the split
// read that part's writes (outbox counter, audit head). It must fail too,
// not be committed with values derived from lost writes.
func TestCommitFailureMidBatch(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir, func(o *Options) { o.MinFreeBytes = 1 })
	// The first commit finds the disk full, later ones do not.
	s.freeBytes = (&fakeFree{free: []uint64{0, 1 << 40}}).probe

	release := blockCommitter(t, s)
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), enqueueWithAudit(fmt.Sprintf("big%02d", i), "p", 45<<10))
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()

	var ok, failed []string
	for i, err := range errs {
		id := fmt.Sprintf("big%02d", i)
		switch {
		case err == nil:
			ok = append(ok, id)
		case errors.Is(err, ErrDiskFull):
			failed = append(failed, id)
		default:
			t.Fatalf("%s: %v", id, err)
		}
	}
	t.Logf("%d failed with the first commit, %d committed", len(failed), len(ok))
	// ~10 of these fit in one transaction.
	if len(failed) < 2 || len(ok) < 2 {
		t.Fatalf("want both failures and successes: %d failed, %d ok", len(failed), len(ok))
	}
	checkExactly(t, s, ok, failed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir)
	checkExactly(t, s2, ok, failed)
}

const (
	diskFillDirEnv  = "VIGIL_STORE_DISKFILL_DIR"
	diskFillAckEnv  = "VIGIL_STORE_DISKFILL_ACKS" // set: verify these instead of filling
	diskFillMaxSize = 20000
)

func diskFillEnvSize(i int) int {
	if i%4 == 3 {
		return 80 << 10 // to the value log
	}
	return 30 << 10 // ~40 KiB JSON in the LSM tree
}

// TestHelperDiskFillWriter is not a test: TestDiskFull runs it in child
// processes, so that a crash (Badger faults with SIGBUS when an mmapped
// file cannot grow) fails the test instead of killing the test binary and
// leaving the tmpfs mounted. It either fills the disk, printing what was
// acknowledged, or reopens the store and verifies a list of acknowledged
// writes.
func TestHelperDiskFillWriter(t *testing.T) {
	dir := os.Getenv(diskFillDirEnv)
	if dir == "" {
		t.Skip("helper process for TestDiskFull")
	}
	if acks := os.Getenv(diskFillAckEnv); acks != "" {
		verifyDiskFill(t, dir, acks)
		return
	}
	s, err := Open(Options{Dir: dir, Profile: ProfileSmall})
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > diskFillMaxSize {
					return
				}
				id := fmt.Sprintf("m%06d", i)
				err := s.Update(context.Background(), enqueueWithAudit(id, "p", diskFillEnvSize(i)))
				mu.Lock()
				if err != nil {
					fmt.Printf("FULL %v %v\n", errors.Is(err, ErrDiskFull), err)
				} else {
					fmt.Printf("ACK %d\n", i)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	fmt.Printf("CLOSE %v\n", s.Close())
	os.Exit(0)
}

// verifyDiskFill reopens the store and checks that every write listed in
// the acks file (one index per line) is there, and nothing else.
func verifyDiskFill(t *testing.T, dir, acks string) {
	b, err := os.ReadFile(acks)
	if err != nil {
		t.Fatal(err)
	}
	var acked []int
	for f := range strings.FieldsSeq(string(b)) {
		var i int
		if _, err := fmt.Sscan(f, &i); err != nil {
			t.Fatalf("acks file: %q", f)
		}
		acked = append(acked, i)
	}
	s, _ := openStore(t, dir)
	err = s.View(func(r *ReadTx) error {
		for _, i := range acked {
			id := fmt.Sprintf("m%06d", i)
			m, err := r.Message(id)
			if err != nil {
				return fmt.Errorf("acknowledged %s: %w", id, err)
			}
			if !bytes.Equal(m.Envelope, payload(id, diskFillEnvSize(i))) {
				return fmt.Errorf("acknowledged %s: envelope corrupted", id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	// Refused writes left nothing behind.
	if n := countPrefix(t, s, "msg/"); n != len(acked) {
		t.Fatalf("%d messages stored, %d acknowledged", n, len(acked))
	}
	checkOutboxSeqs(t, s, len(acked))
	mustVerifyAudit(t, s, uint64(len(acked)))
	// Close flushed the memtable and removed its WAL, so there may be room
	// again; either way the store keeps working or refuses cleanly.
	err = s.Update(context.Background(), enqueueWithAudit("after", "p", 30<<10))
	if err != nil && !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Update after reopen on a full disk = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fmt.Printf("VERIFIED %d; one more write: %v\n", len(acked), err)
}

// runHelper runs the test binary's TestHelperDiskFillWriter with env and
// returns its stdout; any failure (including death by signal) fails t.
func runHelper(t *testing.T, what string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDiskFillWriter$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("%s process ran %v", what, time.Since(start).Round(time.Millisecond))
	if err != nil {
		tail := func(b []byte) string { return string(b[max(0, len(b)-3000):]) }
		t.Fatalf("%s process: %v (a fault here means a full disk crashed Badger)\nstdout tail:\n%s\nstderr tail:\n%s",
			what, err, tail(out), tail(stderr.Bytes()))
	}
	return string(out)
}

// TestDiskFull fills a small tmpfs: Update must report the failure, and
// everything acknowledged before it must survive a reopen.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("no mount command")
	}
	// 8 MiB is below the small profile's reserve (32 MiB): every write is
	// refused. 64 MiB takes ~30 MiB before filling up, across several
	// memtable flushes and compactions.
	for _, size := range []string{"8m", "64m"} {
		t.Run(size, func(t *testing.T) { diskFull(t, size) })
	}
}

func diskFull(t *testing.T, size string) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { // before TempDir's removal
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "db")

	out := runHelper(t, "writer", diskFillDirEnv+"="+dir)
	var acked, full []string
	closeLine := ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "ACK "):
			acked = append(acked, strings.TrimPrefix(line, "ACK "))
		case strings.HasPrefix(line, "FULL "):
			full = append(full, line)
		case strings.HasPrefix(line, "CLOSE "):
			closeLine = line
		case strings.HasPrefix(line, "ERR "):
			t.Fatal(line)
		}
	}
	if len(full) == 0 {
		t.Fatalf("%s tmpfs: %d writes and no error", size, len(acked))
	}
	for _, f := range full {
		if !strings.HasPrefix(f, "FULL true ") {
			t.Errorf("write failed with something other than ErrDiskFull: %s", f)
		}
	}
	t.Logf("%s tmpfs: %d acknowledged, then: %s; %s", size, len(acked), full[0], closeLine)
	if size != "8m" && len(acked) < 100 {
		t.Fatalf("only %d writes fit in a %s tmpfs", len(acked), size)
	}
	if closeLine != "CLOSE <nil>" {
		t.Errorf("Close on a full disk: %q", closeLine)
	}

	acks := filepath.Join(t.TempDir(), "acks")
	if err := os.WriteFile(acks, []byte(strings.Join(acked, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out = runHelper(t, "verifier", diskFillDirEnv+"="+dir, diskFillAckEnv+"="+acks)
	i := strings.Index(out, "VERIFIED ")
	if i < 0 {
		t.Fatalf("verifier did not finish:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i:], "\n")
	t.Log(line)
}
