package protocol

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// TypeAction marks an envelope whose payload is an Action on a case.
const TypeAction MessageType = "action"

// State is the legal state of a case. It is separate from the transport
// state of its messages (queued, sent, delivered), and both nodes of a case
// derive it from the same actions with the same Rules.
type State string

const (
	StateOpen               State = "open"                // request received, no human action yet
	StateAcknowledged       State = "acknowledged"        // a named operator took it up
	StateInfoRequested      State = "info_requested"      // the requested side asked for more
	StatePreserved          State = "preserved"           // preservation confirmed, expiry set
	StateInsufficient       State = "insufficient"        // Art. 29(6) notice; requester decides
	StateExtensionRequested State = "extension_requested" // requester asked to extend
	StateMLAPending         State = "mla_pending"         // MLA request submitted: held until decision
	StateRefused            State = "refused"
	StateWithdrawn          State = "withdrawn"
	StateReleased           State = "released" // preserved data released
	StateDetermined         State = "determined"
	StateConditionsAccepted State = "conditions_accepted"
	StateConditionsRejected State = "conditions_rejected"
	StateAnswered           State = "answered"
	StateClosed             State = "closed"
)

// Role is a party's side in a case.
type Role string

const (
	Requester Role = "requester" // the node that sent the request
	Responder Role = "responder" // the node asked for help
	Either    Role = "either"
)

// ActionName names a follow-up on a case.
type ActionName string

const (
	ActAcknowledge         ActionName = "acknowledge"
	ActRequestInfo         ActionName = "request_info"
	ActProvideInfo         ActionName = "provide_info"
	ActConfirmPreservation ActionName = "confirm_preservation"
	ActInsufficiency       ActionName = "insufficiency_notice"
	ActProceed             ActionName = "proceed"
	ActRefuse              ActionName = "refuse"
	ActDiscloseTraffic     ActionName = "disclose_traffic"
	ActRequestExtension    ActionName = "request_extension"
	ActConfirmExtension    ActionName = "confirm_extension"
	ActMLASubmitted        ActionName = "mla_submitted"
	ActWithdraw            ActionName = "withdraw"
	ActRelease             ActionName = "release"
	ActDetermine           ActionName = "determine"
	ActAcceptConditions    ActionName = "accept_conditions"
	ActRejectConditions    ActionName = "reject_conditions"
	ActAnswer              ActionName = "answer"
	ActClose               ActionName = "close"
)

// Rule says who may take an action, on which kinds of request, from which
// states, and the state it leads to ("" keeps the state).
type Rule struct {
	Action ActionName
	By     Role
	Kinds  []RequestKind // nil: every kind
	From   []State
	To     State
	Doc    string
}

var (
	openish  = []State{StateOpen, StateAcknowledged}
	holdings = []State{StatePreserved, StateExtensionRequested, StateMLAPending}
	preserve = []RequestKind{KindPreservation}
)

