package protocol

import (
	"fmt"
	"time"
)

const (
	// KindEmergency is an emergency disclosure request (Second Additional
	// Protocol Art. 9): a significant and imminent risk to the life or
	// safety of a person.
	KindEmergency RequestKind = "emergency"
	// KindAssistance is a question to a 24/7 point of contact (Budapest
	// Art. 35): technical advice, legal information, locating data, a
	// provider or a suspect.
	KindAssistance RequestKind = "assistance"
	// KindEmergencyMLA is a request for emergency mutual assistance
	// (Second Additional Protocol Art. 10) sent to the 24/7 point of a
	// Party that declared it accepts them there (Art. 10(9)).
	KindEmergencyMLA RequestKind = "emergency_mla"
)

// EmergencyRequest asks for emergency disclosure of stored data, with the
// items of Protocol Art. 9(3) in order.
type EmergencyRequest struct {
	Kind RequestKind `json:"kind"`
	To   string      `json:"to"`

	Date               string  `json:"date"` // (a)
	Reference          string  `json:"reference"`
	CompetentAuthority Contact `json:"competent_authority"` // (a)
	// VerificationContact is the supervisor or another official who can
	// confirm that the request is genuine: the usual defence against forged
	// emergency requests, and the receiving point's means of the
	// "appropriate levels of security and authentication" of Art. 9(4).
	VerificationContact    Contact      `json:"verification_contact"`
	LegalBasisStatement    string       `json:"legal_basis_statement"` // (b) made under the Protocol
	Provider               Custodian    `json:"provider"`              // (c)
	Offences               []Offence    `json:"offences"`              // (d)
	EmergencyFacts         string       `json:"emergency_facts"`       // (e) facts showing the emergency
	DataRelationship       string       `json:"data_relationship"`     // (e) how the data relate to it
	DataDescription        string       `json:"data_description"`      // (f)
	DataCategories         []string     `json:"data_categories,omitempty"`
	Identifiers            []Identifier `json:"identifiers,omitempty"`
	ProceduralInstructions string       `json:"procedural_instructions,omitempty"` // (g)
	// SubscriberOnly says the request seeks only subscriber information,
	// which a Party with a Protocol Art. 9(1)(b) declaration does not
	// execute.
	SubscriberOnly bool `json:"subscriber_information_only,omitempty"`
	// OralRequest is set when this request confirms in electronic form an
	// oral request made earlier (Art. 9(4)).
	OralRequest *OralRequest `json:"oral_request,omitempty"`
	// FormalConfirmationToFollow says a formal request will confirm this
	// urgent one, where the requested Party requires it (Budapest
	// Art. 25(3)).
	FormalConfirmationToFollow bool `json:"formal_confirmation_to_follow,omitempty"`

	Safeguards Safeguards `json:"safeguards"`
}

// OralRequest records the oral request that an emergency request confirms
// in electronic form (Protocol Art. 9(4); for Art. 10, Art. 25(3)).
type OralRequest struct {
	MadeAt time.Time `json:"made_at"` // UTC
	MadeTo string    `json:"made_to"` // who received it at the requested point
	MadeBy string    `json:"made_by"` // who made it
}

// validateOralRequest checks an optional oral_request block against the
// date of the request that confirms it.
func validateOralRequest(f *fieldErrors, o *OralRequest, date string) {
	if o == nil {
		return
	}
	if o.MadeAt.IsZero() {
		f.add("oral_request.made_at", "is required: when the oral request was made, as a UTC timestamp (RFC 3339)")
	} else if validateUTC(f, "oral_request.made_at", o.MadeAt) {
		// The confirmation comes after the oral request. Its date may be
		// local to the requester, up to UTC-12, so the oral request may be
		// as late as 36 hours after that date's UTC midnight.
		if d, err := time.Parse(time.DateOnly, date); err == nil && o.MadeAt.After(d.Add(36*time.Hour)) {
			f.add("oral_request.made_at", "is after the date of this request, which confirms it")
		}
	}
	f.required("oral_request.made_to", o.MadeTo)
	f.required("oral_request.made_by", o.MadeBy)
}

// validateOffences checks the offences of an emergency request: each with
// its legal provisions and penalty (Protocol Art. 9(3)(d)).
func validateOffences(f *fieldErrors, offences []Offence) {
	if len(offences) == 0 {
		f.add("offences", "name at least one offence with its legal provisions and penalty")
	}
	for i, o := range offences {
		p := fmt.Sprintf("offences[%d]", i)
		f.required(p+".description", o.Description)
		f.required(p+".legal_provisions", o.LegalProvisions)
		f.required(p+".maximum_penalty", o.MaximumPenalty)
	}
}

