package protocol

import (
	"fmt"
	"slices"
	"strings"
)

// TypeAction marks an envelope whose payload is an Action on a case.
const TypeAction MessageType = "action"

// State is the legal state of a case. It is separate from the transport
// state of its messages (queued, sent, delivered), and both nodes of a case
// derive it from the same actions with the same Rules and Terms.
type State string

const (
	StateOpen               State = "open"                // request received, no human action yet
	StateAcknowledged       State = "acknowledged"        // a named operator took it up
	StatePostponed          State = "postponed"           // Budapest Art. 27(5): action postponed, reasons given
	StatePreserved          State = "preserved"           // preservation confirmed, expiry set
	StateInsufficient       State = "insufficient"        // Art. 29(6) notice; requester decides
	StateExtensionRequested State = "extension_requested" // requester asked to extend
	StateMLAPending         State = "mla_pending"         // MLA request received: held pending a decision (Art. 29(7))
	StateMLADecided         State = "mla_decided"         // decision on the MLA request recorded; data may be released
	StateRefused            State = "refused"
	StateWithdrawn          State = "withdrawn"
	StateReleased           State = "released"            // preserved data released
	StateDetermined         State = "determined"          // emergency: data will be provided, no conditions (Protocol Art. 9(6))
	StateConditionsProposed State = "conditions_proposed" // emergency: provided subject to conditions (Art. 9(6))
	StateConditionsAccepted State = "conditions_accepted" // requester bound by them (Art. 9(7)(a))
	StateConditionsRejected State = "conditions_rejected" // requester cannot comply; requested side decides (Art. 9(7)(a))
	StateDataProvided       State = "data_provided"       // emergency: data handed over
	StateAnswered           State = "answered"
	StateClosed             State = "closed"

	// StateInfoRequested is kept for cases stored before asking for
	// information stopped blocking preservation (Art. 29(3)); no rule leads
	// to it any more, and replaying such a case under the current rules
	// leaves it where the request for information found it.
	StateInfoRequested State = "info_requested"
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
	ActPostpone            ActionName = "postpone"
	ActResume              ActionName = "resume"
	ActRefuse              ActionName = "refuse"
	ActDiscloseTraffic     ActionName = "disclose_traffic"
	ActWithholdTraffic     ActionName = "withhold_traffic"
	ActRequestExtension    ActionName = "request_extension"
	ActConfirmExtension    ActionName = "confirm_extension"
	ActDeclineExtension    ActionName = "decline_extension"
	ActMLASubmitted        ActionName = "mla_submitted"
	ActMLAReceived         ActionName = "mla_received"
	ActReviewHold          ActionName = "review_hold"
	ActMLADecided          ActionName = "mla_decided"
	ActWithdraw            ActionName = "withdraw"
	ActRelease             ActionName = "release"
	ActDetermine           ActionName = "determine"
	ActAcceptConditions    ActionName = "accept_conditions"
	ActRejectConditions    ActionName = "reject_conditions"
	ActHandOver            ActionName = "hand_over"
	ActRequestExplanation  ActionName = "request_explanation"
	ActExplainUse          ActionName = "explain_use"
	ActConfirmationSent    ActionName = "confirmation_sent"
	ActAnswer              ActionName = "answer"
	ActClose               ActionName = "close"
)

// Rule says who may take an action, on which kinds of request, from which
// states, the state it leads to ("" keeps the state), and the article it
// comes from. Conditions beyond the state (a ground the treaty basis
// allows, a date the period allows) are checked by Check.
type Rule struct {
	Action  ActionName
	By      Role
	Kinds   []RequestKind // nil: every kind
	From    []State
	To      State
	Article string
	Doc     string
}

var (
	preserve  = []RequestKind{KindPreservation}
	emergency = []RequestKind{KindEmergency, KindEmergencyMLA}
	begun     = []State{StateOpen, StateAcknowledged}
	// holding: data preserved and the period running.
	holding = []State{StatePreserved, StateExtensionRequested}
	// executing: "in the course of the execution" of a preservation
	// request (Art. 30(1)).
	executing = []State{StateAcknowledged, StatePreserved, StateExtensionRequested, StateMLAPending, StateMLADecided}
	// live: every state in which the case is not over in substance.
	live = []State{StateOpen, StateAcknowledged, StatePostponed, StateInsufficient, StatePreserved, StateExtensionRequested,
		StateMLAPending, StateMLADecided, StateDetermined, StateConditionsProposed, StateConditionsAccepted,
		StateConditionsRejected, StateInfoRequested}
	closable = []State{StateRefused, StateWithdrawn, StateReleased, StateAnswered, StateDataProvided}
)

