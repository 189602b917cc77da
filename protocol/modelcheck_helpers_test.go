package protocol_test

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// This file is an explicit-state model checker of the case protocol between
// a requester node and a responder node. It runs on the real transition
// table (protocol.Rules, Available, Check, Advance, Replay) and keeps each
// side's case as node/cases does: a local action is checked against the
// side's current state and, if refused, never stored; a received action is
// stored whatever it is and applied with Advance, and the case is replayed
// in (seq, message ID) order when Advance refuses; an action that does not
// apply is flagged invalid.
//
// It explores in two parts, sharing what they learn of each legal state:
//
//   - The legal state space: every state both sides can share when each
//     action is delivered at once, breadth-first over what the rules read of
//     a case (its state, period, hold and pending facts) and the day, to
//     closure. Every concrete action tried in every such state is judged
//     against Available and the law, and from every state the case must
//     still be closable.
//   - The concurrent protocol, from the opening of the case and from one
//     state per legal state reached above ("seeds"): both nodes act on what
//     they know, messages are lost, duplicated, delayed and reordered, a
//     sender's outbox resends what has no receipt, a node crashes and, on
//     restart, replays what it stored. Breadth-first over a canonical
//     encoding of the global state, bounded by the number of new local
//     actions and of faults; network moves are explored to closure within
//     those bounds. An older peer's message (one the current rules refuse,
//     or an undecodable payload) counts as a fault.
//
// The case starts open on both sides: the request has been delivered. (An
// action arriving before its request waits in a placeholder case that
// node/cases replays once the request arrives, which ends where a replay of
// everything does; that is node/cases' to test.)

const (
	mcReq  = 0 // index of the requester
	mcResp = 1 // index of the responder
)

var mcRoles = [2]protocol.Role{protocol.Requester, protocol.Responder}

// mcDays are the discrete times, in days after the request: the request
// day, within the sixty days, just after a sixty-day period (Budapest Art.
// 29(7)), and long after every period the model sets.
var mcDays = []int{0, 30, 61, 400}

// mcEvent is one action message as both nodes see it.
type mcEvent struct {
	ev    protocol.Event
	by    int    // creator: mcReq or mcResp
	label string // for traces
}

// mcMsg is the global status of one event: whether the other side stored
// it, whether its creator holds a receipt, whether a copy is in flight and
// which sides flagged it invalid.
type mcMsg struct {
	id       int32 // index in mcWorld.events
	known    bool  // stored by the side that did not create it
	acked    bool  // the creator holds a receipt and stops resending
	inFlight bool  // a copy is on the wire
	invalid  [2]bool
}

// mcSide is one node: whether it runs, and the case state it keeps (kept
// without history, as node/cases keeps it on the case record).
type mcSide struct {
	up bool
	cs protocol.CaseState
}

// mcState is one global state of the concurrent protocol.
type mcState struct {
	now    uint8 // index in mcDays
	faults uint8 // faults used: losses, duplicates, crashes, older peers' messages
	msgs   []mcMsg
	side   [2]mcSide
	idx    int32 // index in the explored graph
}

func (s *mcState) clone() *mcState {
	n := *s
	n.msgs = slices.Clone(s.msgs)
	return &n
}

// mcLaw is what the test itself expects of a concrete action when the
// rules offer it.
type mcLaw int

const (
	mcLawful   mcLaw = iota // Check must accept it
	mcUnlawful              // Check (or Validate) must refuse it
	mcDepends               // depends on time or history; safety judges it
)

// mcVariant is one concrete way of taking an action.
type mcVariant struct {
	label string
	a     protocol.Action
	law   mcLaw
	why   string // for mcUnlawful: the rule of law it breaks
}

// mcCand is a variant as judged against one state: accepted (the node
// stores and sends it) or refused (only an older peer would send it). It
// keeps the action's replay metadata (protocol.MetaOf), not the action.
type mcCand struct {
	label       string
	action      protocol.ActionName
	meta        protocol.ActionMeta
	accepted    bool
	undecodable bool
	next        protocol.State
}

// with is the candidate's metadata as the action is sent: with Seq one more
// than the case's (MetaOf copies Seq and reads nothing else of it). An
// undecodable payload has no seq.
func (c mcCand) with(seq uint64) protocol.ActionMeta {
	m := c.meta
	if !c.undecodable {
		m.Seq = seq
	}
	return m
}

func (c mcCand) String() string { return strings.TrimSpace(string(c.action) + " " + c.label) }

// mcSeqNode is one legal state both sides share.
type mcSeqNode struct {
	cs     protocol.CaseState
	now    uint8
	parent int32
	ev     *mcEvent // the action that led here; nil for the root and for time passing
	label  string
}

// mcMoveKind is a kind of move of the concurrent protocol.
type mcMoveKind uint8

const (
	mvRoot mcMoveKind = iota
	mvAct
	mvRogue
	mvDeliver
	mvDuplicate
	mvLose
	mvResend
	mvCrash
	mvRestart
	mvTime
)

// mcMove is one move, compact: it is kept for every state explored and
// spelled out only for a trace.
type mcMove struct {
	kind mcMoveKind
	side uint8 // mvCrash, mvRestart
	now  uint8 // mvTime: the day reached
	ev   int32 // the event acted on, sent or delivered
}

// mcAt says where a violation was found, for its trace: a node of the legal
// state space, or a state of the concurrent protocol.
type mcAt struct{ seq, conc int32 }

// mcReplay is a full replay of one set of stored events.
type mcReplay struct {
	cs      protocol.CaseState // without history
	invalid map[int32]bool
	history []protocol.EventResult // until safe checked it
	// movable: checked that someone can act; closable: the days (bits)
	// from which the case was found closable.
	movable  bool
	closable uint8
}

type mcKey struct{ a, b uint64 }

type mcStats struct {
	seqNodes, seqEdges, seqDepth, seeds                   int
	states, transitions, quiescent                        int
	advances, fallbacks, restarts, crashes, losses        int
	duplicates, rogues, refusedLocal, liveSearches, flags int
	applied                                               map[protocol.ActionName]int
	reached                                               map[protocol.State]bool
}

// mcWorld is one model-checking run under one set of terms.
type mcWorld struct {
	terms      protocol.Terms
	zone       *time.Location
	requestDay time.Time

	events   []mcEvent
	eventIdx map[mcEventKey]int32
	flagged  map[int32]bool

	replays  map[string]*mcReplay
	cands    map[string][]mcCand
	movable  map[string]bool
	closable map[string]bool

	seq []mcSeqNode

	// The concurrent run in progress, and the graph of all runs.
	depth, maxFaults int
	base             int // events of the seed
	seed1, seed2     maphash.Seed
	visited          map[mcKey]int32
	parent           []int32 // -1 for a run's first state
	move             []mcMove
	rootSeed         map[int32]int32

	violations map[string]string
	kinds      []string
	stats      mcStats
}

