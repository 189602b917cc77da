package protocol

import (
	"fmt"
	"slices"
	"time"
)

// Treaty names an instrument a member state is Party to. The common treaty
// basis of two states decides which requests they may exchange and on
// which grounds the requested one may refuse (docs/legal-model.md).
type Treaty string

const (
	// TreatyBudapest is the Convention on Cybercrime, ETS 185.
	TreatyBudapest Treaty = "budapest"
	// TreatySecondProtocol is the Second Additional Protocol, CETS 224
	// (emergency disclosure, Art. 9; emergency mutual assistance, Art. 10).
	TreatySecondProtocol Treaty = "second_protocol"
	// TreatyUN is the UN Convention against Cybercrime (A/RES/79/243).
	TreatyUN Treaty = "un"
)

// Treaties lists the known instruments and what they are.
var Treaties = map[Treaty]string{
	TreatyBudapest:       "Convention on Cybercrime (Budapest, ETS 185)",
	TreatySecondProtocol: "Second Additional Protocol (CETS 224)",
	TreatyUN:             "UN Convention against Cybercrime",
}

// Party records that a member is bound by a treaty from a date (entry into
// force for that state) until, optionally, the date a denunciation takes
// effect. Dates are YYYY-MM-DD in UTC.
type Party struct {
	Treaty Treaty `json:"treaty"`
	From   string `json:"from"`
	Until  string `json:"until,omitempty"`
}

// DeclarationKind names a reservation or declaration that changes what the
// case model allows.
type DeclarationKind string

const (
	// ReservationDualCriminality: Budapest Art. 29(4). The Party may refuse
	// preservation for offences other than Arts. 2-11 where it has reasons
	// to believe dual criminality cannot be met at disclosure.
	ReservationDualCriminality DeclarationKind = "budapest_29_4"
	// ReservationDualCriminalityUN: UN Art. 42(4), the same for offences
	// other than Arts. 7-11 of that Convention.
	ReservationDualCriminalityUN DeclarationKind = "un_42_4"
	// DeclarationSubscriberOnly: Protocol Art. 9(1)(b). The Party will not
	// execute emergency requests seeking only subscriber information.
	DeclarationSubscriberOnly DeclarationKind = "protocol_9_1_b"
	// DeclarationResubmission: Protocol Art. 9(5). After execution, the
	// request must be submitted again in the format and channel stated.
	DeclarationResubmission DeclarationKind = "protocol_9_5"
	// DeclarationEmergencyMLA: Protocol Art. 10(9). Emergency mutual
	// assistance requests may be sent to the Party's 24/7 point of contact.
	DeclarationEmergencyMLA DeclarationKind = "protocol_10_9"
	// DeclarationFormalConfirmation: Budapest Art. 25(3). The Party
	// requires formal confirmation of urgent requests sent by expedited means.
	DeclarationFormalConfirmation DeclarationKind = "budapest_25_3"
)

// DeclarationKinds lists every kind, with the treaty it is made under.
var DeclarationKinds = map[DeclarationKind]Treaty{
	ReservationDualCriminality:    TreatyBudapest,
	ReservationDualCriminalityUN:  TreatyUN,
	DeclarationSubscriberOnly:     TreatySecondProtocol,
	DeclarationResubmission:       TreatySecondProtocol,
	DeclarationEmergencyMLA:       TreatySecondProtocol,
	DeclarationFormalConfirmation: TreatyBudapest,
}

// Declaration is one reservation or declaration in force from From until,
// optionally, its withdrawal takes effect (Until). Text carries what the
// declaration specifies, such as the format and channel of Art. 9(5).
type Declaration struct {
	Kind  DeclarationKind `json:"kind"`
	From  string          `json:"from"`
	Until string          `json:"until,omitempty"`
	Text  string          `json:"text,omitempty"`
}

