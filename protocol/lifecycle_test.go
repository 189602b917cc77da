package protocol_test

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// budapest are the terms of a preservation case between two Parties to the
// Budapest Convention, with no reservation.
var budapest = protocol.Terms{Kind: protocol.KindPreservation, Treaty: protocol.TreatyBudapest, ResponderZone: "UTC", Traffic: true}

// ev builds an event from a full action, through MetaOf as a node does
// when it stores the message.
func ev(id string, by protocol.Role, a *protocol.Action) protocol.Event {
	return protocol.Event{MessageID: id, By: by, At: t0.Add(time.Duration(len(id)) * time.Minute), Meta: protocol.MetaOf(a)}
}

func act(name protocol.ActionName, seq uint64, kv ...string) *protocol.Action {
	a := &protocol.Action{Action: name, Seq: seq, Operator: "Duty officer"}
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "text":
			a.Text = kv[i+1]
		case "start":
			a.StartDate = kv[i+1]
		case "expiry":
			a.ExpiryDate = kv[i+1]
		case "outcome":
			a.Outcome = kv[i+1]
		case "ref":
			a.MLAReference = kv[i+1]
		case "review":
			a.ReviewBy = kv[i+1]
		case "decision":
			a.Decision = kv[i+1]
		}
	}
	return a
}

func confirm(seq uint64) *protocol.Action {
	a := act(protocol.ActConfirmPreservation, seq, "start", "2026-03-01")
	a.ExecutingAuthority, a.DomesticLegalBasis, a.PeriodDays = "BKA", "StPO", 90
	return a
}

// preservationCase is a full, in-order preservation lifecycle with an
// invalid action and an undecodable payload in between.
func preservationCase() []protocol.Event {
	return []protocol.Event{
		ev("01", protocol.Responder, act(protocol.ActAcknowledge, 1)),
		ev("02", protocol.Responder, act(protocol.ActRequestInfo, 2, "text", "which zone?")),
		ev("03", protocol.Requester, act(protocol.ActProvideInfo, 3, "text", "UTC")),
		ev("04", protocol.Requester, act(protocol.ActRefuse, 4, "text", "not mine")), // wrong role and fields
		ev("05", protocol.Responder, confirm(5)),
		ev("06", protocol.Requester, &protocol.Action{Action: protocol.ActRequestExtension, Seq: 6, Operator: "x", PeriodDays: 30}),
		ev("07", protocol.Responder, act(protocol.ActConfirmExtension, 7, "expiry", "2026-08-01")),
		{MessageID: "08", By: protocol.Requester, At: t0, Meta: protocol.MetaOf(nil)},
		ev("09", protocol.Requester, &protocol.Action{Action: protocol.ActMLASubmitted, Seq: 8, Operator: "x", MLAReference: "MLA/1"}),
		ev("10", protocol.Responder, act(protocol.ActRelease, 9)), // during the period: refused (Art. 29(7))
		ev("11", protocol.Responder, act(protocol.ActMLAReceived, 10, "ref", "MLA/1", "review", "2026-04-01")),
		ev("12", protocol.Responder, act(protocol.ActMLADecided, 11, "decision", "granted")),
		ev("13", protocol.Responder, act(protocol.ActRelease, 12)),
		ev("14", protocol.Requester, act(protocol.ActClose, 13, "outcome", "completed")),
	}
}

func stripped(cs protocol.CaseState) protocol.CaseState {
	cs.History = nil
	return cs
}

func invalidIDs(h []protocol.EventResult) map[string]string {
	out := map[string]string{}
	for _, r := range h {
		if r.Invalid != "" {
			out[r.MessageID] = r.Invalid
		}
	}
	return out
}