func newMCWorld(terms protocol.Terms) *mcWorld {
	zone, err := protocol.LoadZone(terms.ResponderZone)
	if err != nil {
		zone = time.UTC
	}
	return &mcWorld{terms: terms, zone: zone, requestDay: terms.LocalDay(terms.RequestedAt),
		eventIdx: map[mcEventKey]int32{}, flagged: map[int32]bool{}, replays: map[string]*mcReplay{}, cands: map[string][]mcCand{},
		movable: map[string]bool{}, closable: map[string]bool{}, seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		rootSeed: map[int32]int32{}, violations: map[string]string{},
		stats: mcStats{applied: map[protocol.ActionName]int{}, reached: map[protocol.State]bool{}}}
}

func (w *mcWorld) at(now uint8) time.Time {
	return w.terms.RequestedAt.Add(time.Duration(mcDays[now]) * 24 * time.Hour)
}

func (w *mcWorld) date(t time.Time) string { return t.In(w.zone).Format(time.DateOnly) }

// violate records the first trace of each kind of violation.
func (w *mcWorld) violate(at mcAt, kind, detail string) {
	if _, ok := w.violations[kind]; ok {
		return
	}
	w.kinds = append(w.kinds, kind)
	w.violations[kind] = detail + "\n" + w.trace(at)
}

// trace lists the moves that led to a state: the legal states both sides
// went through, then the moves of the concurrent protocol.
func (w *mcWorld) trace(at mcAt) string {
	seq := at.seq
	var conc []string
	if at.conc >= 0 {
		i := at.conc
		for ; w.parent[i] >= 0; i = w.parent[i] {
			conc = append(conc, w.describe(w.move[i]))
		}
		seq = w.rootSeed[i]
		slices.Reverse(conc)
	}
	var steps []string
	for i := seq; i > 0; i = w.seq[i].parent {
		steps = append(steps, w.seq[i].label)
	}
	slices.Reverse(steps)
	var b strings.Builder
	fmt.Fprintf(&b, "trace from the opening of the case (both sides open on day 0):\n")
	for i, s := range steps {
		fmt.Fprintf(&b, "  %2d. %s (delivered at once)\n", i+1, s)
	}
	for i, s := range conc {
		fmt.Fprintf(&b, "  %2d. %s\n", len(steps)+i+1, s)
	}
	return b.String()
}

// describe spells out a move of the concurrent protocol.
func (w *mcWorld) describe(mv mcMove) string {
	var e mcEvent
	what := ""
	if mv.ev >= 0 {
		e = w.events[mv.ev]
		what = fmt.Sprintf("%s→%s %s (seq %d, id %s)", mcRoles[e.by], mcRoles[1-e.by], e.ev.Meta.Action, e.ev.Meta.Seq, e.ev.MessageID)
	}
	switch mv.kind {
	case mvAct:
		return fmt.Sprintf("%s acts: %s (seq %d, id %s)", mcRoles[e.by], e.label, e.ev.Meta.Seq, e.ev.MessageID)
	case mvRogue:
		return fmt.Sprintf("%s, as an older peer, stores and sends %s (seq %d, id %s), which the current rules refuse", mcRoles[e.by], e.label, e.ev.Meta.Seq, e.ev.MessageID)
	case mvDeliver:
		return "deliver " + what
	case mvDuplicate:
		return "deliver " + what + "; a duplicate stays in flight"
	case mvLose:
		return "lose " + what
	case mvResend:
		return "outbox resends " + what
	case mvCrash:
		return fmt.Sprintf("%s crashes, losing what it held in memory", mcRoles[mv.side])
	case mvRestart:
		return fmt.Sprintf("%s restarts and replays what it stored", mcRoles[mv.side])
	case mvTime:
		return fmt.Sprintf("time passes to day %d", mcDays[mv.now])
	}
	return "start"
}

// --- encoding --------------------------------------------------------------

type mcEnc []byte

func (e *mcEnc) str(s string) { *e = append(append(*e, s...), 0) }
func (e *mcEnc) u(v uint64)   { *e = binary.AppendUvarint(*e, v) }
func (e *mcEnc) b(v bool) {
	if v {
		*e = append(*e, 1)
	} else {
		*e = append(*e, 0)
	}
}
func (e *mcEnc) t(v time.Time) {
	if v.IsZero() {
		e.u(0)
		return
	}
	e.u(uint64(v.UnixNano()) + 1)
}

// mcCaseFields and mcLegalFields count the fields of CaseState and
// LegalFacts the encodings below cover; TestModelCheckEncodingCoversCaseState
// fails when one is added, so that the checker cannot silently merge states
// that differ in it.
const mcCaseFields, mcLegalFields = 10, 8

// abstractCS encodes what the rules read of a state: everything but the
// ordering (Seq, LastMessageID), the times that only record (AcknowledgedAt,
// ClosedAt) and History.
func (e *mcEnc) abstractCS(cs protocol.CaseState) {
	e.str(string(cs.State))
	e.t(cs.ExpiresAt)
	e.b(cs.Hold)
	e.str(cs.Outcome)
	l := cs.LegalFacts
	e.b(l.InfoPending)
	e.t(l.PreservedFrom)
	e.b(l.MLASubmitted)
	e.t(l.ReviewDueAt)
	e.t(l.DecisionDueAt)
	e.b(l.ExplanationDue)
	e.b(l.ConfirmationSent)
	e.t(l.PostponedUntil)
}

func (e *mcEnc) fullCS(cs protocol.CaseState) {
	e.abstractCS(cs)
	e.u(cs.Seq)
	e.str(cs.LastMessageID)
	e.t(cs.AcknowledgedAt)
	e.t(cs.ClosedAt)
}

// mcLegalKey is a legal state on a day: what the rules read.
func mcLegalKey(cs protocol.CaseState, now uint8) string {
	var e mcEnc
	e.u(uint64(now))
	e.abstractCS(cs)
	return string(e)
}

func (w *mcWorld) key(s *mcState) mcKey {
	var e mcEnc
	e.u(uint64(s.now))
	e.u(uint64(s.faults))
	for _, m := range s.msgs {
		e.u(uint64(m.id))
		bits := byte(0)
		for i, v := range []bool{m.known, m.acked, m.inFlight, m.invalid[0], m.invalid[1]} {
			if v {
				bits |= 1 << i
			}
		}
		e = append(e, bits)
	}
	for _, sd := range s.side {
		e.b(sd.up)
		if sd.up {
			e.fullCS(sd.cs)
		}
	}
	return mcKey{maphash.Bytes(w.seed1, e), maphash.Bytes(w.seed2, e)}
}

// --- events, replays and safety ----------------------------------------------

// mcEventKey names an event: its message ID and the candidate it was made
// from (candidates are memoised, so the same action taken in the same
// legal state is the same candidate), or, for a seed's events, its node.
type mcEventKey struct {
	id   string
	cand *mcCand
	node int32
}

