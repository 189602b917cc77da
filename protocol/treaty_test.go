package protocol_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// day is midnight UTC of a YYYY-MM-DD date.
func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMemberPartyToLegacyEntry: a member entry that lists no treaties was
// written before treaties were recorded and is read as a Party to the
// Budapest Convention only, on any date: the network was founded under its
// Art. 35 (24/7 network), and nothing in such an entry says the state
// joined the Second Protocol or the UN Convention.
func TestMemberPartyToLegacyEntry(t *testing.T) {
	legacy := newNode(t, "FR").member
	for _, on := range []string{"1990-01-01", "2004-07-01", "2026-11-27"} {
		if !legacy.PartyTo(protocol.TreatyBudapest, day(t, on)) {
			t.Errorf("legacy entry on %s: not Party to Budapest", on)
		}
		for _, other := range []protocol.Treaty{protocol.TreatySecondProtocol, protocol.TreatyUN} {
			if legacy.PartyTo(other, day(t, on)) {
				t.Errorf("legacy entry on %s: Party to %s, which it never listed", on, other)
			}
		}
	}
	// The rule is for entries that list nothing: once any treaty is
	// listed, the list is the whole basis, and a UN-only state is not a
	// Party to Budapest.
	unOnly := legacy
	unOnly.Treaties = []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-01-01"}}
	if unOnly.PartyTo(protocol.TreatyBudapest, testNow) {
		t.Error("a member listing only the UN Convention is read as Party to Budapest")
	}
	if !unOnly.PartyTo(protocol.TreatyUN, testNow) {
		t.Error("a member listing the UN Convention from 2026-01-01 is not Party to it on 2026-11-27")
	}
}

// TestMemberPartyToDates: a treaty binds a member from its entry into
// force for that state (Budapest Art. 36(4) and 37(2): the first day of
// the month following three months after deposit) until its denunciation
// takes effect (Art. 47(2)), which is the first day it no longer binds.
// The day is the UTC calendar day of the instant asked about.
func TestMemberPartyToDates(t *testing.T) {
	m := newNode(t, "DE").member
	m.Treaties = []protocol.Party{
		{Treaty: protocol.TreatyBudapest, From: "2009-07-01"},
		{Treaty: protocol.TreatySecondProtocol, From: "2026-01-01", Until: "2030-04-01"},
	}
	for _, tc := range []struct {
		treaty protocol.Treaty
		on     time.Time
		want   bool
	}{
		{protocol.TreatyBudapest, day(t, "2009-06-30"), false},
		{protocol.TreatyBudapest, day(t, "2009-07-01"), true},
		{protocol.TreatyBudapest, day(t, "2099-01-01"), true}, // no denunciation: in force for ever
		{protocol.TreatySecondProtocol, day(t, "2025-12-31"), false},
		{protocol.TreatySecondProtocol, day(t, "2026-01-01"), true},
		{protocol.TreatySecondProtocol, day(t, "2030-03-31"), true},
		{protocol.TreatySecondProtocol, day(t, "2030-04-01"), false}, // denunciation effective (Art. 47(2))
		{protocol.TreatyUN, day(t, "2026-11-27"), false},             // not listed
		// The UTC day counts, whatever the zone of the instant.
		{protocol.TreatySecondProtocol, time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), false},
		{protocol.TreatySecondProtocol, time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), false},
		{protocol.TreatySecondProtocol, time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), true},
	} {
		if got := m.PartyTo(tc.treaty, tc.on); got != tc.want {
			t.Errorf("PartyTo(%s, %s) = %v, want %v", tc.treaty, tc.on.Format(time.RFC3339), got, tc.want)
		}
	}
}