// keepCase simulates how a node keeps a case: it applies each arriving event
// with Advance and falls back to a full Replay only when Advance refuses.
// It returns the final state, the invalid events and how many replays ran.
func keepCase(terms protocol.Terms, arrivals []protocol.Event) (protocol.CaseState, map[string]string, int) {
	cs := protocol.CaseState{State: protocol.StateOpen}
	invalid := map[string]string{}
	replays := 0
	for i, e := range arrivals {
		next, res, ok := protocol.Advance(terms, cs, e)
		if ok {
			cs = stripped(next)
			if res.Invalid != "" {
				invalid[e.MessageID] = res.Invalid
			}
			continue
		}
		replays++
		full := protocol.Replay(terms, arrivals[:i+1])
		invalid = invalidIDs(full.History)
		cs = stripped(full)
	}
	return cs, invalid, replays
}

func TestAdvanceMatchesReplayInOrder(t *testing.T) {
	evs := preservationCase()
	for n := 0; n <= len(evs); n++ {
		want := protocol.Replay(budapest, evs[:n])
		got, invalid, replays := keepCase(budapest, evs[:n])
		if replays != 0 {
			t.Fatalf("prefix %d: in-order events needed %d full replays", n, replays)
		}
		if !reflect.DeepEqual(got, stripped(want)) {
			t.Fatalf("prefix %d:\nincremental %+v\nreplay      %+v", n, got, stripped(want))
		}
		if w := invalidIDs(want.History); !reflect.DeepEqual(invalid, w) {
			t.Fatalf("prefix %d: invalid %v, replay says %v", n, invalid, w)
		}
	}
	final := protocol.Replay(budapest, evs)
	if final.State != protocol.StateClosed || final.Seq != 13 || final.Outcome != "completed" || final.LastMessageID != "14" ||
		final.AcknowledgedAt.IsZero() || !final.ExpiresAt.IsZero() || final.Hold {
		t.Fatalf("unexpected final state %+v", stripped(final))
	}
	if got := invalidIDs(final.History); len(got) != 3 || got["04"] == "" || got["08"] == "" || got["10"] == "" {
		t.Fatalf("want 04 (bad fields), 08 (undecodable) and 10 (release in the period) invalid, got %v", got)
	}
}

func TestAdvanceRefusesOutOfOrder(t *testing.T) {
	ack := ev("01", protocol.Responder, act(protocol.ActAcknowledge, 1))
	// A withdrawal crossing a confirmation: both seq 2. Replay order puts
	// the lower message ID first, whichever arrives first.
	withdraw := ev("0a", protocol.Requester, act(protocol.ActWithdraw, 2))
	conf := ev("0b", protocol.Responder, confirm(2))
	kind := budapest

	base := protocol.Replay(kind, []protocol.Event{ack, conf})
	if _, _, ok := protocol.Advance(kind, stripped(base), withdraw); ok {
		t.Fatal("Advance applied an event that sorts before one already applied")
	}
	// Arriving in replay order it applies, and is judged as Replay does.
	base = protocol.Replay(kind, []protocol.Event{ack, withdraw})
	next, res, ok := protocol.Advance(kind, stripped(base), conf)
	if !ok || res.Invalid == "" || next.State != protocol.StateWithdrawn || next.LastMessageID != "0b" {
		t.Fatalf("in-order crossing confirmation: ok=%v res=%+v state=%+v", ok, res, stripped(next))
	}
	// A lower seq than the case's is out of order too.
	late := ev("ff", protocol.Responder, act(protocol.ActRequestInfo, 1, "text", "?"))
	if _, _, ok := protocol.Advance(kind, stripped(next), late); ok {
		t.Fatal("Advance applied a stale seq")
	}
	// An event that can never apply changes nothing wherever it sorts, so
	// it advances even out of order, without moving LastMessageID.
	junk := protocol.Event{MessageID: "00", By: protocol.Requester, Meta: protocol.MetaOf(nil)}
	after, res, ok := protocol.Advance(kind, stripped(next), junk)
	if !ok || res.Invalid == "" || after.State != next.State || after.LastMessageID != "0b" || after.Seq != 2 {
		t.Fatalf("undecodable out-of-order event: ok=%v res=%+v state=%+v", ok, res, stripped(after))
	}
	want := protocol.Replay(kind, []protocol.Event{ack, withdraw, conf, junk})
	if !reflect.DeepEqual(stripped(after), stripped(want)) {
		t.Fatalf("incremental %+v, replay %+v", stripped(after), stripped(want))
	}
}

