package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-network/vigil/node/events"
	"github.com/vigil-network/vigil/store"
)

// handleEvents streams change notices to a console until it disconnects or
// the node stops. The hub carries IDs; each event is rendered here, for
// the subscriber, from the store's current state.
func (n *Node) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported", nil)
		return
	}
	ch, cancel := n.events.Subscribe()
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
			data, ok := n.renderEvent(e)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, data)
		}
		fl.Flush()
	}
}

// renderEvent reads what e names and encodes it for the console: a case's
// summary or an alert. A case or alert gone by now is skipped.
func (n *Node) renderEvent(e events.Event) ([]byte, bool) {
	var v any
	err := n.store.View(func(tx *store.ReadTx) error {
		switch e.Kind {
		case events.CaseChanged:
			c, err := tx.Case(e.ID)
			if err != nil {
				return err
			}
			v = n.summarize(c)
		case events.AlertRaised:
			a, err := tx.Alert(e.ID)
			if err != nil {
				return err
			}
			v = a
		}
		return nil
	})
	if err != nil || v == nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}