// Rules is the single transition table both sides apply.
var Rules = []Rule{
	{ActAcknowledge, Responder, nil, []State{StateOpen}, StateAcknowledged, "a named operator takes up the request"},
	{ActRequestInfo, Responder, nil, []State{StateOpen, StateAcknowledged}, StateInfoRequested, "ask the requester for missing or unclear information"},
	{ActProvideInfo, Requester, nil, []State{StateInfoRequested}, StateAcknowledged, "answer an information request"},
	{ActConfirmPreservation, Responder, preserve, openish, StatePreserved, "data preserved: authority, legal basis, period (≥60 days), dates"},
	{ActInsufficiency, Responder, preserve, openish, StateInsufficient, "Art. 29(6): preservation will not secure the data or would prejudice the investigation"},
	{ActProceed, Requester, preserve, []State{StateInsufficient}, StateAcknowledged, "requester decides to proceed despite the notice"},
	{ActRefuse, Responder, nil, []State{StateOpen, StateAcknowledged, StateInfoRequested, StateInsufficient}, StateRefused, "refusal with a coded ground and reasons"},
	{ActDiscloseTraffic, Responder, preserve, holdings, "", "Art. 30 / UN Art. 43: provider identity and communication path"},
	{ActRequestExtension, Requester, preserve, []State{StatePreserved}, StateExtensionRequested, "ask to extend preservation"},
	{ActConfirmExtension, Responder, preserve, []State{StateExtensionRequested}, StatePreserved, "extension granted with a new expiry"},
	{ActMLASubmitted, Requester, preserve, []State{StatePreserved, StateExtensionRequested}, StateMLAPending, "MLA request submitted: data held until a decision"},
	{ActWithdraw, Requester, nil, []State{StateOpen, StateAcknowledged, StateInfoRequested, StateInsufficient, StatePreserved,
		StateExtensionRequested, StateMLAPending, StateDetermined}, StateWithdrawn, "request withdrawn / no longer needed"},
	{ActRelease, Responder, preserve, append(append([]State{}, holdings...), StateWithdrawn), StateReleased, "preserved data released"},
	{ActDetermine, Responder, []RequestKind{KindEmergency}, []State{StateOpen, StateAcknowledged, StateInfoRequested}, StateDetermined, "emergency determination, possibly with conditions"},
	{ActAcceptConditions, Requester, []RequestKind{KindEmergency}, []State{StateDetermined}, StateConditionsAccepted, "accept the determination's conditions"},
	{ActRejectConditions, Requester, []RequestKind{KindEmergency}, []State{StateDetermined}, StateConditionsRejected, "reject the determination's conditions"},
	{ActAnswer, Responder, []RequestKind{KindAssistance}, openish, StateAnswered, "answer an assistance query"},
	{ActClose, Either, nil, []State{StateRefused, StateWithdrawn, StateReleased, StateAnswered, StateConditionsAccepted, StateConditionsRejected}, StateClosed, "close with an outcome"},
}

func ruleFor(a ActionName) (Rule, bool) {
	for _, r := range Rules {
		if r.Action == a {
			return r, true
		}
	}
	return Rule{}, false
}

// TransitionError explains why an action is not allowed now.
type TransitionError struct {
	Action ActionName
	State  State
	Reason string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s a case that is %s: %s", e.Action, e.State, e.Reason)
}

// Transition checks an action by role on a case of kind in state and
// returns the next state.
func Transition(kind RequestKind, state State, by Role, a ActionName) (State, error) {
	r, ok := ruleFor(a)
	if !ok {
		return state, &TransitionError{a, state, "no such action"}
	}
	if r.By != Either && r.By != by {
		return state, &TransitionError{a, state, fmt.Sprintf("only the %s may do this", r.By)}
	}
	if r.Kinds != nil && !containsKind(r.Kinds, kind) {
		return state, &TransitionError{a, state, fmt.Sprintf("not available for %s requests", kind)}
	}
	for _, s := range r.From {
		if s == state {
			if r.To == "" {
				return state, nil
			}
			return r.To, nil
		}
	}
	return state, &TransitionError{a, state, "allowed only from " + joinStates(r.From)}
}

// Available lists the actions a role may take now.
func Available(kind RequestKind, state State, by Role) []ActionName {
	var out []ActionName
	for _, r := range Rules {
		if _, err := Transition(kind, state, by, r.Action); err == nil {
			out = append(out, r.Action)
		}
	}
	return out
}

