package protocol

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// InsufficiencyReasons are the Art. 29(6) notices.
var InsufficiencyReasons = map[string]string{
	"will_not_secure":           "preservation will not ensure the future availability of the data",
	"threatens_confidentiality": "preservation would threaten the confidentiality of the investigation",
	"prejudices_investigation":  "preservation would otherwise prejudice the investigation",
}

// IdentifierOutcomes say what became of one identifier of a preservation
// request: a request may be granted partially (Budapest Art. 27(6)).
var IdentifierOutcomes = map[string]string{
	"preserved":     "data preserved",
	"not_found":     "no such account, address or data at the provider",
	"not_held":      "the provider named does not hold these data",
	"not_preserved": "not preserved, for the reasons stated",
}

// MLADecisions are the decisions on an MLA request that end the hold.
var MLADecisions = map[string]string{
	"granted":           "granted: the data will be handed over under MLA",
	"partially_granted": "partially granted",
	"refused":           "refused",
	"withdrawn":         "the MLA request was withdrawn",
}

// Outcomes close a case.
var Outcomes = map[string]string{
	"completed":           "assistance given",
	"data_provided":       "emergency data provided",
	"refused":             "request refused",
	"withdrawn":           "withdrawn or no longer needed",
	"released":            "preservation ended and data released",
	"expired":             "preservation expired without follow-up",
	"conditions_rejected": "emergency conditions rejected",
	"other":               "other outcome",
}

// IdentifierOutcome is the outcome for the identifier at Index (0-based)
// in the request's list.
type IdentifierOutcome struct {
	Index   int    `json:"index"`
	Outcome string `json:"outcome"`
	Note    string `json:"note,omitempty"`
}

// Action is the payload of a TypeAction envelope. One struct serves every
// action; Validate says which fields each one needs, Check what the case
// allows.
type Action struct {
	Action   ActionName `json:"action"`
	Seq      uint64     `json:"seq"`      // one more than the highest seq the actor had seen
	Operator string     `json:"operator"` // the named human who acted

	Text string `json:"text,omitempty"` // questions, answers, reasons, notes

	Ground  string `json:"ground,omitempty"`  // refuse, withhold_traffic: one of Grounds
	Reasons string `json:"reasons,omitempty"` // refuse, withhold, postpone, decline: mandatory (Art. 27(7))
	// ReasonsToBelieve confirms, for a dual-criminality refusal, that the
	// requested side has reasons to believe the condition cannot be
	// fulfilled at the time of disclosure (Budapest Art. 29(4)).
	ReasonsToBelieve bool `json:"reasons_to_believe,omitempty"`

	ExecutingAuthority string              `json:"executing_authority,omitempty"`
	DomesticLegalBasis string              `json:"domestic_legal_basis,omitempty"`
	PeriodDays         int                 `json:"period_days,omitempty"`
	StartDate          string              `json:"start_date,omitempty"`  // YYYY-MM-DD in the requested state's zone
	ExpiryDate         string              `json:"expiry_date,omitempty"` // YYYY-MM-DD in the requested state's zone
	Identifiers        []IdentifierOutcome `json:"identifier_outcomes,omitempty"`

	Reason    string `json:"reason,omitempty"`     // insufficiency: an InsufficiencyReasons key
	RespondBy string `json:"respond_by,omitempty"` // insufficiency: the requester's decision is due (RFC 3339)
	Provider  string `json:"provider,omitempty"`   // traffic disclosure
	Path      string `json:"path,omitempty"`       // traffic disclosure: communication path

	MLAReference string `json:"mla_reference,omitempty"`
	ReviewBy     string `json:"review_by,omitempty"` // MLA hold: next review (YYYY-MM-DD)
	Until        string `json:"until,omitempty"`     // postpone: until (YYYY-MM-DD)

	Conditions       string `json:"conditions,omitempty"`        // emergency determination
	Decision         string `json:"decision,omitempty"`          // determine: provide, provide_with_conditions, refuse; mla_decided: MLADecisions
	OtherCooperation string `json:"other_cooperation,omitempty"` // Protocol Art. 9(6): other forms of co-operation available
	Channel          string `json:"channel,omitempty"`           // hand_over, confirmation_sent: by what means
	Reference        string `json:"reference,omitempty"`         // confirmation_sent: the formal request's reference
	Outcome          string `json:"outcome,omitempty"`           // close: an Outcomes key
}