// Rules is the single transition table both sides apply.
var Rules = []Rule{
	{ActAcknowledge, Responder, nil, []State{StateOpen, StateInfoRequested}, StateAcknowledged, "Budapest Art. 35(1); UN Art. 41", "a named operator takes up the request"},
	// Asking for details never blocks preserving (Art. 29(3)): it keeps the state.
	{ActRequestInfo, Responder, nil, live, "", "Budapest Art. 29(3); Protocol Art. 10(3)", "ask the requester for missing or unclear information"},
	{ActProvideInfo, Requester, nil, live, "", "Protocol Art. 10(3)", "answer an information request"},
	{ActConfirmPreservation, Responder, preserve, []State{StateOpen, StateAcknowledged, StateInfoRequested}, StatePreserved, "Budapest Art. 29(3), (7); UN Art. 42(3), (7)", "data preserved: authority, legal basis, period of at least 60 days from the actual start, outcome per identifier"},
	{ActInsufficiency, Responder, preserve, []State{StateOpen, StateAcknowledged, StateInfoRequested}, StateInsufficient, "Budapest Art. 29(6); UN Art. 42(6)", "preservation will not secure the data or would prejudice the investigation; the requester decides by a deadline"},
	{ActProceed, Requester, preserve, []State{StateInsufficient}, StateAcknowledged, "Budapest Art. 29(6)", "the requester decides the request should nevertheless be executed"},
	{ActPostpone, Responder, []RequestKind{KindPreservation, KindEmergencyMLA}, begun, StatePostponed, "Budapest Art. 27(5), (7); Protocol Art. 10(7)", "action postponed because it would prejudice a domestic investigation; reasons and a date"},
	{ActResume, Responder, []RequestKind{KindPreservation, KindEmergencyMLA}, []State{StatePostponed}, StateAcknowledged, "Budapest Art. 27(5)", "the postponement ends"},
	{ActRefuse, Responder, nil, []State{StateOpen, StateAcknowledged, StateInfoRequested, StateInsufficient, StatePostponed, StateConditionsRejected}, StateRefused, "Budapest Arts. 27(4), 29(4)-(5); UN Arts. 40(21)-(22), 42(4)-(5); Protocol Art. 9(6)", "refusal on a ground the treaty basis allows, with reasons"},
	{ActDiscloseTraffic, Responder, preserve, executing, "", "Budapest Art. 30(1); UN Art. 43(1)", "traffic data identifying another provider and the path"},
	{ActWithholdTraffic, Responder, preserve, executing, "", "Budapest Art. 30(2); UN Art. 43(2)", "traffic data withheld on an Art. 30(2) ground, with reasons"},
	{ActRequestExtension, Requester, preserve, []State{StatePreserved}, StateExtensionRequested, "Budapest Art. 29(7)", "ask to extend preservation"},
	{ActConfirmExtension, Responder, preserve, []State{StateExtensionRequested}, StatePreserved, "Budapest Art. 29(7)", "extension granted: a new expiry later than the current one"},
	{ActDeclineExtension, Responder, preserve, []State{StateExtensionRequested}, StatePreserved, "Budapest Art. 29(7)", "extension not granted; the current expiry stands"},
	{ActMLASubmitted, Requester, preserve, []State{StateAcknowledged, StatePreserved, StateExtensionRequested}, "", "Budapest Art. 29(2)(f), (7)", "the requester tells that its MLA request was sent (the hold starts only on receipt)"},
	{ActMLAReceived, Responder, preserve, holding, StateMLAPending, "Budapest Art. 29(7); UN Art. 42(7)", "MLA request received: the data stay preserved pending a decision on it; a review date"},
	{ActReviewHold, Responder, preserve, []State{StateMLAPending}, "", "Protocol Art. 14(5)", "periodic review of the retention; the next review date"},
	{ActMLADecided, Responder, preserve, []State{StateMLAPending, StateWithdrawn}, StateMLADecided, "Budapest Art. 29(7)", "a decision on the MLA request is recorded; the hold ends (a withdrawn request stays withdrawn)"},
	{ActWithdraw, Requester, nil, live, StateWithdrawn, "Budapest Art. 29(7)", "request withdrawn or no longer needed"},
	{ActRelease, Responder, preserve, []State{StatePreserved, StateExtensionRequested, StateMLADecided, StateWithdrawn}, StateReleased, "Budapest Art. 29(7)", "preserved data released: after the period, the MLA decision or a withdrawal, never during the hold"},
	{ActDetermine, Responder, emergency, []State{StateOpen, StateAcknowledged, StateInfoRequested}, "", "Protocol Arts. 9(6), 10(4); Budapest Arts. 27(6), 28(2)", "determination on a rapidly expedited basis: provide, provide subject to conditions, or refuse"},
	{ActAcceptConditions, Requester, emergency, []State{StateConditionsProposed}, StateConditionsAccepted, "Protocol Art. 9(7)(a)", "accept the conditions and be bound by them"},
	{ActRejectConditions, Requester, emergency, []State{StateConditionsProposed}, StateConditionsRejected, "Protocol Art. 9(7)(a)", "the requester cannot comply with the conditions"},
	{ActHandOver, Responder, emergency, []State{StateDetermined, StateConditionsAccepted, StateConditionsRejected}, StateDataProvided, "Protocol Arts. 9(2)(c), 9(7)(a), 10(4)", "the data are provided (after conditions were rejected: provided nevertheless)"},
	{ActRequestExplanation, Responder, emergency, []State{StateDataProvided}, "", "Protocol Art. 9(7)(b); Budapest Art. 28(3)", "ask the requester to explain the use made of the data in relation to a condition"},
	{ActExplainUse, Requester, emergency, []State{StateDataProvided}, "", "Protocol Art. 9(7)(b)", "explain the use made of the data"},
	{ActConfirmationSent, Requester, nil, append(slices.Clone(live), closable...), "", "Budapest Art. 25(3); Protocol Art. 9(5)", "formal confirmation, or resubmission in the declared format, sent"},
	{ActAnswer, Responder, []RequestKind{KindAssistance}, []State{StateOpen, StateAcknowledged, StateInfoRequested}, StateAnswered, "Budapest Art. 35(1); UN Art. 41", "answer an assistance query"},
	{ActClose, Either, nil, closable, StateClosed, "", "close with an outcome"},
}

