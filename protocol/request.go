package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// RequestKind names a kind of request a 24/7 point of contact handles.
type RequestKind string

const (
	KindPreservation RequestKind = "preservation" // Budapest Art. 29, UN Art. 42
)

// FieldError names one invalid field of a request, in JSON path form.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a request, so an operator can
// fix them all in one pass.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

type fieldErrors []FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f *fieldErrors) required(field, value string) {
	if strings.TrimSpace(value) == "" {
		f.add(field, "is required")
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	sort.SliceStable(f, func(i, j int) bool { return f[i].Field < f[j].Field })
	return &ValidationError{Fields: f}
}

// Identifier is one account, address or URL whose data is to be preserved.
// IP addresses and accounts mean nothing without the exact time, so every
// identifier carries a UTC time or range.
type Identifier struct {
	Type  string    `json:"type"` // ip, account, email, url, phone, domain, other
	Value string    `json:"value"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to,omitzero"`
	// TimeZoneGiven keeps the zone the requester's source used, for the record.
	TimeZoneGiven string `json:"time_zone_given,omitempty"`
}

// Authority is a prosecutor, court or investigating body and its case number.
type Authority struct {
	Name       string `json:"name"`
	CaseNumber string `json:"case_number,omitempty"`
}

// Offence describes the offence under investigation.
type Offence struct {
	Description     string `json:"description"`
	LegalProvisions string `json:"legal_provisions"`
	MaximumPenalty  string `json:"maximum_penalty,omitempty"`
	// ConventionArticles are the articles of the treaty the request is made
	// under that establish the offence (Budapest Arts. 2-11, UN Arts. 7-17),
	// if any. A dual-criminality reservation can never apply to them
	// (Budapest Art. 29(4), UN Art. 42(4)).
	ConventionArticles []int `json:"convention_articles,omitempty"`
}

// Custodian is what is known of who holds the data, or where. Every field
// is optional: Art. 29(2)(d) asks only for "any available information",
// and finding the custodian is often what the 24/7 point is asked to do.
type Custodian struct {
	Name           string `json:"name,omitempty"`
	Address        string `json:"address,omitempty"`
	SystemLocation string `json:"system_location,omitempty"`
}

// Safeguards are carried by every request (UN Art. 24; SIENA handling codes).
type Safeguards struct {
	LegalBasis      string `json:"legal_basis"`
	Proportionality string `json:"proportionality"`
	HandlingCode    string `json:"handling_code"` // see HandlingCodes
	// HandlingRestrictions states the restrictions of code H3, or further
	// restrictions on access and use with any code (Europol Regulation
	// Art. 19(2): transfer, erasure or destruction, also after transmission).
	HandlingRestrictions string `json:"handling_restrictions,omitempty"`
}

// HandlingCodes are the Europol SIENA handling codes: how the recipient may
// use what it is sent.
var HandlingCodes = map[string]string{
	"H0": "may be used only for the purpose of preventing and combating crime",
	"H1": "not to be disclosed in judicial proceedings without the permission of the provider",
	"H2": "not to be disseminated without the permission of the provider",
	"H3": "other restrictions, stated in the handling restrictions",
}

// PreservationRequest is an expedited preservation request under Budapest
// Art. 29(2) and UN Art. 42, with the fields of the T-CY template in order.
type PreservationRequest struct {
	Kind RequestKind `json:"kind"`
	To   string      `json:"to"`
	// Treaty is the instrument the request is made under (budapest or un);
	// empty lets the node choose: the Budapest Convention where both states
	// are Parties to it, else the UN Convention.
	Treaty Treaty `json:"treaty,omitempty"`

	Date                string  `json:"date"`      // YYYY-MM-DD
	Reference           string  `json:"reference"` // our reference
	RequestType         string  `json:"request_type"`
	PreviousReference   string  `json:"previous_reference,omitempty"`
	RequestedAuthority  string  `json:"requested_authority"`
	RequestingAuthority Contact `json:"requesting_authority"` // (a); T-CY item 5
	ConfirmationContact Contact `json:"confirmation_contact"` // T-CY item 6
	// InvestigatingAuthority is T-CY item 7, given if it differs from the
	// requesting authority.
	InvestigatingAuthority *InvestigatingAuthority `json:"investigating_authority,omitempty"`
	ProsecutorOrCourt      *Authority              `json:"prosecutor_or_court,omitempty"`
	RelatedReferences      []string                `json:"related_references,omitempty"`

	Offence          Offence      `json:"offence"`              // (b)
	FactsSummary     string       `json:"facts_summary"`        // (b)
	DataToPreserve   string       `json:"data_to_preserve"`     // (c)
	DataRelationship string       `json:"data_relationship"`    // (c)
	DataCategories   []string     `json:"data_categories"`      // subscriber, traffic, content
	Identifiers      []Identifier `json:"identifiers"`          // (c)
	Custodian        Custodian    `json:"custodian"`            // (d)
	Necessity        string       `json:"necessity"`            // (e)
	MLAToFollow      *bool        `json:"mla_to_follow"`        // (f)
	Confidential     *bool        `json:"confidential"`         // (g)
	NoUserNotice     *bool        `json:"no_user_notification"` // (g)
	PeriodDays       int          `json:"preservation_period_days"`

	Safeguards Safeguards `json:"safeguards"`
}

var (
	dataCategories  = map[string]bool{"subscriber": true, "traffic": true, "content": true}
	identifierTypes = map[string]bool{"ip": true, "account": true, "email": true, "url": true, "phone": true, "domain": true, "other": true}
)

// Validate checks every mandatory item and returns a *ValidationError
// naming each bad field.
func (p *PreservationRequest) Validate() error {
	var f fieldErrors
	validateHead(&f, KindPreservation, p.Kind, p.To, p.Date, p.Reference)
	validateTreaty(&f, p.Treaty)
	switch p.RequestType {
	case "new":
	case "extension":
		f.required("previous_reference", p.PreviousReference)
	default:
		f.add("request_type", `must be "new" or "extension"`)
	}
	f.required("requested_authority", p.RequestedAuthority)
	validateContact(&f, "requesting_authority", p.RequestingAuthority, requestingRules)
	validateContact(&f, "confirmation_contact", p.ConfirmationContact, confirmationRules)
	validateInvestigating(&f, p.InvestigatingAuthority)
	validateProsecutor(&f, p.ProsecutorOrCourt)
	f.required("offence.description", p.Offence.Description)
	f.required("offence.legal_provisions", p.Offence.LegalProvisions)
	f.required("facts_summary", p.FactsSummary)
	f.required("data_to_preserve", p.DataToPreserve)
	f.required("data_relationship", p.DataRelationship)
	validateDataCategories(&f, p.DataCategories, true)
	if len(p.Identifiers) == 0 {
		f.add("identifiers", "name at least one account, address or URL with its time")
	}
	validateIdentifiers(&f, p.Identifiers)
	f.required("necessity", p.Necessity)
	if p.MLAToFollow == nil || !*p.MLAToFollow {
		f.add("mla_to_follow", "must be true: preservation is granted on the understanding that an MLA request will follow (Art. 29(2)(f))")
	}
	if p.Confidential == nil {
		f.add("confidential", "state whether the request is confidential (UN Art. 42)")
	}
	if p.NoUserNotice == nil {
		f.add("no_user_notification", "state whether the user must not be notified (UN Art. 42)")
	}
	// Budapest Art. 29(7), UN Art. 42(7): not less than sixty days. The law
	// sets no maximum; MaxPreservationDays is a technical bound.
	if p.PeriodDays < MinPreservationDays || p.PeriodDays > MaxPreservationDays {
		f.add("preservation_period_days", "must be between %d (Art. 29(7): not less than sixty days) and %d days", MinPreservationDays, MaxPreservationDays)
	}
	validateSafeguards(&f, p.Safeguards)
	return f.err()
}

// validateHead checks what every request kind starts with.
func validateHead(f *fieldErrors, want, kind RequestKind, to, date, reference string) {
	if kind != want {
		f.add("kind", "must be %q", want)
	}
	validateTo(f, to)
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		f.add("date", "must be a date as YYYY-MM-DD")
	}
	f.required("reference", reference)
}