func containsKind(ks []RequestKind, k RequestKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func joinStates(ss []State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// RefusalGrounds are the only grounds on which preservation may be refused
// (Budapest Art. 29(4)-(5); UN Art. 40).
var RefusalGrounds = map[string]string{
	"political_offence":   "political offence or offence connected with a political offence",
	"essential_interests": "prejudice to sovereignty, security, ordre public or other essential interests",
	"dual_criminality":    "dual-criminality reservation (Art. 29(4))",
	"persecution":         "persecution on grounds of sex, race, language, religion, nationality, ethnic origin or political opinions (UN Art. 40)",
	"other":               "other ground, stated in the reasons",
}

// InsufficiencyReasons are the Art. 29(6) notices.
var InsufficiencyReasons = map[string]string{
	"will_not_secure":           "preservation will not ensure the future availability of the data",
	"threatens_confidentiality": "preservation would threaten the confidentiality of the investigation",
	"prejudices_investigation":  "preservation would otherwise prejudice the investigation",
}

// Outcomes close a case.
var Outcomes = map[string]string{
	"completed":           "assistance given",
	"refused":             "request refused",
	"withdrawn":           "withdrawn or no longer needed",
	"released":            "preservation ended and data released",
	"expired":             "preservation expired without follow-up",
	"conditions_rejected": "emergency conditions rejected",
	"other":               "other outcome",
}

// Action is the payload of a TypeAction envelope. One struct serves every
// action; Validate says which fields each one needs.
type Action struct {
	Action   ActionName `json:"action"`
	Seq      uint64     `json:"seq"`      // one more than the highest seq the actor had seen
	Operator string     `json:"operator"` // the named human who acted

	Text string `json:"text,omitempty"` // questions, answers, reasons, notes

	Ground  string `json:"ground,omitempty"`  // refuse: a RefusalGrounds key
	Reasons string `json:"reasons,omitempty"` // refuse: mandatory

	ExecutingAuthority string `json:"executing_authority,omitempty"`
	DomesticLegalBasis string `json:"domestic_legal_basis,omitempty"`
	PeriodDays         int    `json:"period_days,omitempty"`
	StartDate          string `json:"start_date,omitempty"`  // YYYY-MM-DD
	ExpiryDate         string `json:"expiry_date,omitempty"` // YYYY-MM-DD

	Reason   string `json:"reason,omitempty"`   // insufficiency: an InsufficiencyReasons key
	Provider string `json:"provider,omitempty"` // traffic disclosure
	Path     string `json:"path,omitempty"`     // traffic disclosure: communication path

	MLAReference string `json:"mla_reference,omitempty"`
	Conditions   string `json:"conditions,omitempty"` // emergency determination
	Decision     string `json:"decision,omitempty"`   // emergency: disclose or refuse
	Outcome      string `json:"outcome,omitempty"`    // close: an Outcomes key
}

// MinPreservationDays is Art. 29(7)'s minimum (UN Art. 42(7) the same).
const MinPreservationDays = 60

// MaxPreservationDays bounds any period a peer can set. It is not a legal
// limit (the law sets only a minimum, and domestic regimes vary): it keeps
// dates computable and a typo of an extra digit visible.
const MaxPreservationDays = 3650

// Validate checks the fields the action needs.
func (a *Action) Validate() error {
	var f fieldErrors
	if _, ok := ruleFor(a.Action); !ok {
		f.add("action", "is not a known action")
		return f.err()
	}
	f.required("operator", a.Operator)
	switch a.Action {
	case ActRequestInfo, ActProvideInfo, ActAnswer:
		f.required("text", a.Text)
	case ActConfirmPreservation:
		f.required("executing_authority", a.ExecutingAuthority)
		f.required("domestic_legal_basis", a.DomesticLegalBasis)
		if a.PeriodDays < MinPreservationDays {
			f.add("period_days", "must be at least %d (Budapest Art. 29(7))", MinPreservationDays)
		}
		validateDates(&f, a.StartDate, a.ExpiryDate, a.PeriodDays)
	case ActInsufficiency:
		if _, ok := InsufficiencyReasons[a.Reason]; !ok {
			f.add("reason", "must be will_not_secure, threatens_confidentiality or prejudices_investigation")
		}
		f.required("text", a.Text)
	case ActRefuse:
		if _, ok := RefusalGrounds[a.Ground]; !ok {
			f.add("ground", "must be political_offence, essential_interests, dual_criminality, persecution or other")
		}
		f.required("reasons", a.Reasons)
	case ActDiscloseTraffic:
		f.required("provider", a.Provider)
		f.required("path", a.Path)
	case ActRequestExtension:
		if a.PeriodDays < 1 {
			f.add("period_days", "give the extra days requested")
		}
	case ActConfirmExtension:
		if _, err := time.Parse(time.DateOnly, a.ExpiryDate); err != nil {
			f.add("expiry_date", "must be the new expiry date as YYYY-MM-DD")
		}
	case ActMLASubmitted:
		f.required("mla_reference", a.MLAReference)
	case ActDetermine:
		if a.Decision != "disclose" && a.Decision != "refuse" {
			f.add("decision", `must be "disclose" or "refuse"`)
		}
		f.required("text", a.Text)
	case ActClose:
		if _, ok := Outcomes[a.Outcome]; !ok {
			f.add("outcome", "must be completed, refused, withdrawn, released, expired, conditions_rejected or other")
		}
	}
	return f.err()
}

func validateDates(f *fieldErrors, start, expiry string, days int) {
	s, err := time.Parse(time.DateOnly, start)
	if err != nil {
		f.add("start_date", "must be a date as YYYY-MM-DD")
		return
	}
	if expiry == "" {
		return
	}
	e, err := time.Parse(time.DateOnly, expiry)
	if err != nil {
		f.add("expiry_date", "must be a date as YYYY-MM-DD")
		return
	}
	if days > 0 && !e.Equal(s.AddDate(0, 0, days)) {
		f.add("expiry_date", "must be start_date + period_days (%s)", s.AddDate(0, 0, days).Format(time.DateOnly))
	}
}

// Expiry returns when preservation confirmed by this action ends: start
// date plus period, at the end of that UTC day.
func (a *Action) Expiry() (time.Time, bool) {
	switch a.Action {
	case ActConfirmPreservation:
		s, err := time.Parse(time.DateOnly, a.StartDate)
		if err != nil {
			return time.Time{}, false
		}
		return s.AddDate(0, 0, a.PeriodDays), true
	case ActConfirmExtension:
		e, err := time.Parse(time.DateOnly, a.ExpiryDate)
		return e, err == nil
	}
	return time.Time{}, false
}

// ParseAction decodes an action payload, rejecting unknown fields. Like
// ParseRequest it returns the action together with a *ValidationError when
// it decodes but is incomplete.
func ParseAction(doc []byte) (*Action, error) {
	var a Action
	if err := strictDecode(doc, &a); err != nil {
		return nil, err
	}
	return &a, a.Validate()
}

// invalidPayload is why an event whose payload did not decode is ignored.
const invalidPayload = "payload is not a valid action"

// ActionMeta is what replaying an action needs to know of it: everything
// that decides whether it applies and what it changes, decoded once from
// the decrypted payload when the message is stored. Replaying a case from
// its stored metadata therefore never decrypts an envelope, and the cost of
// applying one action does not grow with the case (issue 9, item 5).
type ActionMeta struct {
	Action   ActionName `json:"action,omitempty"`
	Seq      uint64     `json:"seq,omitempty"`
	Operator string     `json:"operator,omitempty"` // shown in the history, also to metadata-only readers
	// Invalid is why the action can never apply, whatever the state (it did
	// not decode or misses fields); "" for a well-formed action.
	Invalid string `json:"invalid,omitempty"`
	// Expiry is the preservation end a confirmation sets (zero otherwise).
	Expiry time.Time `json:"expiry,omitzero"`
	// Outcome is a closing action's outcome.
	Outcome string `json:"outcome,omitempty"`
}

// MetaOf extracts the replay metadata of a decoded action; a nil action
// (the payload did not decode) yields metadata that never applies.
func MetaOf(a *Action) ActionMeta {
	if a == nil {
		return ActionMeta{Invalid: invalidPayload}
	}
	m := ActionMeta{Action: a.Action, Seq: a.Seq, Operator: a.Operator}
	if err := a.Validate(); err != nil {
		m.Invalid = err.Error()
		return m
	}
	if e, ok := a.Expiry(); ok {
		m.Expiry = e
	}
	if a.Action == ActClose {
		m.Outcome = a.Outcome
	}
	return m
}

// Event is one action on a case as both nodes see it.
type Event struct {
	MessageID string
	By        Role
	At        time.Time
	Meta      ActionMeta
}

// EventResult is an event after replay.
type EventResult struct {
	Event
	From, To State
	Invalid  string // why the event did not apply, if it did not
}

// CaseState is what replaying a case's events yields.
type CaseState struct {
	State          State
	Seq            uint64 // highest seq of any event
	AcknowledgedAt time.Time
	ExpiresAt      time.Time
	Hold           bool
	ClosedAt       time.Time
	Outcome        string
	// LastMessageID is the message ID of the last event in replay order
	// ((seq, message ID)); with Seq it says whether a new event sorts last.
	LastMessageID string
	History       []EventResult
}

// eventLess is the replay order both nodes know identically.
func eventLess(a, b Event) bool {
	if a.Meta.Seq != b.Meta.Seq {
		return a.Meta.Seq < b.Meta.Seq
	}
	return a.MessageID < b.MessageID
}

// Replay derives a case's state from its events. Events are ordered by
// (seq, message ID), which both nodes know identically, so concurrent
// actions (say a withdrawal crossing a confirmation) resolve the same way
// on both sides: the later one in that order is flagged invalid if the
// earlier one made it impossible.
func Replay(kind RequestKind, events []Event) CaseState {
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return eventLess(evs[i], evs[j]) })
	cs := CaseState{State: StateOpen}
	for _, ev := range evs {
		cs.History = append(cs.History, cs.apply(kind, ev))
		cs.LastMessageID = ev.MessageID
	}
	return cs
}