// intern returns the index of an event, making it on first use.
func (w *mcWorld) intern(k mcEventKey, make func() mcEvent) int32 {
	if id, ok := w.eventIdx[k]; ok {
		return id
	}
	id := int32(len(w.events))
	w.events = append(w.events, make())
	w.eventIdx[k] = id
	return id
}

func (w *mcWorld) knows(m mcMsg, side int) bool { return w.events[m.id].by == side || m.known }

// replay is protocol.Replay of the events side has stored (all events if
// side is -1), memoised; its history is kept until safe walks it.
func (w *mcWorld) replay(s *mcState, side int) *mcReplay {
	var buf [64]byte
	e := mcEnc(buf[:0])
	for _, m := range s.msgs {
		if side < 0 || w.knows(m, side) {
			e.u(uint64(m.id))
		}
	}
	if r, ok := w.replays[string(e)]; ok {
		return r
	}
	var ids []int32
	for _, m := range s.msgs {
		if side < 0 || w.knows(m, side) {
			ids = append(ids, m.id)
		}
	}
	evs := make([]protocol.Event, len(ids))
	idOf := map[string]int32{}
	for i, id := range ids {
		evs[i] = w.events[id].ev
		idOf[evs[i].MessageID] = id
	}
	full := protocol.Replay(w.terms, evs)
	r := &mcReplay{invalid: map[int32]bool{}, history: full.History}
	for _, h := range full.History {
		if h.Invalid != "" {
			r.invalid[idOf[h.MessageID]] = true
		}
	}
	// A node replays its events in the order it stored them, which differs
	// between the nodes; Replay must not depend on it.
	slices.Reverse(evs)
	if rev := protocol.Replay(w.terms, evs); !mcSameCS(rev, full) || !slices.EqualFunc(rev.History, full.History, func(a, b protocol.EventResult) bool {
		return a.MessageID == b.MessageID && a.Invalid == b.Invalid && a.To == b.To
	}) {
		w.violate(mcAt{-1, s.idx}, "Replay depends on the order the events were stored", fmt.Sprintf("in one order %+v\nin the other %+v", full, rev))
	}
	full.History = nil
	r.cs = full
	w.replays[string(e)] = r
	return r
}

// safe checks a replayed history once, from the first state that stored it.
func (w *mcWorld) safe(r *mcReplay, at mcAt) {
	if r.history == nil {
		return
	}
	w.checkHistory(r.history, r.cs, at)
	r.history = nil
}

// checkHistory walks a replayed history in replay order with Advance (which
// must agree with Replay event by event) and checks every event that
// applied against the safety properties.
func (w *mcWorld) checkHistory(history []protocol.EventResult, full protocol.CaseState, at mcAt) {
	cs := protocol.CaseState{State: protocol.StateOpen}
	for _, h := range history {
		next, res, ok := protocol.Advance(w.terms, cs, h.Event)
		if !ok {
			w.violate(at, "Advance refused an event in replay order", fmt.Sprintf("event %s (%s)", h.MessageID, h.Meta.Action))
			return
		}
		if res.Invalid != h.Invalid || res.To != h.To {
			w.violate(at, "Advance and Replay judge an event differently",
				fmt.Sprintf("event %s (%s): Advance %q → %s, Replay %q → %s", h.MessageID, h.Meta.Action, res.Invalid, res.To, h.Invalid, h.To))
		}
		next.History = nil
		if res.Invalid == "" {
			w.checkApplied(cs, next, h.Event, at, "")
		}
		cs = next
	}
	if !mcSameCS(cs, full) {
		w.violate(at, "Advance in replay order ends elsewhere than Replay", fmt.Sprintf("Advance %+v\nReplay %+v", cs, full))
	}
}

// checkApplied checks one applied event, with the state before and after
// it, against what the law forbids outright. via says how it came to be
// applied when the trace does not.
func (w *mcWorld) checkApplied(before, after protocol.CaseState, ev protocol.Event, at mcAt, via string) {
	m := ev.Meta
	w.stats.applied[m.Action]++
	w.stats.reached[after.State] = true
	bad := func(kind, format string, args ...any) {
		w.violate(at, kind, fmt.Sprintf("%s by the %s on %s, %s → %s: ", m.Action, ev.By, w.date(ev.At), before.State, after.State)+
			fmt.Sprintf(format, args...)+via)
	}
	if before.State == protocol.StateClosed {
		bad("an action applied to a closed case", "closed is final")
	}
	if w.terms.Treaty == "" && !slices.Contains([]protocol.ActionName{protocol.ActAcknowledge, protocol.ActRequestInfo,
		protocol.ActProvideInfo, protocol.ActRefuse, protocol.ActWithdraw, protocol.ActClose}, m.Action) {
		bad("an action applied without a treaty basis", "the two states share no treaty (%s): only taking it up, talking, refusing, withdrawing and closing are open", w.terms.Problem)
	}
	switch m.Action {
	case protocol.ActRelease:
		if before.Hold {
			// Budapest Art. 29(7): following the receipt of the MLA request
			// the data continue to be preserved pending a decision on it.
			bad("release applied during the MLA hold (Budapest Art. 29(7))", "Hold was true (review due %s)", w.date(before.ReviewDueAt))
		}
		if (before.State == protocol.StatePreserved || before.State == protocol.StateExtensionRequested) &&
			(before.ExpiresAt.IsZero() || ev.At.Before(before.ExpiresAt)) {
			bad("release applied before the period ended (Budapest Art. 29(7))", "the period runs until %s", w.date(before.ExpiresAt))
		}
	case protocol.ActConfirmPreservation:
		// Art. 29(7): not less than sixty days from the actual start, which
		// cannot precede the request.
		if after.PreservedFrom.Before(w.requestDay) {
			bad("confirmation starting before the request (Budapest Art. 29(7))", "start %s, request day %s", w.date(after.PreservedFrom), w.date(w.requestDay))
		}
		// Days are the requested state's calendar days (across a change of
		// summer time a day is 23 or 25 hours); times are kept in UTC.
		if after.ExpiresAt.Before(after.PreservedFrom.In(w.zone).AddDate(0, 0, protocol.MinPreservationDays)) {
			bad("confirmation for under sixty days (Budapest Art. 29(7))", "from %s to %s", w.date(after.PreservedFrom), w.date(after.ExpiresAt))
		}
	case protocol.ActConfirmExtension:
		if !after.ExpiresAt.After(before.ExpiresAt) {
			bad("extension that does not move the expiry forward (Budapest Art. 29(7))", "expiry %s → %s", w.date(before.ExpiresAt), w.date(after.ExpiresAt))
		}
	case protocol.ActRefuse, protocol.ActWithholdTraffic:
		// Budapest Arts. 29(5), 30(2): "may only be refused/withheld if".
		if !slices.Contains(protocol.GroundKeys(w.terms, m.Action), m.Ground) {
			bad("refusal on a ground the treaty basis does not allow (Budapest Arts. 29(5), 30(2))", "ground %q, allowed %v", m.Ground, protocol.GroundKeys(w.terms, m.Action))
		}
	case protocol.ActDetermine:
		if m.Decision == "refuse" && m.Ground != "" && !slices.Contains(protocol.GroundKeys(w.terms, protocol.ActRefuse), m.Ground) {
			bad("refusal on a ground the treaty basis does not allow (Protocol Art. 9(6))", "ground %q, allowed %v", m.Ground, protocol.GroundKeys(w.terms, protocol.ActRefuse))
		}
	}
	if (m.Action == protocol.ActDiscloseTraffic || m.Action == protocol.ActWithholdTraffic) && !w.terms.Traffic {
		bad("traffic data disclosed or withheld on a request that asked for none (Budapest Art. 30(1))", "terms ask no traffic data")
	}
	switch after.State {
	case protocol.StatePreserved, protocol.StateExtensionRequested, protocol.StateMLAPending:
		if after.ExpiresAt.IsZero() {
			bad("data preserved without a period (Budapest Art. 29(7))", "no expiry")
		}
	}
}

