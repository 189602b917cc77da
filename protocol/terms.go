package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MinPreservationDays is Art. 29(7)'s minimum (UN Art. 42(7) the same).
const MinPreservationDays = 60

// MaxPreservationDays bounds any period a peer can set. It is not a legal
// limit (the law sets only a minimum, and domestic regimes vary): it keeps
// dates computable and a typo of an extra digit visible.
const MaxPreservationDays = 3650

// Terms are everything besides the actions that decides what the law
// allows on a case: the kind of request, the treaty basis the two states
// share on the day the request was made, the reservations and declarations
// of the requested state in force that day, and the facts of the request
// the rules read. Both nodes derive them with TermsFor from the same
// request and the same signed roster when the case opens, and keep them
// with the case, so both apply the same rules for its whole life
// (docs/legal-model.md).
type Terms struct {
	Kind RequestKind `json:"kind"`
	// Treaty is the instrument the case runs under; empty when the two
	// states share none for this kind of request (Problem says why).
	Treaty  Treaty `json:"treaty,omitempty"`
	Problem string `json:"problem,omitempty"`
	// RequestedAt is when the request was made (its envelope's creation
	// time); the basis is judged on that day.
	RequestedAt  time.Time `json:"requested_at,omitzero"`
	RosterSerial uint64    `json:"roster_serial,omitempty"`
	// ResponderZone is the requested state's IANA time zone: preservation
	// dates are its calendar days (docs/legal-model.md, "Periods").
	ResponderZone string `json:"responder_zone,omitempty"`
	// DualCriminality: the requested state's reservation (Budapest Art.
	// 29(4), UN Art. 42(4)) was in force and the offence is not one it can
	// never apply to, so refusal on that ground is available.
	DualCriminality bool `json:"dual_criminality,omitempty"`
	// SubscriberOnlyDeclared: the request seeks only subscriber information
	// and the requested state declared Protocol Art. 9(1)(b).
	SubscriberOnlyDeclared bool `json:"subscriber_only_declared,omitempty"`
	// Confirmation is the declaration under which the requester must send
	// a formal confirmation or resubmission (budapest_25_3, protocol_9_5),
	// with what it specifies; empty when none is due.
	Confirmation     DeclarationKind `json:"confirmation,omitempty"`
	ConfirmationText string          `json:"confirmation_text,omitempty"`
	// Traffic: the request asks for traffic data, so Art. 30 disclosure or
	// withholding is possible.
	Traffic bool `json:"traffic,omitempty"`
	// Identifiers is how many identifiers the request names (0: unknown,
	// for cases stored before terms were kept).
	Identifiers int `json:"identifiers,omitempty"`
	// MaxTotalDays is the requested state's domestic maximum for
	// preservation, extensions included (0: not stated).
	MaxTotalDays int `json:"max_total_days,omitempty"`
	// Legacy marks terms assumed for a case stored before terms were kept.
	Legacy bool `json:"legacy,omitempty"`
}

// LegacyTerms are the terms assumed for a case stored before terms were
// kept: the Budapest Convention (or the Protocol for an emergency), no
// reservation, and no facts of the request to check against. They allow
// what the rules allowed before, less what the law forbids outright.
func LegacyTerms(kind RequestKind) Terms {
	t := Terms{Kind: kind, Treaty: TreatyBudapest, ResponderZone: "UTC", Traffic: true, Legacy: true}
	if kind == KindEmergency || kind == KindEmergencyMLA {
		t.Treaty = TreatySecondProtocol
	}
	return t
}

// RequestFacts is what the rules read of a request; RequestFactsOf takes
// them from any request kind.
type RequestFacts struct {
	Kind               RequestKind
	Treaty             Treaty // as the requester asked; "" to choose
	ConventionArticles []int
	DataCategories     []string
	Identifiers        int
	SubscriberOnly     bool
}

// RequestFactsOf extracts the facts of a request the rules read.
func RequestFactsOf(r Request) RequestFacts {
	f := RequestFacts{Kind: r.RequestKind()}
	switch v := r.(type) {
	case *PreservationRequest:
		f.Treaty, f.ConventionArticles, f.DataCategories, f.Identifiers = v.Treaty, v.Offence.ConventionArticles, v.DataCategories, len(v.Identifiers)
	case *EmergencyRequest:
		f.SubscriberOnly, f.Identifiers = v.SubscriberOnly, len(v.Identifiers)
	case *EmergencyMLARequest:
		f.Identifiers = len(v.Identifiers)
	case *AssistanceQuery:
		f.Treaty = v.Treaty
	}
	return f
}

