package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vigil-network/vigil/node/events"
	"github.com/vigil-network/vigil/store"
)

// Events is the node's change-notice hub (*events.Hub): it carries IDs;
// the console stream renders each one for its subscriber.
type Events interface {
	Subscribe() (<-chan events.Event, func())
}

// HeartbeatEvery is how often the event stream sends a ping event. The
// console declares the node "not answering" when about two are missed, so
// this bounds how long a hung node can look alive.
const HeartbeatEvery = 3 * time.Second

// handleEvents streams change notices to a console until it disconnects or
// the node stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		WriteError(w, http.StatusInternalServerError, "streaming unsupported", nil)
		return
	}
	ch, cancel := s.d.Events.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A kept-alive connection must not carry the stream's last deadline
	// into its next request.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	ping := fmt.Sprintf("event: ping\ndata: {\"every_ms\":%d}\n\n", HeartbeatEvery.Milliseconds())
	// send writes one event with its own deadline, so the stream outlives
	// any server write timeout while a console that stopped reading is
	// dropped.
	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(2 * HeartbeatEvery))
		if _, err := io.WriteString(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 3000\n" + ping) {
		return
	}
	beat := time.NewTicker(HeartbeatEvery)
	defer beat.Stop()
	var stopping <-chan struct{}
	if s.d.Context != nil {
		stopping = s.d.Context.Done()
	}
	for {
		var msg string
		select {
		case <-r.Context().Done():
			return
		case <-stopping:
			return
		case <-beat.C:
			// A named event, not a comment: the console's EventSource sees
			// it and counts a missing one as a node that stopped answering.
			msg = ping
		case e := <-ch:
			data, ok := s.renderEvent(e)
			if !ok {
				continue
			}
			msg = fmt.Sprintf("event: %s\ndata: %s\n\n", e.Kind, data)
		}
		if !send(msg) {
			return
		}
	}
}

// renderEvent reads what e names and encodes it for the console: a case's
// summary or an alert. A case or alert gone by now is skipped.
func (s *Server) renderEvent(e events.Event) ([]byte, bool) {
	var v any
	err := s.d.Store.View(func(tx *store.ReadTx) error {
		switch e.Kind {
		case events.CaseChanged:
			c, err := tx.Case(e.ID)
			if err != nil {
				return err
			}
			cs := s.summarize(c)
			// The row's delivery state too, so the console updates the row
			// from the event alone, without refetching the list.
			if len(c.MessageIDs) > 0 {
				if m, err := tx.Message(c.MessageIDs[0]); err == nil {
					cs.Delivery = s.deliveryState(m)
				}
			}
			v = cs
		case events.AlertRaised:
			a, err := tx.Alert(e.ID)
			if err != nil {
				return err
			}
			v = AlertOf(a)
		}
		return nil
	})
	if err != nil || v == nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}