// --- the moves of a node -----------------------------------------------------

// mcGroundPool is every ground key any treaty basis offers, to try the ones
// a basis does not.
var mcGroundPool = []string{"political_offence", "essential_interests", "dual_criminality", "not_in_conformity",
	"domestic_prohibition", "contrary_to_legal_system", "persecution", "not_an_emergency", "not_held_in_territory",
	"emergency_determination", "subscriber_only_declaration", "mla_treaty_ground", "not_competent", "other", "no_treaty_basis"}

var mcOutcomeOf = map[protocol.State]string{protocol.StateRefused: "refused", protocol.StateWithdrawn: "withdrawn",
	protocol.StateReleased: "released", protocol.StateAnswered: "completed", protocol.StateDataProvided: "data_provided"}

// variants lists concrete values for every action (whoever may take it),
// as an operator would submit them through the API, with what the law says
// of each.
// Of an action not in offered only the first variant is kept: trying one
// is enough to see that Check refuses it.
func (w *mcWorld) variants(cs protocol.CaseState, by protocol.Role, at time.Time, offered []protocol.ActionName) []mcVariant {
	today := w.terms.LocalDay(at)
	day := func(d time.Time, n int) string { return w.date(d.In(w.zone).AddDate(0, 0, n)) }
	out := make([]mcVariant, 0, 64)
	operator := "duty officer (" + string(by) + ")"
	tried := map[protocol.ActionName]bool{}
	add := func(label string, law mcLaw, why string, a protocol.Action) {
		if tried[a.Action] && !slices.Contains(offered, a.Action) {
			return
		}
		tried[a.Action] = true
		a.Operator = operator
		out = append(out, mcVariant{label: label, a: a, law: law, why: why})
	}
	lawful := func(label string, a protocol.Action) { add(label, mcLawful, "", a) }
	unlawful := func(label, why string, a protocol.Action) { add(label, mcUnlawful, why, a) }
	seen := map[protocol.ActionName]bool{}
	for _, r := range protocol.Rules {
		if seen[r.Action] {
			continue
		}
		seen[r.Action] = true
		a := protocol.Action{Action: r.Action}
		switch r.Action {
		case protocol.ActAcknowledge, protocol.ActProceed, protocol.ActResume, protocol.ActWithdraw,
			protocol.ActAcceptConditions, protocol.ActRejectConditions:
			lawful("", a)
		case protocol.ActRequestInfo, protocol.ActProvideInfo, protocol.ActRequestExplanation, protocol.ActExplainUse, protocol.ActAnswer:
			a.Text = "details"
			lawful("", a)
		case protocol.ActConfirmPreservation:
			a.ExecutingAuthority, a.DomesticLegalBasis = "Cybercrime Unit", "Criminal Procedure Act s. 12"
			b := a
			b.StartDate, b.PeriodDays = w.date(today), 90
			add("start today, 90 days", mcLawIf(90 <= w.terms.MaxDays()), "", b)
			b.StartDate, b.PeriodDays = w.date(w.requestDay), protocol.MinPreservationDays
			if w.terms.Identifiers > 1 {
				b.Identifiers = []protocol.IdentifierOutcome{{Index: 0, Outcome: "preserved"}, {Index: 1, Outcome: "not_found"}}
				lawful("start on the request day, 60 days, partial (Budapest Art. 27(6))", b)
			} else {
				lawful("start on the request day, 60 days", b)
			}
			b.Identifiers = nil
			b.StartDate = day(w.requestDay, -1)
			unlawful("start the day before the request", "Budapest Art. 29(7): the sixty days run from the actual start, which cannot precede the request", b)
			b.StartDate = day(today, 1)
			unlawful("start tomorrow", "Budapest Art. 29(7): confirm what has been preserved, from the day it actually was", b)
			b.StartDate, b.PeriodDays = w.date(today), protocol.MinPreservationDays-1
			unlawful("59 days", "Budapest Art. 29(7): not less than sixty days", b)
			b.PeriodDays = 90
			b.Identifiers = []protocol.IdentifierOutcome{{Index: 5, Outcome: "preserved"}}
			unlawful("outcome for identifier 5 of 2", "an outcome for an identifier the request does not name", b)
			if w.terms.MaxTotalDays > 0 {
				b.Identifiers, b.PeriodDays = nil, w.terms.MaxTotalDays+1
				unlawful("beyond the maximum", "the requested state's domestic maximum", b)
			}
		case protocol.ActInsufficiency:
			a.Reason, a.Text = "will_not_secure", "the provider deletes logs daily"
			a.RespondBy = at.Add(72 * time.Hour).UTC().Format(time.RFC3339)
			lawful("", a)
			a.RespondBy = at.UTC().Format(time.RFC3339)
			unlawful("decision due now", "Budapest Art. 29(6): the requester decides after the notice, so its deadline lies ahead", a)
		case protocol.ActPostpone:
			a.Reasons, a.Until = "domestic investigation", day(today, 14)
			lawful("", a)
			a.Until = w.date(today)
			unlawful("until today", "Budapest Art. 27(5): a postponement runs to a later date", a)
		case protocol.ActRefuse:
			w.groundVariants(add, a, protocol.ActRefuse)
		case protocol.ActWithholdTraffic:
			w.groundVariants(add, a, protocol.ActWithholdTraffic)
		case protocol.ActDiscloseTraffic:
			a.Provider, a.Path = "Transit Networks Ltd", "AS64500 → AS64501"
			lawful("", a)
		case protocol.ActRequestExtension:
			a.PeriodDays = 90
			lawful("", a)
		case protocol.ActConfirmExtension:
			if cs.ExpiresAt.IsZero() {
				continue // offered only in extension_requested, which always has an expiry
			}
			a.ExpiryDate = day(cs.ExpiresAt.In(w.zone), 90)
			longest := !cs.PreservedFrom.IsZero() && cs.ExpiresAt.AddDate(0, 0, 90).Sub(cs.PreservedFrom) > time.Duration(w.terms.MaxDays())*24*time.Hour+time.Hour
			add("+90 days", mcLawIf(!longest), "", a)
			a.ExpiryDate = day(cs.ExpiresAt.In(w.zone), -1)
			unlawful("a day before the current expiry", "Budapest Art. 29(7): an extension only moves the expiry forward", a)
			a.ExpiryDate = w.date(cs.ExpiresAt)
			unlawful("the current expiry", "Budapest Art. 29(7): an extension only moves the expiry forward", a)
		case protocol.ActDeclineExtension:
			a.Reasons = "no longer proportionate"
			lawful("", a)
		case protocol.ActMLASubmitted:
			a.MLAReference = "MLA/2026/17"
			lawful("", a)
		case protocol.ActMLAReceived:
			a.MLAReference, a.ReviewBy = "MLA/2026/17", day(today, 30)
			lawful("", a)
			a.ReviewBy = w.date(today)
			unlawful("review today", "Protocol Art. 14(5): the next review of the retention lies ahead", a)
		case protocol.ActReviewHold:
			a.Text, a.ReviewBy = "still pending", day(today, 30)
			lawful("", a)
		case protocol.ActMLADecided:
			a.Decision = "granted"
			lawful("", a)
			a.Decision = "pending"
			unlawful("no decision", "Budapest Art. 29(7): the hold ends with a decision on the MLA request", a)
		case protocol.ActRelease:
			add("", mcDepends, "", a)
		case protocol.ActDetermine:
			a.Text = "determined"
			b := a
			b.Decision = "provide"
			lawful("provide", b)
			b.Decision, b.Conditions = "provide_with_conditions", "use only for the kidnapping investigation"
			lawful("provide with conditions", b)
			b.Decision, b.Conditions = "refuse", ""
			allowed := protocol.GroundKeys(w.terms, protocol.ActRefuse)
			for _, g := range mcGroundPool {
				b.Ground = g
				if slices.Contains(allowed, g) {
					if g == allowed[0] || g == "subscriber_only_declaration" {
						lawful("refuse, "+g, b)
					}
				} else {
					unlawful("refuse, "+g, "Protocol Art. 9(6): a ground the treaty basis does not give", b)
				}
			}
		case protocol.ActHandOver:
			a.Text, a.Channel = "data attached", "vigil"
			lawful("", a)
		case protocol.ActConfirmationSent:
			a.Text, a.Reference = "formal request sent", "REF-1"
			lawful("", a)
		case protocol.ActClose:
			a.Outcome = mcOutcomeOf[cs.State]
			if a.Outcome == "" {
				a.Outcome = "other"
			}
			lawful("", a)
		default:
			panic(fmt.Sprintf("modelcheck: no variants for %s; add them", r.Action))
		}
	}
	return out
}