func (e *EmergencyRequest) RequestKind() RequestKind { return KindEmergency }
func (e *EmergencyRequest) Recipient() string        { return e.To }

// Validate checks the items Art. 9 requires.
func (e *EmergencyRequest) Validate() error {
	var f fieldErrors
	validateHead(&f, KindEmergency, e.Kind, e.To, e.Date, e.Reference)
	validateContact(&f, "competent_authority", e.CompetentAuthority, requestingRules)
	validateVerification(&f, e.VerificationContact, e.CompetentAuthority)
	f.required("legal_basis_statement", e.LegalBasisStatement)
	f.required("provider.name", e.Provider.Name)
	f.required("provider.address", e.Provider.Address)
	validateOffences(&f, e.Offences)
	f.required("emergency_facts", e.EmergencyFacts)
	f.required("data_relationship", e.DataRelationship)
	f.required("data_description", e.DataDescription)
	validateDataCategories(&f, e.DataCategories, false)
	validateIdentifiers(&f, e.Identifiers)
	validateOralRequest(&f, e.OralRequest, e.Date)
	validateSafeguards(&f, e.Safeguards)
	return f.err()
}

// AssistanceTopics are the kinds of help Budapest Art. 35(1) lists: (a)
// technical advice; (c) collection of evidence, legal information and
// locating suspects (preservation, (b), has its own request kind).
var AssistanceTopics = map[string]string{
	"technical_advice":       "technical advice",
	"collection_of_evidence": "collection of evidence",
	"legal_information":      "legal information",
	"data_location":          "location of data or a service provider",
	"suspect_location":       "locating a suspect",
	"other":                  "other assistance",
}

// AssistanceQuery is a free-text question to another point of contact.
type AssistanceQuery struct {
	Kind RequestKind `json:"kind"`
	To   string      `json:"to"`
	// Treaty is the instrument the query is made under (budapest: Art. 35;
	// un: Art. 41); empty lets the node choose as for preservation.
	Treaty Treaty `json:"treaty,omitempty"`

	Date                string  `json:"date"`
	Reference           string  `json:"reference"`
	RequestingAuthority Contact `json:"requesting_authority"`
	Topic               string  `json:"topic"`
	Question            string  `json:"question"`
	// Drill marks a test request sent by a human-response drill. It still
	// needs a human acknowledgement; it asks for nothing else.
	Drill bool `json:"drill,omitempty"`
	// AcknowledgeBy is a drill's deadline (RFC 3339, UTC): the sender
	// counts a miss after it, so the receiver shows it too.
	AcknowledgeBy string `json:"acknowledge_by,omitempty"`

	Safeguards Safeguards `json:"safeguards"`
}

func (a *AssistanceQuery) RequestKind() RequestKind { return KindAssistance }
func (a *AssistanceQuery) Recipient() string        { return a.To }

// Validate checks the query.
func (a *AssistanceQuery) Validate() error {
	var f fieldErrors
	validateHead(&f, KindAssistance, a.Kind, a.To, a.Date, a.Reference)
	validateTreaty(&f, a.Treaty)
	validateContact(&f, "requesting_authority", a.RequestingAuthority, requestingRules)
	if _, ok := AssistanceTopics[a.Topic]; !ok {
		f.add("topic", "must be one of technical_advice, collection_of_evidence, legal_information, data_location, suspect_location, other")
	}
	f.required("question", a.Question)
	if a.AcknowledgeBy != "" {
		if !a.Drill {
			f.add("acknowledge_by", "is only for drills")
		} else if _, err := time.Parse(time.RFC3339, a.AcknowledgeBy); err != nil {
			f.add("acknowledge_by", "must be a UTC time as 2006-01-02T15:04:05Z")
		}
	}
	validateSafeguards(&f, a.Safeguards)
	return f.err()
}

// RequesterContact returns the requesting authority's contact block of any
// request kind: its time zone and office hours are shown beside deadlines.
func RequesterContact(r Request) Contact {
	switch v := r.(type) {
	case *PreservationRequest:
		return v.RequestingAuthority
	case *EmergencyRequest:
		return v.CompetentAuthority
	case *EmergencyMLARequest:
		return v.RequestingAuthority
	case *AssistanceQuery:
		return v.RequestingAuthority
	}
	return Contact{}
}

// VerificationContact returns the official who can confirm an emergency
// request is genuine (Protocol Arts. 9 and 10), which the receiving side
// shows beside the request; ok is false for other kinds.
func VerificationContact(r Request) (c Contact, ok bool) {
	switch v := r.(type) {
	case *EmergencyRequest:
		return v.VerificationContact, true
	case *EmergencyMLARequest:
		return v.VerificationContact, true
	}
	return Contact{}, false
}
