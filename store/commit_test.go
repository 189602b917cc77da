package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// An Update that finds no commit running commits on its own goroutine;
// one that finds a commit running queues, and the committer folds it
// into the next commit with the others queued.
func TestLoneUpdateCommitsOnItsCaller(t *testing.T) {
	s, stats := openStore(t, t.TempDir())
	ctx := context.Background()
	const lone = 5
	for i := range lone {
		if err := s.Update(ctx, enqueueWithAudit(fmt.Sprintf("lone%d", i), "p", 100)); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Commits != lone || st.CallerCommits != lone {
		t.Fatalf("after %d sequential updates: %d commits, %d by their callers; want %d of %d", lone, st.Commits, st.CallerCommits, lone, lone)
	}

	// A commit is running (its caller's fn waits): the next updates queue.
	release := blockCommitter(t, s)
	const queuedN = 6
	errs := make(chan error, queuedN)
	for i := range queuedN {
		go func() { errs <- s.Update(ctx, enqueueWithAudit(fmt.Sprintf("q%d", i), "p", 100)) }()
	}
	waitQueued(t, s, queuedN)
	release()
	for range queuedN {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st = s.Stats()
	if st.Commits != lone+1 || st.CallerCommits != lone {
		t.Fatalf("after the queued updates: %d commits, %d by their callers; want %d, %d", st.Commits, st.CallerCommits, lone+1, lone)
	}
	if _, _, largest := stats.snapshot(); largest != queuedN {
		t.Fatalf("largest commit held %d writes, want the %d queued", largest, queuedN)
	}

	// The A/B switch of the benchmarks sends every update to the committer.
	s.viaCommitter.Store(true)
	if err := s.Update(ctx, enqueueWithAudit("via", "p", 100)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits != lone+2 || st.CallerCommits != lone {
		t.Fatalf("via the committer: %d commits, %d by their callers; want %d, %d", st.Commits, st.CallerCommits, lone+2, lone)
	}
	mustVerifyAudit(t, s, lone+queuedN+1)
}

// Close waits for a commit its caller runs, even with nothing queued
// behind it, so Badger is never closed under a commit.
func TestCloseWaitsForACallersCommit(t *testing.T) {
	dir := t.TempDir()
	s, _ := openStore(t, dir)
	staged, rel := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx *Tx) error {
			close(staged)
			<-rel
			return enqueueWithAudit("last", "p", 100)(tx)
		})
	}()
	<-staged
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-s.quit: // Close has begun
	case <-time.After(10 * time.Second):
		t.Fatal("Close never began")
	}
	close(rel)
	if err := <-done; err != nil {
		t.Fatalf("the update running when Close began: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, _ := openStore(t, dir)
	if got := countPrefix(t, s2, "msg/"); got != 1 {
		t.Fatalf("%d messages after reopen, want the acknowledged one", got)
	}
	mustVerifyAudit(t, s2, 1)
}

const (
	panicDirEnv  = "VIGIL_STORE_PANIC_DIR"
	panicModeEnv = "VIGIL_STORE_PANIC_MODE"
)

// TestHelperPanickingHandler commits from an HTTP handler whose store
// function panics. net/http recovers a handler's panic; the store must
// end the process instead, as a panic on its committer goroutine does
// (crashUnlessFinished says why).
func TestHelperPanickingHandler(t *testing.T) {
	dir := os.Getenv(panicDirEnv)
	if dir == "" {
		t.Skip("helper process for TestPanicInACommitEndsTheProcess")
	}
	s, err := Open(Options{Dir: dir, Profile: ProfileSmall})
	if err != nil {
		fmt.Printf("ERR open: %v\n", err)
		os.Exit(2)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = s.Update(r.Context(), func(*Tx) error {
			if os.Getenv(panicModeEnv) == "goexit" {
				runtime.Goexit() // as t.FailNow in a store function
			}
			panic("boom in a store function")
		})
	}))
	_, err = http.Get(srv.URL)
	fmt.Printf("SURVIVED the panic (%v)\n", err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = s.Update(ctx, enqueueWithAudit("after", "p", 10))
	fmt.Printf("SURVIVED: next update: %v\n", err)
	os.Exit(0)
}

func TestPanicInACommitEndsTheProcess(t *testing.T) {
	for mode, want := range map[string]string{
		"panic":  "store commit: boom in a store function",
		"goexit": "store commit: the committing goroutine exited (runtime.Goexit)",
	} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPanickingHandler$")
			cmd.Env = append(os.Environ(), panicDirEnv+"="+t.TempDir(), panicModeEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("the process survived a %s in a commit (err %v):\n%s", mode, err, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the crash does not say %q:\n%s", want, out)
			}
			if strings.Contains(string(out), "SURVIVED") {
				t.Fatalf("the handler went on:\n%s", out)
			}
		})
	}
}