// TestMemberDeclaredCzechArt29_4: a reservation is in force from the day
// it takes effect until its withdrawal takes effect, on the day the
// Secretary General receives the notification (Budapest Art. 43(1)). The
// Czech Republic's Art. 29(4) reservation (refusal of preservation for
// want of dual criminality) was in force from 1 December 2013 to 5 July
// 2019: a request dated within that span may meet it, one dated after
// may not.
func TestMemberDeclaredCzechArt29_4(t *testing.T) {
	cz := newNode(t, "CZ").member
	cz.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2013-12-01"}}
	reservation := protocol.Declaration{Kind: protocol.ReservationDualCriminality, From: "2013-12-01", Until: "2019-07-05",
		Text: "offences other than Arts. 2-11 where dual criminality cannot be fulfilled at disclosure"}
	cz.Declarations = []protocol.Declaration{reservation}
	for _, tc := range []struct {
		on   string
		want bool
	}{
		{"2013-11-30", false},
		{"2013-12-01", true},
		{"2016-05-10", true},
		{"2019-07-04", true},
		{"2019-07-05", false}, // withdrawal took effect (Art. 43(1))
		{"2026-11-27", false},
	} {
		d, ok := cz.Declared(protocol.ReservationDualCriminality, day(t, tc.on))
		if ok != tc.want {
			t.Errorf("Declared(budapest_29_4, %s) = %v, want %v", tc.on, ok, tc.want)
		}
		if ok && d != reservation {
			t.Errorf("Declared(budapest_29_4, %s) = %+v, want the reservation with its text", tc.on, d)
		}
	}
	// Another kind is not declared because one of a kind is.
	if _, ok := cz.Declared(protocol.DeclarationEmergencyMLA, day(t, "2016-05-10")); ok {
		t.Error("Declared(protocol_10_9) true for a member that only made an Art. 29(4) reservation")
	}
	// A reservation made again after its withdrawal is found on its own dates.
	again := protocol.Declaration{Kind: protocol.ReservationDualCriminality, From: "2027-01-01"}
	cz.Declarations = append(cz.Declarations, again)
	if d, ok := cz.Declared(protocol.ReservationDualCriminality, day(t, "2027-03-01")); !ok || d != again {
		t.Errorf("Declared after the reservation was made again = %+v, %v; want %+v", d, ok, again)
	}
	if _, ok := cz.Declared(protocol.ReservationDualCriminality, day(t, "2020-01-01")); ok {
		t.Error("Declared true between the withdrawal and the new reservation")
	}
}

// TestRosterValidateTreatyBasis: the signed roster refuses a treaty basis
// no node could apply the same way: an unknown instrument or kind, a date
// that is not YYYY-MM-DD, an end not after the start, a treaty listed
// twice, a reservation or declaration under a treaty the member is not
// Party to (Budapest Art. 42 reservations and Art. 40 declarations, and
// Protocol Arts. 9(1)(b), 9(5), 10(9), are made by Parties to the
// instrument), and a preservation period below Art. 29(7)'s sixty days.
func TestRosterValidateTreatyBasis(t *testing.T) {
	budapest := []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01"}}
	for _, tc := range []struct {
		name string
		edit func(*protocol.Member)
		want string // "" for a valid basis
	}{
		{"legacy entry, no basis", func(*protocol.Member) {}, ""},
		{"full basis", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{
				{Treaty: protocol.TreatyBudapest, From: "2004-07-01"},
				{Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"},
				{Treaty: protocol.TreatyUN, From: "2026-09-01", Until: "2031-01-01"},
			}
			m.Declarations = []protocol.Declaration{
				{Kind: protocol.ReservationDualCriminality, From: "2013-12-01", Until: "2019-07-05"},
				{Kind: protocol.DeclarationResubmission, From: "2026-01-01", Text: "by e-mail to mla@example.org"},
				{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"},
				{Kind: protocol.ReservationDualCriminalityUN, From: "2026-09-01"},
			}
			m.Preservation = protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}
		}, ""},
		// A legacy entry is read as Budapest only: a Budapest reservation fits it.
		{"legacy entry with an Art. 29(4) reservation", func(m *protocol.Member) {
			m.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2010-01-01"}}
		}, ""},
		{"Art. 29(7) minimum exactly", func(m *protocol.Member) {
			m.Preservation = protocol.PreservationRegime{PeriodDays: protocol.MinPreservationDays, MaxTotalDays: protocol.MinPreservationDays}
		}, ""},

		{"unknown treaty", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: "ets185", From: "2004-07-01"}}
		}, `members[1].treaties[0].treaty "ets185" is not one of budapest, second_protocol, un`},
		{"treaty listed twice", func(m *protocol.Member) {
			m.Treaties = append(budapest, protocol.Party{Treaty: protocol.TreatyBudapest, From: "2010-01-01"})
		}, "members[1].treaties[1].treaty budapest appears twice"},
		{"treaty from not a date", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "1 July 2004"}}
		}, "members[1].treaties[0].from must be a date as YYYY-MM-DD"},
		{"treaty without from", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest}}
		}, "members[1].treaties[0].from must be a date as YYYY-MM-DD"},
		{"treaty until not a date", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01", Until: "2030-02-30"}}
		}, "members[1].treaties[0].until must be a date as YYYY-MM-DD"},
		{"treaty until before from", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01", Until: "2004-06-30"}}
		}, "members[1].treaties[0].until must be after from"},
		{"treaty until on from", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01", Until: "2004-07-01"}}
		}, "members[1].treaties[0].until must be after from"},
		{"unknown declaration kind", func(m *protocol.Member) {
			m.Treaties = budapest
			m.Declarations = []protocol.Declaration{{Kind: "budapest_29_5", From: "2004-07-01"}}
		}, `members[1].declarations[0].kind "budapest_29_5" is not a known reservation or declaration`},
		{"Art. 29(4) reservation by a UN-only member", func(m *protocol.Member) {
			m.Treaties = []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-01-01"}}
			m.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2026-01-01"}}
		}, "members[1].declarations[0].kind budapest_29_4 is made under budapest, which the member is not Party to"},
		{"Protocol Art. 10(9) declaration without the Protocol", func(m *protocol.Member) {
			m.Treaties = budapest
			m.Declarations = []protocol.Declaration{{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"}}
		}, "members[1].declarations[0].kind protocol_10_9 is made under second_protocol, which the member is not Party to"},
		{"UN Art. 42(4) reservation by a Budapest-only member", func(m *protocol.Member) {
			m.Treaties = budapest
			m.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminalityUN, From: "2026-01-01"}}
		}, "members[1].declarations[0].kind un_42_4 is made under un, which the member is not Party to"},
		{"declaration until before from", func(m *protocol.Member) {
			m.Treaties = budapest
			m.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2019-07-05", Until: "2013-12-01"}}
		}, "members[1].declarations[0].until must be after from"},
		{"declaration from not a date", func(m *protocol.Member) {
			m.Treaties = budapest
			m.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2013-12"}}
		}, "members[1].declarations[0].from must be a date as YYYY-MM-DD"},
		{"period below Art. 29(7)", func(m *protocol.Member) {
			m.Preservation = protocol.PreservationRegime{PeriodDays: protocol.MinPreservationDays - 1}
		}, "members[1].preservation.period_days must be at least 60 (Budapest Art. 29(7))"},
		{"maximum below Art. 29(7)", func(m *protocol.Member) {
			m.Preservation = protocol.PreservationRegime{MaxTotalDays: protocol.MinPreservationDays - 1}
		}, "members[1].preservation.max_total_days must be between 60 and 3650"},
		{"maximum above the bound", func(m *protocol.Member) {
			m.Preservation = protocol.PreservationRegime{MaxTotalDays: protocol.MaxPreservationDays + 1}
		}, "members[1].preservation.max_total_days must be between 60 and 3650"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr, de := newNode(t, "FR").member, newNode(t, "DE").member
			tc.edit(&de)
			err := newRoster(fr, de).Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid basis refused: %v", err)
				}
				return
			}
			if !errors.Is(err, protocol.ErrRosterInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant ErrRosterInvalid containing %q", err, tc.want)
			}
		})
	}
}

