package alerts

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// TestAlertHooksBounded: a webhook that hangs holds at most hook_workers
// calls and hook_queue waiting alerts; dispatch never blocks, and what does
// not fit is counted, not queued without bound (issue 9: alert hooks run
// through a bounded worker pool).
func TestAlertHooksBounded(t *testing.T) {
	const workers, queue, alerts = 2, 4, 30
	var (
		inFlight, maxInFlight, served atomic.Int32
		release                       = make(chan struct{})
		once                          sync.Once
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		for {
			old := maxInFlight.Load()
			if cur <= old || maxInFlight.CompareAndSwap(old, cur) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		served.Add(1)
	}))
	defer srv.Close()
	defer once.Do(func() { close(release) })

	var dropped atomic.Int32
	h := NewHooks(HookOptions{Webhook: srv.URL, Queue: queue}, zap.NewNop(), func() { dropped.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() { defer wg.Done(); h.Run(ctx) }()
	}
	// Let the workers pick up their first alert and hang on it.
	h.Dispatch(&store.Alert{ID: "a0", Kind: AckOverdue})
	h.Dispatch(&store.Alert{ID: "a1", Kind: AckOverdue})
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < workers && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if inFlight.Load() != workers {
		t.Fatalf("%d webhook calls in flight, want %d", inFlight.Load(), workers)
	}
	for i := 2; i < alerts; i++ { // returns although every worker hangs
		h.Dispatch(&store.Alert{ID: "a", Kind: AckOverdue})
	}
	if got := dropped.Load(); got != alerts-workers-queue {
		t.Fatalf("dropped %d alerts, want %d (only %d wait)", got, alerts-workers-queue, queue)
	}
	once.Do(func() { close(release) })
	for served.Load() < workers+queue && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if served.Load() != workers+queue {
		t.Fatalf("webhook served %d alerts, want %d", served.Load(), workers+queue)
	}
	if maxInFlight.Load() > workers {
		t.Fatalf("%d webhook calls ran at once, want at most %d", maxInFlight.Load(), workers)
	}
	cancel()
	wg.Wait() // the workers stop with their context
}