func mcLawIf(ok bool) mcLaw {
	if ok {
		return mcLawful
	}
	return mcDepends
}

// groundVariants adds a refusal or withholding on the first ground the
// basis allows, on the reservation- or declaration-dependent grounds when
// allowed, and on every ground the basis does not allow.
func (w *mcWorld) groundVariants(add func(string, mcLaw, string, protocol.Action), a protocol.Action, act protocol.ActionName) {
	allowed := protocol.GroundKeys(w.terms, act)
	a.Reasons = "reasons stated"
	for _, g := range mcGroundPool {
		b := a
		b.Ground = g
		b.ReasonsToBelieve = g == "dual_criminality"
		switch {
		case !slices.Contains(allowed, g):
			add(g, mcUnlawful, "Budapest Arts. 29(4)-(5), 30(2): not a ground this treaty basis gives", b)
		case g == allowed[0] || g == "dual_criminality" || g == "subscriber_only_declaration":
			add(g, mcLawful, "", b)
			if g == "dual_criminality" {
				b.ReasonsToBelieve = false
				add(g+" without reasons to believe", mcUnlawful, "Budapest Art. 29(4): only with reasons to believe the condition cannot be fulfilled at disclosure", b)
			}
		}
	}
}

// mcRoguePriority is what an older responder, applying other rules, is
// tried sending when the current rules refuse it: a release in the period
// or the hold, an extension moving back, a refusal or withholding on a
// ground the basis does not give, a confirmation of a start before the
// request or of under sixty days.
var mcRoguePriority = []protocol.ActionName{protocol.ActRelease, protocol.ActConfirmExtension, protocol.ActRefuse,
	protocol.ActWithholdTraffic, protocol.ActConfirmPreservation, protocol.ActDetermine}

// mcUndecodable is a payload that does not decode, as an older or faulty
// requester could send.
var mcUndecodable = mcCand{label: "(undecodable payload)", meta: protocol.MetaOf(nil), undecodable: true}

// candidates judges every variant against a side's state as node/cases
// does (Validate, then Check), checks the result against Available and
// the law, and applies each accepted one to check it against the safety
// properties. It returns the accepted variants that lead to distinct
// states (two refusals on different grounds both lead to refused) and at
// most one refused variant an older peer could send. Memoised on what the
// rules read.
func (w *mcWorld) candidates(side int, cs protocol.CaseState, now uint8, at mcAt) []mcCand {
	var e mcEnc
	e.u(uint64(side))
	e.u(uint64(now))
	e.abstractCS(cs)
	if c, ok := w.cands[string(e)]; ok {
		return c
	}
	by, when := mcRoles[side], w.at(now)
	avail := protocol.Available(w.terms, cs, by)
	var out []mcCand
	var rogue *mcCand
	distinct := map[string]bool{}
	for _, v := range w.variants(cs, by, when, avail) {
		offered := slices.Contains(avail, v.a.Action)
		a := v.a
		a.Seq = cs.Seq + 1
		meta := protocol.MetaOf(&a)
		next, err := cs.State, error(nil)
		if meta.Invalid != "" {
			err = fmt.Errorf("%s", meta.Invalid)
		} else {
			next, err = protocol.Check(w.terms, cs, protocol.Event{By: by, At: when, Meta: meta})
		}
		name := func() string { return strings.TrimSpace(fmt.Sprintf("%s %s", a.Action, v.label)) }
		switch {
		case !offered && err == nil:
			w.violate(at, "Check accepts an action Available does not offer", fmt.Sprintf("%s: %s in %s", by, name(), cs.State))
		case offered && v.law == mcLawful && err != nil:
			w.violate(at, "Check refuses a lawful action Available offers", fmt.Sprintf("%s: %s in %s on %s: %v", by, name(), cs.State, w.date(when), err))
		case offered && v.law == mcUnlawful && err == nil:
			w.violate(at, "Check accepts an action the law forbids", fmt.Sprintf("%s: %s in %s: %s", by, name(), cs.State, v.why))
		}
		if err != nil {
			if offered {
				w.stats.refusedLocal++
				if side == mcResp && slices.Contains(mcRoguePriority, a.Action) && (rogue == nil ||
					slices.Index(mcRoguePriority, a.Action) < slices.Index(mcRoguePriority, rogue.action)) {
					rogue = &mcCand{label: v.label, action: a.Action, meta: meta}
				}
			}
			continue
		}
		ev := protocol.Event{MessageID: "candidate", By: by, At: when, Meta: meta}
		after, res, ok := protocol.Advance(w.terms, cs, ev)
		if !ok || res.Invalid != "" || after.State != next {
			w.violate(at, "an action did not apply as checked", fmt.Sprintf("%s: %s in %s: checked → %s, applied → %s %q", by, name(), cs.State, next, after.State, res.Invalid))
			continue
		}
		w.checkApplied(cs, after, ev, at, "; tried in the last state of the trace")
		k := string(a.Action) + "|" + mcLegalKey(after, now)
		if !distinct[k] {
			distinct[k] = true
			out = append(out, mcCand{label: v.label, action: a.Action, meta: meta, accepted: true, next: next})
		}
	}
	if rogue != nil {
		out = append(out, *rogue)
	}
	if side == mcReq {
		out = append(out, mcUndecodable)
	}
	w.cands[string(e)] = out
	return out
}