func keysOf(m map[string]string) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// Validate checks the fields the action needs, whatever the case.
func (a *Action) Validate() error {
	var f fieldErrors
	if _, ok := ruleFor(a.Action); !ok {
		f.add("action", "is not a known action")
		return f.err()
	}
	f.required("operator", a.Operator)
	date := func(field, v string) {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			f.add(field, "must be a date as YYYY-MM-DD")
		}
	}
	switch a.Action {
	case ActRequestInfo, ActProvideInfo, ActAnswer, ActHandOver, ActRequestExplanation, ActExplainUse, ActReviewHold, ActConfirmationSent:
		f.required("text", a.Text)
	}
	switch a.Action {
	case ActConfirmPreservation:
		f.required("executing_authority", a.ExecutingAuthority)
		f.required("domestic_legal_basis", a.DomesticLegalBasis)
		if a.PeriodDays < MinPreservationDays || a.PeriodDays > MaxPreservationDays {
			f.add("period_days", "must be at least %d (Budapest Art. 29(7)) and at most %d", MinPreservationDays, MaxPreservationDays)
		}
		validateDates(&f, a.StartDate, a.ExpiryDate, a.PeriodDays)
		validateOutcomes(&f, a.Identifiers)
	case ActInsufficiency:
		if _, ok := InsufficiencyReasons[a.Reason]; !ok {
			f.add("reason", "must be one of %s", keysOf(InsufficiencyReasons))
		}
		f.required("text", a.Text)
		if _, err := time.Parse(time.RFC3339, a.RespondBy); err != nil {
			f.add("respond_by", "must be when the requester's decision is due, RFC 3339 (Art. 29(6))")
		}
	case ActRefuse, ActWithholdTraffic:
		f.required("ground", a.Ground)
		f.required("reasons", a.Reasons)
		if a.Ground == "dual_criminality" && !a.ReasonsToBelieve {
			f.add("reasons_to_believe", "must be true: refusal on dual criminality needs reasons to believe the condition cannot be fulfilled at disclosure (Budapest Art. 29(4))")
		}
	case ActPostpone:
		f.required("reasons", a.Reasons)
		date("until", a.Until)
	case ActDeclineExtension:
		f.required("reasons", a.Reasons)
	case ActDiscloseTraffic:
		f.required("provider", a.Provider)
		f.required("path", a.Path)
	case ActRequestExtension:
		if a.PeriodDays < 1 || a.PeriodDays > MaxPreservationDays {
			f.add("period_days", "give the extra days requested (1 to %d)", MaxPreservationDays)
		}
	case ActConfirmExtension:
		date("expiry_date", a.ExpiryDate)
	case ActMLASubmitted:
		f.required("mla_reference", a.MLAReference)
	case ActMLAReceived:
		f.required("mla_reference", a.MLAReference)
		date("review_by", a.ReviewBy)
	case ActReviewHold:
		date("review_by", a.ReviewBy)
	case ActMLADecided:
		if _, ok := MLADecisions[a.Decision]; !ok {
			f.add("decision", "must be one of %s", keysOf(MLADecisions))
		}
	case ActDetermine:
		switch a.Decision {
		case "provide", "refuse", "disclose": // "disclose": as older nodes wrote it
		case "provide_with_conditions":
			f.required("conditions", a.Conditions)
		default:
			f.add("decision", `must be "provide", "provide_with_conditions" or "refuse"`)
		}
		f.required("text", a.Text)
	case ActClose:
		if _, ok := Outcomes[a.Outcome]; !ok {
			f.add("outcome", "must be one of %s", keysOf(Outcomes))
		}
	}
	return f.err()
}

func validateOutcomes(f *fieldErrors, outs []IdentifierOutcome) {
	if len(outs) == 0 {
		return // every identifier preserved
	}
	seen, preserved := map[int]bool{}, false
	for i, o := range outs {
		at := fmt.Sprintf("identifier_outcomes[%d]", i)
		if o.Index < 0 || seen[o.Index] {
			f.add(at+".index", "must name each identifier once, counting from 0")
		}
		seen[o.Index] = true
		if _, ok := IdentifierOutcomes[o.Outcome]; !ok {
			f.add(at+".outcome", "must be one of %s", keysOf(IdentifierOutcomes))
		}
		preserved = preserved || o.Outcome == "preserved"
	}
	if !preserved {
		f.add("identifier_outcomes", "name at least one identifier preserved; if none could be, send an insufficiency notice (Art. 29(6)) or refuse")
	}
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
	// Expiry is the preservation end that a confirmation stored before
	// dates were kept set; newer metadata carries the dates instead.
	Expiry  time.Time `json:"expiry,omitzero"`
	Outcome string    `json:"outcome,omitempty"` // close

	Ground           string              `json:"ground,omitempty"`
	ReasonsToBelieve bool                `json:"reasons_to_believe,omitempty"`
	Decision         string              `json:"decision,omitempty"`
	PeriodDays       int                 `json:"period_days,omitempty"`
	StartDate        string              `json:"start_date,omitempty"`
	ExpiryDate       string              `json:"expiry_date,omitempty"`
	RespondBy        string              `json:"respond_by,omitempty"`
	ReviewBy         string              `json:"review_by,omitempty"`
	Until            string              `json:"until,omitempty"`
	Identifiers      []IdentifierOutcome `json:"identifier_outcomes,omitempty"` // without notes
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
	m.Ground, m.ReasonsToBelieve, m.Decision = a.Ground, a.ReasonsToBelieve, a.Decision
	m.PeriodDays, m.StartDate, m.ExpiryDate = a.PeriodDays, a.StartDate, a.ExpiryDate
	m.RespondBy, m.ReviewBy, m.Until = a.RespondBy, a.ReviewBy, a.Until
	for _, o := range a.Identifiers {
		m.Identifiers = append(m.Identifiers, IdentifierOutcome{Index: o.Index, Outcome: o.Outcome})
	}
	if a.Action == ActClose {
		m.Outcome = a.Outcome
	}
	if a.Action == ActDetermine && a.Decision == "disclose" {
		// Older nodes wrote "disclose", with or without conditions.
		m.Decision = "provide"
		if a.Conditions != "" {
			m.Decision = "provide_with_conditions"
		}
	}
	return m
}
