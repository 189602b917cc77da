package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-network/vigil/store"
)

// consoleEvent is one Server-Sent Event for the console: a case that changed or
// an alert that was raised. Payloads are metadata only.
type consoleEvent struct {
	Type string // "case" or "alert"
	Data []byte // JSON
}

// eventHub fans events out to console connections. A slow subscriber
// misses events rather than slowing the node; the console refetches on
// each event anyway, so a missed one is caught up by the next.
type eventHub struct {
	mu   sync.Mutex
	subs map[chan consoleEvent]struct{}
}

func (h *eventHub) subscribe() (<-chan consoleEvent, func()) {
	ch := make(chan consoleEvent, 64)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan consoleEvent]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *eventHub) publish(e consoleEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// publishCase tells consoles a case changed.
func (n *Node) publishCase(id string) {
	var c *store.Case
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		c, err = tx.Case(id)
		return err
	}); err != nil {
		return
	}
	b, err := json.Marshal(n.summarize(c))
	if err == nil {
		n.events.publish(consoleEvent{Type: "case", Data: b})
	}
}

func (n *Node) publishAlert(a *store.Alert) {
	if b, err := json.Marshal(a); err == nil {
		n.events.publish(consoleEvent{Type: "alert", Data: b})
	}
}

// handleEvents streams events to a console until it disconnects or the
// node stops.
func (n *Node) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported", nil)
		return
	}
	ch, cancel := n.events.subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	fl.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-n.ctx.Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, e.Data)
		}
		fl.Flush()
	}
}
