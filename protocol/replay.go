package protocol

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Event is one action on a case as both nodes see it. At is the creation
// time of the action's envelope, which both nodes know identically.
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

// LegalFacts are what the rules keep about a case besides its state:
// pending questions, the period, the hold and the deadlines it sets.
type LegalFacts struct {
	InfoPending      bool      `json:"info_pending,omitempty"`    // a request for information is unanswered
	PreservedFrom    time.Time `json:"preserved_from,omitzero"`   // the actual start of preservation
	MLASubmitted     bool      `json:"mla_submitted,omitempty"`   // the requester said its MLA request was sent
	ReviewDueAt      time.Time `json:"review_due_at,omitzero"`    // next review of a hold (Protocol Art. 14(5))
	DecisionDueAt    time.Time `json:"decision_due_at,omitzero"`  // requester's decision after an insufficiency notice
	ExplanationDue   bool      `json:"explanation_due,omitempty"` // Protocol Art. 9(7)(b)
	ConfirmationSent bool      `json:"confirmation_sent,omitempty"`
	PostponedUntil   time.Time `json:"postponed_until,omitzero"`
}

// CaseState is what replaying a case's events yields.
type CaseState struct {
	State          State
	Seq            uint64 // highest seq of any event
	AcknowledgedAt time.Time
	ExpiresAt      time.Time
	Hold           bool // preserved pending the decision on an MLA request (Art. 29(7))
	ClosedAt       time.Time
	Outcome        string
	LegalFacts
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

// Replay derives a case's state from its events under its terms. Events
// are ordered by (seq, message ID), which both nodes know identically, so
// concurrent actions (say a withdrawal crossing a confirmation) resolve the
// same way on both sides: the later one in that order is flagged invalid if
// the earlier one made it impossible.
func Replay(t Terms, events []Event) CaseState {
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return eventLess(evs[i], evs[j]) })
	cs := CaseState{State: StateOpen}
	for _, ev := range evs {
		cs.History = append(cs.History, cs.apply(t, ev))
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
// sorts, so it always advances. Advance(t, Replay(t, evs), e) equals
// Replay(t, append(evs, e)) whenever it reports true.
func Advance(t Terms, cs CaseState, ev Event) (CaseState, EventResult, bool) {
	inOrder := eventLess(Event{MessageID: cs.LastMessageID, Meta: ActionMeta{Seq: cs.Seq}}, ev)
	if !inOrder && ev.Meta.Invalid == "" {
		return cs, EventResult{}, false
	}
	res := cs.apply(t, ev)
	if inOrder {
		cs.LastMessageID = ev.MessageID
	}
	cs.History = append(cs.History[:len(cs.History):len(cs.History)], res)
	return cs, res, true
}

// Check says whether ev may apply to a case with terms t in state cs, and
// the state it leads to. Its error is a *TransitionError (not allowed
// now) or a *ValidationError naming the field the case refuses (a ground
// the treaty basis does not offer, a date the period does not allow).
func Check(t Terms, cs CaseState, ev Event) (State, error) {
	m := ev.Meta
	if m.Invalid != "" {
		return cs.State, &TransitionError{m.Action, cs.State, m.Invalid}
	}
	r, err := allowedNow(t, cs.State, ev.By, m.Action)
	if err != nil {
		return cs.State, err
	}
	if why := precondition(t, cs, m.Action); why != "" {
		return cs.State, &TransitionError{m.Action, cs.State, why}
	}
	if err := guard(t, cs, ev); err != nil {
		return cs.State, err
	}
	next := r.To
	if m.Action == ActMLADecided && cs.State == StateWithdrawn {
		next = "" // the decision ends the hold; the case stays withdrawn
	}
	if m.Action == ActDetermine {
		var ok bool
		if next, ok = determineTo[m.Decision]; !ok {
			// Metadata stored by older nodes kept no decision; their
			// determinations awaited acceptance of conditions.
			next = StateConditionsProposed
		}
	}
	if next == "" {
		next = cs.State
	}
	return next, nil
}

func fieldError(field, format string, args ...any) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// guard checks what the case allows of the action's fields.
func guard(t Terms, cs CaseState, ev Event) error {
	m := ev.Meta
	today := t.LocalDay(ev.At)
	afterToday := func(field, v string) error {
		d, err := t.ParseLocalDate(v)
		if err != nil || !d.After(today) {
			return fieldError(field, "must be a date after today (%s, %s)", today.Format(time.DateOnly), t.ResponderZone)
		}
		return nil
	}
	switch m.Action {
	case ActRefuse, ActWithholdTraffic:
		if !groundAllowed(t, m.Action, m.Ground) {
			return fieldError("ground", "is not available here; under %s the grounds are: %s", basisName(t), strings.Join(GroundKeys(t, m.Action), ", "))
		}
	case ActDetermine:
		if m.Decision == "refuse" && m.Ground != "" && !groundAllowed(t, ActRefuse, m.Ground) {
			return fieldError("ground", "is not available here; the grounds are: %s", strings.Join(GroundKeys(t, ActRefuse), ", "))
		}
	case ActConfirmPreservation:
		if m.StartDate == "" {
			return nil // stored before dates were kept: its expiry was checked then
		}
		start, err := t.ParseLocalDate(m.StartDate)
		if err != nil {
			return fieldError("start_date", "must be a date as YYYY-MM-DD")
		}
		// Art. 29(7): not less than sixty days, counted from the day
		// preservation actually began, which cannot precede the request or
		// follow its confirmation.
		if !t.RequestedAt.IsZero() && start.Before(t.LocalDay(t.RequestedAt)) {
			return fieldError("start_date", "must not be before the request was made (%s): the sixty days run from the actual start (Budapest Art. 29(7))",
				t.LocalDay(t.RequestedAt).Format(time.DateOnly))
		}
		if start.After(today) {
			return fieldError("start_date", "must not be after today (%s): confirm what has been preserved", today.Format(time.DateOnly))
		}
		if m.PeriodDays > t.MaxDays() {
			return fieldError("period_days", "exceeds the requested state's maximum of %d days", t.MaxDays())
		}
		for i, o := range m.Identifiers {
			if t.Identifiers > 0 && o.Index >= t.Identifiers {
				return fieldError(fmt.Sprintf("identifier_outcomes[%d].index", i), "the request names %d identifiers (0 to %d)", t.Identifiers, t.Identifiers-1)
			}
		}
	case ActConfirmExtension:
		if m.ExpiryDate == "" {
			return nil // stored before dates were kept
		}
		e, err := t.ParseLocalDate(m.ExpiryDate)
		if err != nil {
			return fieldError("expiry_date", "must be a date as YYYY-MM-DD")
		}
		if !e.After(cs.ExpiresAt) {
			return fieldError("expiry_date", "must be later than the current expiry (%s): an extension only moves forward (Budapest Art. 29(7))",
				cs.ExpiresAt.In(t.zone()).Format(time.DateOnly))
		}
		if !cs.PreservedFrom.IsZero() && e.Sub(cs.PreservedFrom) > time.Duration(t.MaxDays())*24*time.Hour+time.Hour {
			return fieldError("expiry_date", "exceeds the requested state's maximum of %d days in all", t.MaxDays())
		}
	case ActRelease:
		// Art. 29(7): the period is a minimum, and once the MLA request is
		// received the data stay preserved pending its decision, even if
		// the preservation request is withdrawn meanwhile.
		if cs.Hold {
			return &TransitionError{m.Action, cs.State, "the data stay preserved pending the decision on the MLA request received (Budapest Art. 29(7)); record it (mla_decided) first"}
		}
		if slices.Contains(holding, cs.State) && (cs.ExpiresAt.IsZero() || ev.At.Before(cs.ExpiresAt)) {
			return &TransitionError{m.Action, cs.State, fmt.Sprintf("the preservation period runs until %s (Budapest Art. 29(7)); release after it, after the MLA decision, or once the request is withdrawn",
				cs.ExpiresAt.Format(time.RFC3339))}
		}
	case ActInsufficiency:
		if rb, err := time.Parse(time.RFC3339, m.RespondBy); err != nil || !rb.After(ev.At) {
			return fieldError("respond_by", "must be a time after now: the requester's decision is due then (Art. 29(6))")
		}
	case ActMLAReceived, ActReviewHold:
		return afterToday("review_by", m.ReviewBy)
	case ActPostpone:
		return afterToday("until", m.Until)
	}
	return nil
}

func basisName(t Terms) string {
	if n, ok := Treaties[t.Treaty]; ok {
		return n
	}
	return "no treaty basis"
}

// apply folds one event, in replay order, into the state.
func (cs *CaseState) apply(t Terms, ev Event) EventResult {
	res := EventResult{Event: ev, From: cs.State, To: cs.State}
	if ev.Meta.Seq > cs.Seq {
		cs.Seq = ev.Meta.Seq
	}
	if ev.Meta.Invalid != "" {
		// The same words wherever it sorts, so Advance and Replay agree.
		res.Invalid = ev.Meta.Invalid
		return res
	}
	next, err := Check(t, *cs, ev)
	if err != nil {
		res.Invalid = err.Error()
		return res
	}
	res.To = next
	if ev.By == Responder && cs.AcknowledgedAt.IsZero() {
		cs.AcknowledgedAt = ev.At
	}
	m := ev.Meta
	localDate := func(s string) time.Time { d, _ := t.ParseLocalDate(s); return d }
	switch m.Action {
	case ActRequestInfo:
		cs.InfoPending = true
	case ActProvideInfo:
		cs.InfoPending = false
	case ActConfirmPreservation:
		if m.StartDate != "" {
			// Computed in the requested state's zone, kept in UTC.
			start := localDate(m.StartDate)
			cs.PreservedFrom, cs.ExpiresAt = start.UTC(), start.AddDate(0, 0, m.PeriodDays).UTC()
		} else if !m.Expiry.IsZero() {
			cs.ExpiresAt = m.Expiry
		}
	case ActConfirmExtension:
		if m.ExpiryDate != "" {
			cs.ExpiresAt = localDate(m.ExpiryDate).UTC()
		} else if !m.Expiry.IsZero() {
			cs.ExpiresAt = m.Expiry
		}
	case ActInsufficiency:
		cs.DecisionDueAt, _ = time.Parse(time.RFC3339, m.RespondBy)
	case ActProceed, ActWithdraw:
		cs.DecisionDueAt = time.Time{}
	case ActMLASubmitted:
		cs.MLASubmitted = true
	case ActMLAReceived, ActReviewHold:
		cs.Hold, cs.ReviewDueAt = true, localDate(m.ReviewBy).UTC()
	case ActMLADecided:
		cs.Hold, cs.ReviewDueAt = false, time.Time{}
	case ActRelease:
		cs.Hold, cs.ExpiresAt = false, time.Time{}
	case ActPostpone:
		cs.PostponedUntil = localDate(m.Until).UTC()
	case ActResume:
		cs.PostponedUntil = time.Time{}
	case ActRequestExplanation:
		cs.ExplanationDue = true
	case ActExplainUse:
		cs.ExplanationDue = false
	case ActConfirmationSent:
		cs.ConfirmationSent = true
	case ActClose:
		cs.ClosedAt, cs.Outcome = ev.At, m.Outcome
	}
	cs.State = next
	return res
}
