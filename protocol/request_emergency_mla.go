package protocol

// EmergencyMLARequest is a request for emergency mutual assistance (Second
// Additional Protocol Art. 10) sent to the 24/7 point of contact of a Party
// that declared, under Art. 10(9), that such requests may be sent there.
type EmergencyMLARequest struct {
	Kind RequestKind `json:"kind"`
	To   string      `json:"to"`

	Date                string  `json:"date"`
	Reference           string  `json:"reference"`
	RequestingAuthority Contact `json:"requesting_authority"`
	// VerificationContact is the official who can confirm the request is
	// genuine (Art. 10(2): "appropriate levels of security and
	// authentication").
	VerificationContact Contact `json:"verification_contact"`
	// CentralAuthority is the requesting Party's central authority, through
	// which the copy of Art. 10(9) goes to the requested Party's.
	CentralAuthority  Contact    `json:"central_authority"`
	ProsecutorOrCourt *Authority `json:"prosecutor_or_court,omitempty"` // T-CY(2018)10 item 8

	Offences []Offence `json:"offences"`
	// EmergencyFacts and AssistanceRelationship are what Art. 10(1) adds to
	// an ordinary request: "the facts that demonstrate that there is an
	// emergency and how the assistance sought relates to it".
	EmergencyFacts         string       `json:"emergency_facts"`
	AssistanceRelationship string       `json:"assistance_relationship"`
	AssistanceSought       string       `json:"assistance_sought"`
	Identifiers            []Identifier `json:"identifiers,omitempty"`
	ProceduralInstructions string       `json:"procedural_instructions,omitempty"`
	// CentralAuthorityCopy affirms that a copy is sent at the same time to
	// the requested Party's central authority through the requesting
	// Party's (Art. 10(9)).
	CentralAuthorityCopy bool `json:"central_authority_copy"`
	// OralRequest is set when this request confirms an oral one.
	OralRequest *OralRequest `json:"oral_request,omitempty"`
	// FormalConfirmationToFollow: Budapest Art. 25(3), urgent requests by
	// expedited means "with formal confirmation to follow, where required
	// by the requested Party".
	FormalConfirmationToFollow bool `json:"formal_confirmation_to_follow,omitempty"`

	Safeguards Safeguards `json:"safeguards"`
}

func (e *EmergencyMLARequest) RequestKind() RequestKind { return KindEmergencyMLA }
func (e *EmergencyMLARequest) Recipient() string        { return e.To }

// Validate checks the items Art. 10 requires on top of a request for
// mutual assistance.
func (e *EmergencyMLARequest) Validate() error {
	var f fieldErrors
	validateHead(&f, KindEmergencyMLA, e.Kind, e.To, e.Date, e.Reference)
	validateContact(&f, "requesting_authority", e.RequestingAuthority, requestingRules)
	validateVerification(&f, e.VerificationContact, e.RequestingAuthority)
	validateContact(&f, "central_authority", e.CentralAuthority, centralAuthorityRules)
	validateProsecutor(&f, e.ProsecutorOrCourt)
	validateOffences(&f, e.Offences)
	f.required("emergency_facts", e.EmergencyFacts)
	f.required("assistance_relationship", e.AssistanceRelationship)
	f.required("assistance_sought", e.AssistanceSought)
	validateIdentifiers(&f, e.Identifiers)
	if !e.CentralAuthorityCopy {
		f.add("central_authority_copy", "must be true: a copy goes at the same time to the requested Party's central authority through the requesting Party's (Protocol Art. 10(9))")
	}
	validateOralRequest(&f, e.OralRequest, e.Date)
	validateSafeguards(&f, e.Safeguards)
	return f.err()
}