// validateProsecutor checks an optional prosecutor or court block: given,
// it must name the office (T-CY(2018)10 item 8).
func validateProsecutor(f *fieldErrors, a *Authority) {
	if a != nil && *a != (Authority{}) {
		f.required("prosecutor_or_court.name", a.Name)
	}
}

func validateTo(f *fieldErrors, to string) {
	if !CountryCode(to).Valid() {
		f.add("to", "must be an ISO 3166-1 alpha-2 country code of a roster member")
	}
}

// validateTreaty checks the instrument a preservation request (Budapest
// Art. 29, UN Art. 42) or an assistance query (Budapest Art. 35, UN
// Art. 41) is made under; empty lets the node choose.
func validateTreaty(f *fieldErrors, t Treaty) {
	switch t {
	case "", TreatyBudapest, TreatyUN:
	default:
		f.add("treaty", `must be "budapest", "un" or empty (the node chooses the common treaty)`)
	}
}

func validateDataCategories(f *fieldErrors, cats []string, required bool) {
	if required && len(cats) == 0 {
		f.add("data_categories", "name at least one of subscriber, traffic, content")
	}
	for i, c := range cats {
		if !dataCategories[c] {
			f.add(fmt.Sprintf("data_categories[%d]", i), "must be subscriber, traffic or content")
		}
	}
}