// TestAdvanceWithFallbackConverges delivers the same events in many
// orders, as two nodes with crossing actions see them: applying each with
// Advance and replaying only when it refuses always ends where one full
// Replay does.
func TestAdvanceWithFallbackConverges(t *testing.T) {
	base := preservationCase()
	// Crossing actions at the same seq as existing ones.
	extra := []protocol.Event{
		ev("5a", protocol.Requester, act(protocol.ActWithdraw, 5)),
		ev("7a", protocol.Responder, act(protocol.ActRelease, 7)),
		ev("2a", protocol.Responder, act(protocol.ActAcknowledge, 2)),
	}
	all := append(append([]protocol.Event(nil), base...), extra...)
	want := protocol.Replay(budapest, all)
	rng := rand.New(rand.NewSource(9))
	sawReplay := false
	for i := 0; i < 200; i++ {
		order := append([]protocol.Event(nil), all...)
		if i > 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		} else {
			sort.Slice(order, func(a, b int) bool { return order[a].MessageID < order[b].MessageID })
		}
		got, invalid, replays := keepCase(budapest, order)
		sawReplay = sawReplay || replays > 0
		if !reflect.DeepEqual(got, stripped(want)) {
			t.Fatalf("order %d %v:\nincremental %+v\nreplay      %+v", i, ids(order), got, stripped(want))
		}
		if w := invalidIDs(want.History); !reflect.DeepEqual(invalid, w) {
			t.Fatalf("order %d: invalid %v, replay says %v", i, invalid, w)
		}
	}
	if !sawReplay {
		t.Fatal("no order needed a replay; the test does not exercise the fallback")
	}
}

func ids(evs []protocol.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s/%d ", e.MessageID, e.Meta.Seq)
	}
	return s
}

func TestMetaOf(t *testing.T) {
	if m := protocol.MetaOf(nil); m.Invalid == "" || m.Seq != 0 {
		t.Fatalf("undecodable payload: %+v", m)
	}
	m := protocol.MetaOf(confirm(3))
	if m.Invalid != "" || m.Seq != 3 || m.Operator != "Duty officer" || m.StartDate != "2026-03-01" || m.PeriodDays != 90 {
		t.Fatalf("confirmation: %+v", m)
	}
	bad := confirm(4)
	bad.PeriodDays = 10 // below Art. 29(7)'s minimum
	if m := protocol.MetaOf(bad); m.Invalid == "" || m.StartDate != "" || m.Seq != 4 {
		t.Fatalf("invalid confirmation: %+v", m)
	}
	if m := protocol.MetaOf(act(protocol.ActClose, 5, "outcome", "withdrawn")); m.Outcome != "withdrawn" || m.Invalid != "" {
		t.Fatalf("close: %+v", m)
	}
}

// The scheduler, the open-case metric and the admission quota ask one
// question, "is this case over?"; the answer is the states close leads from.
func TestTerminalStates(t *testing.T) {
	want := map[protocol.State]bool{
		protocol.StateClosed: true, protocol.StateRefused: true, protocol.StateWithdrawn: true,
		protocol.StateReleased: true, protocol.StateAnswered: true, protocol.StateDataProvided: true,
	}
	for _, s := range []protocol.State{protocol.StateOpen, protocol.StateAcknowledged, protocol.StateInfoRequested,
		protocol.StatePreserved, protocol.StateInsufficient, protocol.StateExtensionRequested, protocol.StateMLAPending,
		protocol.StateRefused, protocol.StateWithdrawn, protocol.StateReleased, protocol.StateDetermined,
		protocol.StateConditionsAccepted, protocol.StateConditionsRejected, protocol.StateAnswered, protocol.StateClosed,
		protocol.StateConditionsProposed, protocol.StateDataProvided, protocol.StateMLADecided, protocol.StatePostponed} {
		if got := protocol.Terminal(s); got != want[s] {
			t.Errorf("Terminal(%s) = %v, want %v", s, got, want[s])
		}
	}
}