// --- the legal state space -------------------------------------------------

// explore visits every legal state both sides can share, each action
// delivered at once, breadth-first to closure (at most limit states), and
// checks that from each the case can still be closed. It picks as seeds the
// first state reached in each distinct (state, hold).
func (w *mcWorld) explore(limit int) []int32 {
	w.seq = []mcSeqNode{{cs: protocol.CaseState{State: protocol.StateOpen}, parent: -1}}
	seen := map[string]int32{mcLegalKey(w.seq[0].cs, 0): 0}
	seeds, seedOf := []int32{0}, map[string]bool{"open/false": true}
	var into [][]int32 // into[j]: the states with a move to j
	complete := true
	for level, frontier := 0, []int32{0}; len(frontier) > 0; level++ {
		w.stats.seqDepth = level
		var next []int32
		for _, i := range frontier {
			x := w.seq[i]
			at := mcAt{seq: i, conc: -1}
			w.checkMovable(x.cs, at)
			if k := fmt.Sprintf("%s/%v", x.cs.State, x.cs.Hold); !seedOf[k] {
				seedOf[k] = true
				seeds = append(seeds, i)
			}
			push := func(n mcSeqNode) {
				w.stats.seqEdges++
				k := mcLegalKey(n.cs, n.now)
				j, ok := seen[k]
				if !ok {
					if len(w.seq) >= limit {
						complete = false
						return
					}
					j = int32(len(w.seq))
					seen[k] = j
					next = append(next, j)
					w.seq = append(w.seq, n)
				}
				for len(into) <= int(j) {
					into = append(into, nil)
				}
				into[j] = append(into[j], i)
			}
			for side := range 2 {
				for _, c := range w.candidates(side, x.cs, x.now, at) {
					if !c.accepted {
						continue
					}
					seq := x.cs.Seq + 1
					ev := mcEvent{by: side, label: fmt.Sprintf("%s: %s", mcRoles[side], c),
						ev: protocol.Event{MessageID: fmt.Sprintf("%d1%c%03d.s", x.now, "qs"[side], seq), By: mcRoles[side], At: w.at(x.now), Meta: c.with(seq)}}
					cs, _, _ := protocol.Advance(w.terms, x.cs, ev.ev)
					cs.History = nil
					push(mcSeqNode{cs: cs, now: x.now, parent: i, ev: &ev, label: ev.label})
				}
			}
			if int(x.now) < len(mcDays)-1 {
				push(mcSeqNode{cs: x.cs, now: x.now + 1, parent: i, label: fmt.Sprintf("time passes to day %d", mcDays[x.now+1])})
			}
		}
		frontier = next
	}
	w.stats.seqNodes, w.stats.seeds = len(w.seq), len(seeds)
	// Liveness: the states from which closed is reachable, backwards from
	// the closed ones.
	closable := make([]bool, len(w.seq))
	var queue []int32
	for i, n := range w.seq {
		if n.cs.State == protocol.StateClosed {
			closable[i] = true
			queue = append(queue, int32(i))
		}
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if int(j) >= len(into) {
			continue
		}
		for _, i := range into[j] {
			if !closable[i] {
				closable[i] = true
				queue = append(queue, i)
			}
		}
	}
	for i, n := range w.seq {
		at := mcAt{seq: int32(i), conc: -1}
		switch {
		case closable[i]:
			w.closable[mcLegalKey(n.cs, n.now)] = true
		case complete:
			w.closable[mcLegalKey(n.cs, n.now)] = false
			w.violate(at, "a case that can no longer be closed", fmt.Sprintf("%s on day %d: no sequence of actions leads to closed", n.cs.State, mcDays[n.now]))
		case !w.canClose(n.cs, n.now, at):
			w.violate(at, "a case that can no longer be closed", fmt.Sprintf("%s on day %d: no sequence of actions leads to closed", n.cs.State, mcDays[n.now]))
		}
	}
	if !complete {
		w.violate(mcAt{seq: 0, conc: -1}, "the legal state space is larger than expected", fmt.Sprintf("explored %d legal states and stopped", limit))
	}
	return seeds
}

// checkMovable: every state that is not over offers some action to someone.
func (w *mcWorld) checkMovable(cs protocol.CaseState, at mcAt) {
	var e mcEnc
	e.abstractCS(cs)
	if _, ok := w.movable[string(e)]; ok {
		return
	}
	ok := protocol.Terminal(cs.State) || len(protocol.Available(w.terms, cs, protocol.Requester))+len(protocol.Available(w.terms, cs, protocol.Responder)) > 0
	w.movable[string(e)] = ok
	if !ok {
		w.violate(at, "a state that is not over offers no action to either side", string(cs.State))
	}
}

