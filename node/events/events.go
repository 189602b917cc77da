// Package events is the node's leaf hub for change notices: the write path
// (submit, act, receive, delivery, alerts) publishes which case or alert
// changed, by ID, and subscribers such as the console's event stream render
// what they send. Publishing never reads the store, renders a view or waits
// for a subscriber, so it costs nothing on the write path when no console is
// open.
package events

import "sync"

// Kind says what changed.
type Kind string

const (
	// CaseChanged: a case was created or moved; ID is the case ID.
	CaseChanged Kind = "case"
	// AlertRaised: an alert was raised or updated; ID is the alert ID.
	AlertRaised Kind = "alert"
)

// Event names one changed object.
type Event struct {
	Kind Kind
	ID   string
}

// Buffer is how many events a subscriber may fall behind before it misses
// some. A console refetches on each event, so a missed one is caught up by
// the next.
const Buffer = 64

// Hub fans events out to subscribers. A slow subscriber misses events
// rather than slowing the node. The zero Hub is ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// Subscribe returns a channel of events and a function that ends the
// subscription. The channel is never closed, so a reader selects on its own
// context as well.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, Buffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publish sends e to every subscriber that has room, without blocking.
func (h *Hub) Publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Case publishes that case id changed.
func (h *Hub) Case(id string) { h.Publish(Event{Kind: CaseChanged, ID: id}) }

// Alert publishes that alert id was raised or updated.
func (h *Hub) Alert(id string) { h.Publish(Event{Kind: AlertRaised, ID: id}) }