// determineTo is where a determination leads, by its decision.
var determineTo = map[string]State{
	"provide":                 StateDetermined,
	"provide_with_conditions": StateConditionsProposed,
	"refuse":                  StateRefused,
}

// RuleOf returns the rule of action a.
func RuleOf(a ActionName) (Rule, bool) { return ruleFor(a) }

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

// allowedNow checks role, kind, state and treaty basis: everything that
// does not depend on the action's fields.
func allowedNow(t Terms, state State, by Role, a ActionName) (Rule, error) {
	r, ok := ruleFor(a)
	if !ok {
		return r, &TransitionError{a, state, "no such action"}
	}
	if r.By != Either && r.By != by {
		return r, &TransitionError{a, state, fmt.Sprintf("only the %s may do this", r.By)}
	}
	if r.Kinds != nil && !slices.Contains(r.Kinds, t.Kind) {
		return r, &TransitionError{a, state, fmt.Sprintf("not available for %s requests", t.Kind)}
	}
	if !slices.Contains(r.From, state) {
		return r, &TransitionError{a, state, "allowed only from " + joinStates(r.From)}
	}
	if t.Treaty == "" && !slices.Contains(withoutBasis, a) {
		return r, &TransitionError{a, state, "the two states share no treaty basis for this request (" + t.Problem + "); it can only be refused on that ground"}
	}
	return r, nil
}

// withoutBasis are the actions open on a request the two states share no
// treaty for: take it up, talk about it, refuse it, withdraw it, close it.
var withoutBasis = []ActionName{ActAcknowledge, ActRequestInfo, ActProvideInfo, ActRefuse, ActWithdraw, ActClose}

// Available lists the actions a role may take now on a case with terms t
// in state cs, as far as role, kind, state and treaty basis decide. An
// action listed may still be refused for its fields (Check).
func Available(t Terms, cs CaseState, by Role) []ActionName {
	var out []ActionName
	for _, r := range Rules {
		if _, err := allowedNow(t, cs.State, by, r.Action); err != nil {
			continue
		}
		if precondition(t, cs, r.Action) != "" {
			continue
		}
		out = append(out, r.Action)
	}
	return out
}

// precondition is why an action allowed from the state still cannot be
// taken in the case as it stands, "" if it can.
func precondition(t Terms, cs CaseState, a ActionName) string {
	switch a {
	case ActProvideInfo:
		if !cs.InfoPending && cs.State != StateInfoRequested {
			return "no information was asked for"
		}
	case ActExplainUse:
		if !cs.ExplanationDue {
			return "no explanation was asked for"
		}
	case ActDiscloseTraffic, ActWithholdTraffic:
		if !t.Traffic {
			// Art. 30(1): "a request ... to preserve traffic data".
			return "the request did not ask for traffic data (Budapest Art. 30(1))"
		}
	case ActConfirmationSent:
		if t.Confirmation == "" {
			return "the requested state declared no formal confirmation or resubmission (Budapest Art. 25(3), Protocol Art. 9(5))"
		}
		if cs.ConfirmationSent {
			return "already recorded"
		}
	case ActMLASubmitted:
		if cs.MLASubmitted {
			return "already told"
		}
	case ActMLADecided:
		if !cs.Hold {
			return "no MLA request received is pending a decision"
		}

	}
	return ""
}

func joinStates(ss []State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
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