// Advance applies one new event to the state that replaying the case's
// earlier events gave (History may be empty), without those events. It
// reports false, changing nothing, when the result could differ from a
// full Replay: the event sorts before an event already applied and could
// itself apply, which may change what every later event does. An event
// that can never apply (Meta.Invalid) changes nothing but Seq wherever it
// sorts, so it always advances. Advance(Replay(kind, evs), e) equals
// Replay(kind, append(evs, e)) whenever it reports true.
func Advance(kind RequestKind, cs CaseState, ev Event) (CaseState, EventResult, bool) {
	inOrder := eventLess(Event{MessageID: cs.LastMessageID, Meta: ActionMeta{Seq: cs.Seq}}, ev)
	if !inOrder && ev.Meta.Invalid == "" {
		return cs, EventResult{}, false
	}
	res := cs.apply(kind, ev)
	if inOrder {
		cs.LastMessageID = ev.MessageID
	}
	cs.History = append(cs.History[:len(cs.History):len(cs.History)], res)
	return cs, res, true
}

// apply folds one event, in replay order, into the state.
func (cs *CaseState) apply(kind RequestKind, ev Event) EventResult {
	res := EventResult{Event: ev, From: cs.State, To: cs.State}
	if ev.Meta.Seq > cs.Seq {
		cs.Seq = ev.Meta.Seq
	}
	if ev.Meta.Invalid != "" {
		res.Invalid = ev.Meta.Invalid
		return res
	}
	next, err := Transition(kind, cs.State, ev.By, ev.Meta.Action)
	if err != nil {
		res.Invalid = err.Error()
		return res
	}
	res.To = next
	if ev.By == Responder && cs.AcknowledgedAt.IsZero() {
		cs.AcknowledgedAt = ev.At
	}
	switch ev.Meta.Action {
	case ActConfirmPreservation, ActConfirmExtension:
		if !ev.Meta.Expiry.IsZero() {
			cs.ExpiresAt = ev.Meta.Expiry
		}
	case ActMLASubmitted:
		cs.Hold = true
	case ActRelease:
		cs.Hold, cs.ExpiresAt = false, time.Time{}
	case ActClose:
		cs.ClosedAt, cs.Outcome = ev.At, ev.Meta.Outcome
	}
	cs.State = next
	return res
}

// Terminal reports whether a case in state s is over in substance: closed,
// or a state whose only step left is to close it (a withdrawn preservation
// may still have its data released). No deadline runs for such a case and
// it no longer counts as open. It is derived from Rules (the states close
// leads from), so the transition table stays the one source of the legal
// states.
func Terminal(s State) bool {
	if s == StateClosed {
		return true
	}
	r, _ := ruleFor(ActClose)
	return slices.Contains(r.From, s)
}
