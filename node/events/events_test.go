package events_test

import (
	"testing"

	"github.com/vigil-network/vigil/node/events"
)

func TestHubDeliversToEverySubscriber(t *testing.T) {
	var h events.Hub
	a, cancelA := h.Subscribe()
	b, cancelB := h.Subscribe()
	defer cancelB()
	h.Case("c1")
	h.Alert("a1")
	for name, ch := range map[string]<-chan events.Event{"a": a, "b": b} {
		if e := <-ch; e != (events.Event{Kind: events.CaseChanged, ID: "c1"}) {
			t.Fatalf("%s: first event %+v", name, e)
		}
		if e := <-ch; e != (events.Event{Kind: events.AlertRaised, ID: "a1"}) {
			t.Fatalf("%s: second event %+v", name, e)
		}
	}
	cancelA()
	if n := h.Subscribers(); n != 1 {
		t.Fatalf("subscribers after cancel = %d, want 1", n)
	}
	h.Case("c2")
	select {
	case e := <-a:
		t.Fatalf("cancelled subscriber got %+v", e)
	default:
	}
	if e := <-b; e.ID != "c2" {
		t.Fatalf("remaining subscriber got %+v", e)
	}
}

// A subscriber that never reads must not block publishers: it misses what
// does not fit in its buffer, and a reading subscriber still gets all.
func TestHubSlowSubscriberDoesNotBlock(t *testing.T) {
	var h events.Hub
	_, cancelSlow := h.Subscribe() // never read
	defer cancelSlow()
	fast, cancelFast := h.Subscribe()
	defer cancelFast()
	got := 0
	for i := range 10 * events.Buffer {
		h.Case("c")
		select {
		case <-fast:
			got++
		default:
			t.Fatalf("fast subscriber missed event %d", i)
		}
	}
	if got != 10*events.Buffer {
		t.Fatalf("fast subscriber got %d events", got)
	}
}

func TestHubWithoutSubscribers(t *testing.T) {
	var h events.Hub
	if n := testing.AllocsPerRun(100, func() { h.Case("c") }); n != 0 {
		t.Fatalf("publishing with no subscriber allocates %v times", n)
	}
}