// TermsFor derives a case's terms from the request's facts, the time it
// was made and the two states' roster entries. A request the two states
// share no basis for yields terms with Problem set and no Treaty: the
// sender refuses to send it, and a receiver keeps it flagged, with only a
// refusal on that ground open to it.
func TermsFor(f RequestFacts, at time.Time, requester, responder Member, serial uint64) Terms {
	t := Terms{Kind: f.Kind, RequestedAt: at.UTC(), RosterSerial: serial, ResponderZone: "UTC",
		Traffic: slices.Contains(f.DataCategories, "traffic"), Identifiers: f.Identifiers,
		MaxTotalDays: responder.Preservation.MaxTotalDays}
	if _, err := LoadZone(responder.TimeZone); err == nil {
		t.ResponderZone = responder.TimeZone
	}
	both := func(tr Treaty) bool { return requester.PartyTo(tr, at) && responder.PartyTo(tr, at) }
	day := dayOf(at).Format(time.DateOnly)
	switch f.Kind {
	case KindPreservation, KindAssistance:
		// Budapest Art. 29 / 35, UN Art. 42 / 41: either treaty will do;
		// the requester may name one, else the Budapest Convention is
		// used where both are Parties to it.
		choices := []Treaty{TreatyBudapest, TreatyUN}
		if f.Treaty != "" {
			choices = []Treaty{f.Treaty}
		}
		for _, tr := range choices {
			if both(tr) {
				t.Treaty = tr
				break
			}
		}
		if t.Treaty == "" {
			t.Problem = fmt.Sprintf("%s and %s are not both Parties to %s on %s", requester.Country, responder.Country, treatyList(choices), day)
		}
	case KindEmergency, KindEmergencyMLA:
		// Protocol Arts. 9 and 10 bind Parties to the Protocol only.
		if both(TreatySecondProtocol) {
			t.Treaty = TreatySecondProtocol
		} else {
			t.Problem = fmt.Sprintf("%s and %s are not both Parties to the Second Additional Protocol on %s", requester.Country, responder.Country, day)
		}
		if _, ok := responder.Declared(DeclarationEmergencyMLA, at); f.Kind == KindEmergencyMLA && t.Treaty != "" && !ok {
			t.Treaty = ""
			t.Problem = fmt.Sprintf("%s has not declared under Protocol Art. 10(9) that emergency mutual assistance requests may be sent to its 24/7 point of contact", responder.Country)
		}
	default:
		t.Problem = fmt.Sprintf("%q is not a known request kind", f.Kind)
	}
	if t.Treaty == "" {
		return t
	}
	if f.Kind == KindPreservation {
		// Budapest Art. 29(4) / UN Art. 42(4): never for the offences the
		// treaty itself establishes.
		switch _, ok := responder.Declared(ReservationDualCriminality, at); {
		case t.Treaty == TreatyBudapest && ok:
			t.DualCriminality = !anyIn(f.ConventionArticles, 2, 11)
		case t.Treaty == TreatyUN:
			_, ok := responder.Declared(ReservationDualCriminalityUN, at)
			t.DualCriminality = ok && !anyIn(f.ConventionArticles, 7, 11)
		}
	}
	if f.Kind == KindEmergency {
		_, ok := responder.Declared(DeclarationSubscriberOnly, at)
		t.SubscriberOnlyDeclared = ok && f.SubscriberOnly
		if d, ok := responder.Declared(DeclarationResubmission, at); ok {
			t.Confirmation, t.ConfirmationText = d.Kind, d.Text
		}
	}
	if f.Kind != KindAssistance && t.Confirmation == "" && responder.PartyTo(TreatyBudapest, at) {
		if d, ok := responder.Declared(DeclarationFormalConfirmation, at); ok {
			t.Confirmation, t.ConfirmationText = d.Kind, d.Text
		}
	}
	return t
}

func anyIn(xs []int, lo, hi int) bool {
	return slices.ContainsFunc(xs, func(x int) bool { return x >= lo && x <= hi })
}

func treatyList(ts []Treaty) string {
	if len(ts) == 1 {
		return Treaties[ts[0]]
	}
	return "the Budapest Convention or the UN Convention"
}

// zones caches the zones LoadZone loaded: time.LoadLocation reads the zone
// database on every call, and Check reads the responder's zone for every
// event it judges (so every Replay would read files). Only names that
// loaded are kept, so the cache is bounded by the IANA database.
var zones sync.Map // name → *time.Location

// LoadZone loads an IANA time zone by name, refusing "Local", "" and names
// not of IANA form (a zone both nodes must agree on cannot depend on the
// host; see ValidTimeZone).
func LoadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	if !ianaForm(name) {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name such as Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name such as Europe/Paris", name)
	}
	zones.Store(name, loc)
	return loc, nil
}

// zone is the responder's zone of the terms (UTC if unknown).
func (t Terms) zone() *time.Location {
	if loc, err := LoadZone(t.ResponderZone); err == nil {
		return loc
	}
	return time.UTC
}

// LocalDay is the calendar day of at in the responder's zone, at midnight
// there.
func (t Terms) LocalDay(at time.Time) time.Time {
	loc := t.zone()
	y, m, d := at.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// ParseLocalDate reads a YYYY-MM-DD date as midnight in the responder's zone.
func (t Terms) ParseLocalDate(s string) (time.Time, error) {
	return time.ParseInLocation(time.DateOnly, s, t.zone())
}

// MaxDays is the longest preservation the terms allow, extensions included.
func (t Terms) MaxDays() int {
	if t.MaxTotalDays > 0 {
		return t.MaxTotalDays
	}
	return MaxPreservationDays
}

// IdentifierValues lists the identifiers (accounts, addresses, URLs) a
// request names, of any kind.
func IdentifierValues(r Request) []string {
	var ids []Identifier
	switch v := r.(type) {
	case *PreservationRequest:
		ids = v.Identifiers
	case *EmergencyRequest:
		ids = v.Identifiers
	case *EmergencyMLARequest:
		ids = v.Identifiers
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id.Value)
	}
	return out
}

// IdentifierTag is a keyed hash of an identifier, case and surrounding
// space ignored: a node keeps these in clear to find a case by an
// identifier without keeping the identifier itself in clear (the request
// stays sealed). Only a holder of key can compute one.
func IdentifierTag(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(value))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