func validateIdentifiers(f *fieldErrors, ids []Identifier) {
	for i, id := range ids {
		validateIdentifier(f, fmt.Sprintf("identifiers[%d]", i), id)
	}
}

func validateIdentifier(f *fieldErrors, path string, id Identifier) {
	if !identifierTypes[id.Type] {
		f.add(path+".type", "must be one of ip, account, email, url, phone, domain, other")
	}
	f.required(path+".value", id.Value)
	if id.Type == "ip" && id.Value != "" {
		if _, err := netip.ParseAddr(id.Value); err != nil {
			if _, err := netip.ParsePrefix(id.Value); err != nil {
				f.add(path+".value", "is not an IP address")
			}
		}
	}
	if id.From.IsZero() {
		f.add(path+".from", "is required: a UTC timestamp (RFC 3339), identifiers are useless without time")
	} else {
		validateUTC(f, path+".from", id.From)
	}
	if !id.To.IsZero() && validateUTC(f, path+".to", id.To) && id.To.Before(id.From) {
		f.add(path+".to", "must not be before from")
	}
	validateTimeZoneGiven(f, path+".time_zone_given", id.TimeZoneGiven)
}

// validateUTC reports whether t was written in UTC, naming path if not.
func validateUTC(f *fieldErrors, path string, t time.Time) bool {
	if _, off := t.Zone(); off != 0 {
		f.add(path, "must be given in UTC (end with Z)")
		return false
	}
	return true
}

func validateSafeguards(f *fieldErrors, s Safeguards) {
	f.required("safeguards.legal_basis", s.LegalBasis)
	f.required("safeguards.proportionality", s.Proportionality)
	if _, ok := HandlingCodes[s.HandlingCode]; !ok {
		f.add("safeguards.handling_code", "must be one of H0, H1, H2, H3 (the SIENA handling codes)")
	}
	// SIENA H3: "other restrictions", which mean nothing unless stated.
	if s.HandlingCode == "H3" {
		f.required("safeguards.handling_restrictions", s.HandlingRestrictions)
	}
}

// Request is a parsed, validated request of any kind.
type Request interface {
	RequestKind() RequestKind
	Recipient() string
	Validate() error
}

func (p *PreservationRequest) RequestKind() RequestKind { return KindPreservation }
func (p *PreservationRequest) Recipient() string        { return p.To }

// ParseRequest decodes a request document of any known kind, rejecting
// unknown fields (typos in a legal request are errors, not noise). It
// returns the decoded request even when validation fails, with a
// *ValidationError, so a receiver can store an incomplete request.
func ParseRequest(doc []byte) (Request, error) {
	// Preservation is the common, urgent case: try it first, so a valid
	// preservation request is decoded in one pass instead of two.
	if p := (&PreservationRequest{}); strictDecode(doc, p) == nil && p.Kind == KindPreservation {
		return p, p.Validate()
	}
	var head struct {
		Kind RequestKind `json:"kind"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(body)", Message: "is not a JSON object: " + err.Error()}}}
	}
	var req Request
	switch head.Kind {
	case KindPreservation:
		req = &PreservationRequest{}
	case KindEmergency:
		req = &EmergencyRequest{}
	case KindEmergencyMLA:
		req = &EmergencyMLARequest{}
	case KindAssistance:
		req = &AssistanceQuery{}
	default:
		return nil, &ValidationError{Fields: []FieldError{{Field: "kind", Message: `must be one of: "preservation", "emergency", "emergency_mla", "assistance"`}}}
	}
	if err := strictDecode(doc, req); err != nil {
		return nil, err
	}
	return req, req.Validate()
}

// invalidUTF8Field names the field holding the first invalid UTF-8 byte
// of doc: the object keys (dotted) down to it.
func invalidUTF8Field(doc []byte) FieldError {
	bad := 0
	for bad < len(doc) {
		r, size := utf8.DecodeRune(doc[bad:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		bad += size
	}
	type frame struct {
		object, wantKey bool
		key             string
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(doc))
	for dec.InputOffset() <= int64(bad) {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
				continue
			default:
				stack = stack[:top]
				top--
			}
		case string:
			if top >= 0 && stack[top].object && stack[top].wantKey {
				stack[top].key, stack[top].wantKey = t, false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true // a value ended
		}
	}
	var keys []string
	for _, f := range stack {
		if f.object && f.key != "" {
			keys = append(keys, f.key)
		}
	}
	field := "(body)"
	if len(keys) > 0 {
		field = strings.Join(keys, ".")
	}
	return FieldError{Field: field, Message: fmt.Sprintf("is not valid UTF-8 (byte %d); send text as UTF-8", bad)}
}