// TestRosterTreatyBasisSignedRoundTrip: the treaty basis is signed with the
// roster, so both nodes of a case read the same one; a basis the roster
// refuses is neither signed nor accepted when signed without validation.
// An entry without a basis carries none of its fields, so rosters signed
// before treaties were recorded read as they did.
func TestRosterTreatyBasisSignedRoundTrip(t *testing.T) {
	pub, priv := authorityKey(t)
	fr, de := newNode(t, "FR").member, newNode(t, "DE").member
	de.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"}}
	de.Declarations = []protocol.Declaration{{Kind: protocol.DeclarationResubmission, From: "2026-01-01", Until: "2028-01-01", Text: "format: T-CY(2018)10; channel: e-mail"}}
	de.Preservation = protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}
	r := newRoster(fr, de)
	doc, err := protocol.SignRoster(r, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		t.Fatalf("signed roster with a treaty basis does not verify: %v", err)
	}
	gde, _ := got.Member("DE")
	if !reflect.DeepEqual(gde.Treaties, de.Treaties) || !reflect.DeepEqual(gde.Declarations, de.Declarations) || gde.Preservation != de.Preservation {
		t.Fatalf("treaty basis after sign and verify:\n%+v\n%+v\n%+v\nwant\n%+v\n%+v\n%+v",
			gde.Treaties, gde.Declarations, gde.Preservation, de.Treaties, de.Declarations, de.Preservation)
	}
	gfr, _ := got.Member("FR")
	if gfr.Treaties != nil || gfr.Declarations != nil || gfr.Preservation != (protocol.PreservationRegime{}) {
		t.Fatalf("legacy member gained a basis: %+v", gfr)
	}
	legacy := rosterJSON(t, newRoster(fr))
	for _, key := range []string{`"treaties"`, `"declarations"`, `"preservation"`} {
		if strings.Contains(legacy, key) {
			t.Errorf("an entry without a treaty basis is written with %s: %s", key, legacy)
		}
	}

	bad := newRoster(fr, de)
	bad.Members[1].Declarations = append(bad.Members[1].Declarations, protocol.Declaration{Kind: protocol.ReservationDualCriminalityUN, From: "2026-09-01"})
	if doc, err := protocol.SignRoster(bad, priv); !errors.Is(err, protocol.ErrRosterInvalid) || doc != nil {
		t.Fatalf("SignRoster signed a UN reservation by a member not Party to the UN Convention: err = %v", err)
	}
	if _, err := protocol.VerifyRoster(signRaw(t, []byte(rosterJSON(t, bad)), priv), pub); !errors.Is(err, protocol.ErrRosterInvalid) {
		t.Fatalf("VerifyRoster accepted an invalid treaty basis signed without validation: err = %v", err)
	}
}
