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

// EmergencyRequest asks for emergency disclosure of stored data.
type EmergencyRequest struct {
	Kind RequestKind `json:"kind"`
	To   string      `json:"to"`

	Date                   string       `json:"date"`
	Reference              string       `json:"reference"`
	CompetentAuthority     Contact      `json:"competent_authority"`
	LegalBasisStatement    string       `json:"legal_basis_statement"` // made under the Protocol, Art. 9
	Provider               Custodian    `json:"provider"`
	Offences               []Offence    `json:"offences"`
	EmergencyFacts         string       `json:"emergency_facts"`   // facts showing the emergency
	DataRelationship       string       `json:"data_relationship"` // how the data relate to it
	DataDescription        string       `json:"data_description"`
	Identifiers            []Identifier `json:"identifiers,omitempty"`
	ProceduralInstructions string       `json:"procedural_instructions,omitempty"`
	// SubscriberOnly says the request seeks only subscriber information,
	// which a Party with a Protocol Art. 9(1)(b) declaration does not
	// execute.
	SubscriberOnly bool `json:"subscriber_information_only,omitempty"`

	Safeguards Safeguards `json:"safeguards"`
}

func (e *EmergencyRequest) RequestKind() RequestKind { return KindEmergency }
func (e *EmergencyRequest) Recipient() string        { return e.To }

// Validate checks the items Art. 9 requires.
func (e *EmergencyRequest) Validate() error {
	var f fieldErrors
	if e.Kind != KindEmergency {
		f.add("kind", "must be %q", KindEmergency)
	}
	validateTo(&f, e.To)
	if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
		f.add("date", "must be a date as YYYY-MM-DD")
	}
	f.required("reference", e.Reference)
	validateContact(&f, "competent_authority", e.CompetentAuthority, true)
	f.required("legal_basis_statement", e.LegalBasisStatement)
	f.required("provider.name", e.Provider.Name)
	f.required("provider.address", e.Provider.Address)
	if len(e.Offences) == 0 {
		f.add("offences", "name at least one offence with its legal provisions and penalty")
	}
	for i, o := range e.Offences {
		p := fmt.Sprintf("offences[%d]", i)
		f.required(p+".description", o.Description)
		f.required(p+".legal_provisions", o.LegalProvisions)
		f.required(p+".maximum_penalty", o.MaximumPenalty)
	}
	f.required("emergency_facts", e.EmergencyFacts)
	f.required("data_relationship", e.DataRelationship)
	f.required("data_description", e.DataDescription)
	for i, id := range e.Identifiers {
		validateIdentifier(&f, fmt.Sprintf("identifiers[%d]", i), id)
	}
	validateSafeguards(&f, e.Safeguards)
	return f.err()
}

// AssistanceTopics are the kinds of help Art. 35 lists.
var AssistanceTopics = map[string]string{
	"technical_advice":  "technical advice",
	"legal_information": "legal information",
	"data_location":     "location of data or a service provider",
	"suspect_location":  "locating a suspect",
	"other":             "other assistance",
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

	Safeguards Safeguards `json:"safeguards"`
}

func (a *AssistanceQuery) RequestKind() RequestKind { return KindAssistance }
func (a *AssistanceQuery) Recipient() string        { return a.To }

// Validate checks the query.
func (a *AssistanceQuery) Validate() error {
	var f fieldErrors
	if a.Kind != KindAssistance {
		f.add("kind", "must be %q", KindAssistance)
	}
	validateTo(&f, a.To)
	if _, err := time.Parse(time.DateOnly, a.Date); err != nil {
		f.add("date", "must be a date as YYYY-MM-DD")
	}
	f.required("reference", a.Reference)
	validateContact(&f, "requesting_authority", a.RequestingAuthority, true)
	if _, ok := AssistanceTopics[a.Topic]; !ok {
		f.add("topic", "must be one of technical_advice, legal_information, data_location, suspect_location, other")
	}
	f.required("question", a.Question)
	validateSafeguards(&f, a.Safeguards)
	return f.err()
}

func validateTo(f *fieldErrors, to string) {
	if !CountryCode(to).Valid() {
		f.add("to", "must be an ISO 3166-1 alpha-2 country code of a roster member")
	}
}

// RequesterContact returns the requesting authority's contact block of any
// request kind: its time zone and office hours are shown beside deadlines.
func RequesterContact(r Request) Contact {
	switch v := r.(type) {
	case *PreservationRequest:
		return v.RequestingAuthority
	case *EmergencyRequest:
		return v.CompetentAuthority
	case *AssistanceQuery:
		return v.RequestingAuthority
	}
	return Contact{}
}