// canClose searches, from a state both sides share, for a sequence of
// actions (each delivered at once) and passing days that closes the case:
// depth first, trying first the moves that end the case, memoised.
func (w *mcWorld) canClose(cs protocol.CaseState, now uint8, at mcAt) bool {
	type node struct {
		cs  protocol.CaseState
		now uint8
	}
	start := node{cs, now}
	if v, ok := w.closable[mcLegalKey(cs, now)]; ok {
		return v
	}
	w.stats.liveSearches++
	expand := func(x node) []node {
		var out []node
		rank := map[int]int{}
		for side := range 2 {
			for _, c := range w.candidates(side, x.cs, x.now, at) {
				if !c.accepted {
					continue
				}
				ev := protocol.Event{MessageID: "live", By: mcRoles[side], At: w.at(x.now), Meta: c.with(x.cs.Seq + 1)}
				next, _, _ := protocol.Advance(w.terms, x.cs, ev)
				next.History = nil
				r := 3
				switch {
				case next.State == protocol.StateClosed:
					r = 0
				case protocol.Terminal(next.State):
					r = 1
				case next.State != x.cs.State:
					r = 2
				}
				rank[len(out)] = r
				out = append(out, node{next, x.now})
			}
		}
		if int(x.now) < len(mcDays)-1 {
			rank[len(out)] = 2
			out = append(out, node{x.cs, x.now + 1})
		}
		idx := make([]int, len(out))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return rank[a] - rank[b] })
		sorted := make([]node, len(out))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		return sorted
	}
	type frame struct {
		n     node
		succs []node
	}
	seen := map[string]bool{mcLegalKey(cs, now): true}
	path := []frame{{start, expand(start)}}
	for len(path) > 0 {
		top := &path[len(path)-1]
		if top.n.cs.State == protocol.StateClosed || w.closable[mcLegalKey(top.n.cs, top.n.now)] {
			for _, f := range path {
				w.closable[mcLegalKey(f.n.cs, f.n.now)] = true
			}
			return true
		}
		if len(top.succs) == 0 {
			path = path[:len(path)-1]
			continue
		}
		s := top.succs[0]
		top.succs = top.succs[1:]
		if k := mcLegalKey(s.cs, s.now); !seen[k] {
			seen[k] = true
			path = append(path, frame{s, expand(s)})
		}
	}
	// Nothing reachable from start closes the case, so nothing reachable
	// from any state seen on the way does either.
	for k := range seen {
		w.closable[k] = false
	}
	return false
}

// --- the concurrent protocol -------------------------------------------------

// concurrent explores the protocol from a seed: both sides share the seed's
// state, every earlier message delivered and receipted; then at most depth
// new local actions and maxFaults faults on any path. It returns the BFS
// depth reached.
func (w *mcWorld) concurrent(seed int32, depth, maxFaults int) int {
	init := &mcState{now: w.seq[seed].now}
	for i := seed; i > 0; i = w.seq[i].parent {
		if ev := w.seq[i].ev; ev != nil {
			id := w.intern(mcEventKey{node: i}, func() mcEvent { return *ev })
			init.msgs = append(init.msgs, mcMsg{id: id, known: true, acked: true})
		}
	}
	slices.SortFunc(init.msgs, func(a, b mcMsg) int { return int(a.id - b.id) })
	for i := range 2 {
		init.side[i].up = true
		w.replaySide(init, i)
	}
	w.depth, w.maxFaults, w.base = depth, maxFaults, len(init.msgs)
	w.visited = map[mcKey]int32{}
	root := w.visit(-1, mcMove{kind: mvRoot, ev: -1}, init)
	w.rootSeed[init.idx] = seed
	if !root {
		return 0
	}
	frontier, levels := []*mcState{init}, 0
	for level := 0; len(frontier) > 0; level++ {
		levels = level
		var next []*mcState
		for _, s := range frontier {
			w.successors(s, func(mv mcMove, n *mcState) {
				w.stats.transitions++
				if w.visit(s.idx, mv, n) {
					next = append(next, n)
				}
			})
		}
		frontier = next
	}
	w.visited = nil
	w.stats.flags = len(w.flagged)
	return levels
}

func (w *mcWorld) visit(parent int32, mv mcMove, s *mcState) bool {
	k := w.key(s)
	if _, ok := w.visited[k]; ok {
		return false
	}
	s.idx = int32(len(w.parent))
	w.visited[k] = s.idx
	w.parent = append(w.parent, parent)
	w.move = append(w.move, mv)
	w.stats.states++
	w.check(s)
	return true
}

// successors calls f with every move from s and the state it leads to.
func (w *mcWorld) successors(s *mcState, f func(mv mcMove, n *mcState)) {
	faulty := int(s.faults) < w.maxFaults
	at := mcAt{seq: -1, conc: s.idx}
	for i := range 2 {
		sd := s.side[i]
		if !sd.up {
			n := s.clone()
			n.side[i].up = true
			w.replaySide(n, i)
			w.stats.restarts++
			f(mcMove{kind: mvRestart, side: uint8(i), ev: -1}, n)
			continue
		}
		if faulty {
			n := s.clone()
			n.faults++
			n.side[i] = mcSide{}
			for k := range n.msgs {
				n.msgs[k].invalid[i] = false
			}
			w.stats.crashes++
			f(mcMove{kind: mvCrash, side: uint8(i), ev: -1}, n)
		}
		if len(s.msgs)-w.base >= w.depth {
			continue
		}
		cands := w.candidates(i, sd.cs, s.now, at)
		for k := range cands {
			if cands[k].accepted || faulty {
				w.act(s, i, &cands[k], f)
			}
		}
	}
	for k, m := range s.msgs {
		ev := w.events[m.id]
		to := 1 - ev.by
		switch {
		case m.inFlight:
			if s.side[to].up {
				n := s.clone()
				n.msgs[k].inFlight = false
				w.deliver(n, k)
				f(mcMove{kind: mvDeliver, ev: m.id}, n)
				if faulty {
					n := s.clone()
					n.faults++
					w.deliver(n, k)
					w.stats.duplicates++
					f(mcMove{kind: mvDuplicate, ev: m.id}, n)
				}
			}
			if faulty {
				n := s.clone()
				n.faults++
				n.msgs[k].inFlight = false
				w.stats.losses++
				f(mcMove{kind: mvLose, ev: m.id}, n)
			}
		case !m.acked && s.side[ev.by].up:
			// The outbox resends until it holds a receipt.
			n := s.clone()
			n.msgs[k].inFlight = true
			f(mcMove{kind: mvResend, ev: m.id}, n)
		}
	}
	if int(s.now) < len(mcDays)-1 {
		n := s.clone()
		n.now++
		f(mcMove{kind: mvTime, now: n.now, ev: -1}, n)
	}
}

