package api

import (
	"encoding/json"
	"fmt"
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

// handleEvents streams change notices to a console until it disconnects or
// the node stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
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
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	fl.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	var stopping <-chan struct{}
	if s.d.Context != nil {
		stopping = s.d.Context.Done()
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-stopping:
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-ch:
			data, ok := s.renderEvent(e)
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
func (s *Server) renderEvent(e events.Event) ([]byte, bool) {
	var v any
	err := s.d.Store.View(func(tx *store.ReadTx) error {
		switch e.Kind {
		case events.CaseChanged:
			c, err := tx.Case(e.ID)
			if err != nil {
				return err
			}
			v = s.summarize(c)
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