// PreservationRegime is what the member's domestic law applies to
// preservation: Art. 29(7) fixes only the minimum of sixty days; regimes
// vary (90 days, 90 + 90, 120 days). Zero values mean "not stated".
type PreservationRegime struct {
	PeriodDays   int `json:"period_days,omitempty"`    // the period usually applied
	MaxTotalDays int `json:"max_total_days,omitempty"` // the most the law allows, extensions included
}

// inForce reports whether the span [from, until) contains day on.
func inForce(from, until string, on time.Time) bool {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil || on.Before(f) {
		return false
	}
	if until == "" {
		return true
	}
	u, err := time.Parse(time.DateOnly, until)
	return err == nil && on.Before(u)
}

// dayOf is the UTC calendar day of t, at midnight.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// PartyTo reports whether the member is bound by treaty on the day of on.
// A member entry that lists no treaties at all was written before treaties
// were recorded; it is read as a Party to the Budapest Convention only, the
// instrument the network was founded under: ratification of the Protocol
// or the UN Convention is never assumed (docs/legal-model.md, "Migration").
func (m Member) PartyTo(t Treaty, on time.Time) bool {
	if len(m.Treaties) == 0 {
		return t == TreatyBudapest
	}
	day := dayOf(on)
	return slices.ContainsFunc(m.Treaties, func(p Party) bool { return p.Treaty == t && inForce(p.From, p.Until, day) })
}

// Declared returns the member's declaration of kind in force on the day of
// on, if any.
func (m Member) Declared(k DeclarationKind, on time.Time) (Declaration, bool) {
	day := dayOf(on)
	for _, d := range m.Declarations {
		if d.Kind == k && inForce(d.From, d.Until, day) {
			return d, true
		}
	}
	return Declaration{}, false
}

// validateTreatyBasis checks a member's treaties and declarations.
func (m Member) validateTreatyBasis(where string) []string {
	var errs []string
	seen := map[Treaty]bool{}
	for i, p := range m.Treaties {
		at := fmt.Sprintf("%s.treaties[%d]", where, i)
		if _, ok := Treaties[p.Treaty]; !ok {
			errs = append(errs, fmt.Sprintf("%s.treaty %q is not one of budapest, second_protocol, un", at, p.Treaty))
		}
		if seen[p.Treaty] {
			errs = append(errs, fmt.Sprintf("%s.treaty %s appears twice", at, p.Treaty))
		}
		seen[p.Treaty] = true
		errs = append(errs, validateSpan(at, p.From, p.Until)...)
	}
	for i, d := range m.Declarations {
		at := fmt.Sprintf("%s.declarations[%d]", where, i)
		t, ok := DeclarationKinds[d.Kind]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s.kind %q is not a known reservation or declaration", at, d.Kind))
		} else if len(m.Treaties) > 0 && !seen[t] {
			errs = append(errs, fmt.Sprintf("%s.kind %s is made under %s, which the member is not Party to", at, d.Kind, t))
		}
		errs = append(errs, validateSpan(at, d.From, d.Until)...)
	}
	if r := m.Preservation; r.PeriodDays != 0 && r.PeriodDays < MinPreservationDays {
		errs = append(errs, fmt.Sprintf("%s.preservation.period_days must be at least %d (Budapest Art. 29(7))", where, MinPreservationDays))
	}
	if r := m.Preservation; r.MaxTotalDays != 0 && (r.MaxTotalDays < MinPreservationDays || r.MaxTotalDays > MaxPreservationDays) {
		errs = append(errs, fmt.Sprintf("%s.preservation.max_total_days must be between %d and %d", where, MinPreservationDays, MaxPreservationDays))
	}
	return errs
}

func validateSpan(at, from, until string) []string {
	var errs []string
	f, err := time.Parse(time.DateOnly, from)
	if err != nil {
		errs = append(errs, at+".from must be a date as YYYY-MM-DD")
	}
	if until != "" {
		u, err := time.Parse(time.DateOnly, until)
		if err != nil {
			errs = append(errs, at+".until must be a date as YYYY-MM-DD")
		} else if !u.After(f) {
			errs = append(errs, at+".until must be after from")
		}
	}
	return errs
}