// act is a local action by side i: stored with Seq one more than the
// case's, applied with Advance and sent. A refused candidate is what an
// older peer sends without the current Check, and counts as a fault.
func (w *mcWorld) act(s *mcState, i int, c *mcCand, f func(mcMove, *mcState)) {
	cs := s.side[i].cs
	seq := cs.Seq + 1
	own := 0
	for _, m := range s.msgs {
		if w.events[m.id].by == i {
			own++
		}
	}
	// Message IDs are time-ordered with a random part (protocol.NewID): two
	// actions crossing at the same seq in the same time step may sort
	// either way, so both orders are explored.
	nonces := []int{1}
	for _, m := range s.msgs {
		if o := w.events[m.id]; o.by != i && o.ev.Meta.Seq == seq && o.ev.At.Equal(w.at(s.now)) {
			nonces = []int{0, 2}
		}
	}
	for _, nonce := range nonces {
		id := mcMessageID(s.now, nonce, i, seq, own)
		mid := w.intern(mcEventKey{id: id, cand: c}, func() mcEvent {
			return mcEvent{ev: protocol.Event{MessageID: id, By: mcRoles[i], At: w.at(s.now), Meta: c.with(seq)}, by: i, label: c.String()}
		})
		ev := w.events[mid]
		n := s.clone()
		msg := mcMsg{id: mid, inFlight: true}
		next, res, ok := protocol.Advance(w.terms, cs, ev.ev)
		if ok {
			next.History = nil
			n.side[i].cs = next
			msg.invalid[i] = res.Invalid != ""
		}
		if c.accepted && (!ok || res.Invalid != "" || next.State != c.next) {
			w.violate(mcAt{-1, s.idx}, "a node's own action did not apply as checked", fmt.Sprintf("%s: checked → %s, applied (%v) → %s %q", ev.label, c.next, ok, next.State, res.Invalid))
		}
		pos, _ := slices.BinarySearchFunc(n.msgs, mid, func(m mcMsg, id int32) int { return int(m.id - id) })
		n.msgs = slices.Insert(n.msgs, pos, msg)
		if !ok {
			w.replaySide(n, i)
		}
		mv := mcMove{kind: mvAct, ev: mid}
		if !c.accepted {
			n.faults++
			w.stats.rogues++
			mv.kind = mvRogue
		}
		f(mv, n)
	}
}

// mcMessageID is a message ID that sorts as protocol.NewID's do: by time,
// then by a random part (here the nonce); role, seq and the count of the
// side's own events only make it unique.
func mcMessageID(now uint8, nonce, side int, seq uint64, own int) string {
	b := make([]byte, 0, 12)
	b = append(b, '0'+now, byte('0'+nonce), "qs"[side])
	b = fmt.Appendf(b, "%03d.%02d", seq, own)
	return string(b)
}

// deliver hands message k to its receiver, which stores it and applies it
// with Advance, or replays the case when Advance refuses; a message it
// already stored only earns the sender its receipt again.
func (w *mcWorld) deliver(n *mcState, k int) {
	m := &n.msgs[k]
	m.acked = true
	if m.known {
		return
	}
	m.known = true
	to := 1 - w.events[m.id].by
	next, res, ok := protocol.Advance(w.terms, n.side[to].cs, w.events[m.id].ev)
	if ok {
		w.stats.advances++
		next.History = nil
		n.side[to].cs = next
		m.invalid[to] = res.Invalid != ""
		return
	}
	w.stats.fallbacks++
	w.replaySide(n, to)
}

// replaySide recomputes side i's state and flags from everything it stored,
// as node/cases' replayCase does.
func (w *mcWorld) replaySide(n *mcState, i int) {
	r := w.replay(n, i)
	n.side[i].cs = r.cs
	for k := range n.msgs {
		if w.knows(n.msgs[k], i) {
			n.msgs[k].invalid[i] = r.invalid[n.msgs[k].id]
		}
	}
}

// check asserts the properties of one reachable state.
func (w *mcWorld) check(s *mcState) {
	at := mcAt{seq: -1, conc: s.idx}
	for i := range 2 {
		// Safety: the history a node replays from what it stored.
		r := w.replay(s, i)
		w.safe(r, at)
		if !s.side[i].up {
			continue
		}
		// What a node keeps is what a replay of what it stored gives: the
		// incremental path and the fallback never disagree.
		if !mcSameCS(s.side[i].cs, r.cs) {
			w.violate(at, "a node's kept state differs from a replay of what it stored",
				fmt.Sprintf("%s keeps %+v\nreplay gives %+v", mcRoles[i], s.side[i].cs, r.cs))
		}
		for _, m := range s.msgs {
			if w.knows(m, i) && m.invalid[i] != r.invalid[m.id] {
				w.violate(at, "a node flags events differently from a replay of what it stored",
					fmt.Sprintf("%s: event %s flagged %v, replay says %v", mcRoles[i], w.events[m.id].ev.MessageID, m.invalid[i], r.invalid[m.id]))
			}
			if m.invalid[i] {
				w.flagged[m.id] = true
			}
		}
		if !r.movable {
			r.movable = true
			w.checkMovable(r.cs, at)
		}
	}
	all := w.replay(s, -1)
	w.safe(all, at)
	quiescent := s.side[0].up && s.side[1].up
	for _, m := range s.msgs {
		quiescent = quiescent && m.known
	}
	if quiescent {
		// Convergence: every message arrived and both nodes run.
		w.stats.quiescent++
		a, b := s.side[0].cs, s.side[1].cs
		if !mcSameCS(a, b) || !mcSameCS(a, all.cs) {
			w.violate(at, "the two nodes diverge once every message arrived",
				fmt.Sprintf("requester %+v\nresponder %+v\nreplay of all %+v", a, b, all.cs))
		}
		for _, m := range s.msgs {
			if m.invalid[0] != m.invalid[1] {
				w.violate(at, "the two nodes flag different events invalid once every message arrived",
					fmt.Sprintf("event %s: requester %v, responder %v", w.events[m.id].ev.MessageID, m.invalid[0], m.invalid[1]))
			}
		}
	}
	// Liveness: every message can still arrive (outboxes resend, nodes
	// restart), and from there the case can still be closed.
	if all.closable&(1<<s.now) == 0 && !w.canClose(all.cs, s.now, at) {
		w.violate(at, "a case that can no longer be closed",
			fmt.Sprintf("once every message arrives both sides are in %s on day %d and no sequence of actions leads to closed", all.cs.State, mcDays[s.now]))
	}
	all.closable |= 1 << s.now
}

// mcSameCS compares two case states in every field but History.
func mcSameCS(a, b protocol.CaseState) bool {
	return a.State == b.State && a.Seq == b.Seq && a.AcknowledgedAt.Equal(b.AcknowledgedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.Hold == b.Hold && a.ClosedAt.Equal(b.ClosedAt) && a.Outcome == b.Outcome && a.LastMessageID == b.LastMessageID &&
		mcSameFacts(a.LegalFacts, b.LegalFacts)
}

func mcSameFacts(a, b protocol.LegalFacts) bool {
	return a.InfoPending == b.InfoPending && a.PreservedFrom.Equal(b.PreservedFrom) && a.MLASubmitted == b.MLASubmitted &&
		a.ReviewDueAt.Equal(b.ReviewDueAt) && a.DecisionDueAt.Equal(b.DecisionDueAt) && a.ExplanationDue == b.ExplanationDue &&
		a.ConfirmationSent == b.ConfirmationSent && a.PostponedUntil.Equal(b.PostponedUntil)
}
