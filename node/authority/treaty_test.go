package authority

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/protocol"
)

// TestParseParty: TREATY:FROM[:UNTIL], as 'vigil roster add --treaty'
// takes it; only the shape is checked here (CheckMember does the rest).
func TestParseParty(t *testing.T) {
	for spec, want := range map[string]protocol.Party{
		"budapest:2004-07-01":            {Treaty: protocol.TreatyBudapest, From: "2004-07-01"},
		" Second_Protocol : 2026-01-01 ": {Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"},
		"un:2026-09-01:2031-01-01":       {Treaty: protocol.TreatyUN, From: "2026-09-01", Until: "2031-01-01"},
		"bogus:not-a-date":               {Treaty: "bogus", From: "not-a-date"}, // refused by CheckMember
		"budapest:2004-07-01:":           {Treaty: protocol.TreatyBudapest, From: "2004-07-01"},
	} {
		got, err := ParseParty(spec)
		if err != nil || got != want {
			t.Errorf("ParseParty(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "budapest", ":2004-07-01", "budapest:2004-07-01:2010-01-01:x"} {
		if p, err := ParseParty(spec); err == nil || !strings.Contains(err.Error(), "TREATY:FROM[:UNTIL]") {
			t.Errorf("ParseParty(%q) = %+v, %v; want an error giving the form", spec, p, err)
		}
	}
}

// TestParseDeclaration: KIND:FROM[:UNTIL][:TEXT]. The third field is the
// end date when it is one, and the text otherwise; the text keeps its
// colons, as the format and channel of a Protocol Art. 9(5) declaration
// may need them.
func TestParseDeclaration(t *testing.T) {
	for spec, want := range map[string]protocol.Declaration{
		"budapest_29_4:2013-12-01": {Kind: protocol.ReservationDualCriminality, From: "2013-12-01"},
		"budapest_29_4:2013-12-01:2019-07-05": {Kind: protocol.ReservationDualCriminality, From: "2013-12-01",
			Until: "2019-07-05"},
		"protocol_9_5:2026-01-01:2028-01-01:form T-CY(2018)10, channel: e-mail": {Kind: protocol.DeclarationResubmission,
			From: "2026-01-01", Until: "2028-01-01", Text: "form T-CY(2018)10, channel: e-mail"},
		"protocol_9_5:2026-01-01::channel: e-mail": {Kind: protocol.DeclarationResubmission, From: "2026-01-01",
			Text: "channel: e-mail"},
		"protocol_9_5:2026-01-01:by e-mail: mla@example.org": {Kind: protocol.DeclarationResubmission, From: "2026-01-01",
			Text: "by e-mail: mla@example.org"},
		// Digits and dashes are a date, even a wrong one: CheckMember
		// refuses it rather than it becoming the text unnoticed.
		"PROTOCOL_10_9:2026-01-01:2026-1-5": {Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01", Until: "2026-1-5"},
	} {
		got, err := ParseDeclaration(spec)
		if err != nil || got != want {
			t.Errorf("ParseDeclaration(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "budapest_29_4", ":2013-12-01"} {
		if d, err := ParseDeclaration(spec); err == nil || !strings.Contains(err.Error(), "KIND:FROM[:UNTIL][:TEXT]") {
			t.Errorf("ParseDeclaration(%q) = %+v, %v; want an error giving the form", spec, d, err)
		}
	}
	if ref, err := ParseDeclarationRef("Budapest_29_4:2013-12-01"); err != nil || ref != (DeclarationRef{Kind: protocol.ReservationDualCriminality, From: "2013-12-01"}) {
		t.Errorf("ParseDeclarationRef = %+v, %v", ref, err)
	}
	if _, err := ParseDeclarationRef(":2013-12-01"); err == nil {
		t.Error("ParseDeclarationRef accepted a reference without a kind")
	}
}

// TestBasisChangeApply: treaties are set by treaty, declarations by kind
// and FROM, so the UN Convention entering into force is one --treaty and
// the withdrawal of a reservation (Budapest Art. 43(1)) is the same
// reservation given again with its UNTIL date; drops apply first, so a
// wrong date is corrected in one edit; dropping what is not there fails.
func TestBasisChangeApply(t *testing.T) {
	m := protocol.Member{Country: "CZ",
		Treaties:     []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2013-12-01"}},
		Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2013-12-01"}}}
	err := BasisChange{
		Treaties: []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-09-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"}},
		Declarations: []protocol.Declaration{
			{Kind: protocol.ReservationDualCriminality, From: "2013-12-01", Until: "2019-07-05"},
			{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"},
		},
	}.Apply(&m)
	if err != nil {
		t.Fatal(err)
	}
	wantT := []protocol.Party{
		{Treaty: protocol.TreatyBudapest, From: "2013-12-01"},
		{Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"},
		{Treaty: protocol.TreatyUN, From: "2026-09-01"},
	}
	wantD := []protocol.Declaration{
		{Kind: protocol.ReservationDualCriminality, From: "2013-12-01", Until: "2019-07-05"},
		{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"},
	}
	if !reflect.DeepEqual(m.Treaties, wantT) || !reflect.DeepEqual(m.Declarations, wantD) {
		t.Fatalf("after the edit:\n%+v\n%+v\nwant (chronological)\n%+v\n%+v", m.Treaties, m.Declarations, wantT, wantD)
	}

	// Correct the Protocol's date and drop the 10(9) declaration made by mistake.
	err = BasisChange{
		DropTreaties:     []protocol.Treaty{protocol.TreatySecondProtocol},
		Treaties:         []protocol.Party{{Treaty: protocol.TreatySecondProtocol, From: "2026-02-01"}},
		DropDeclarations: []DeclarationRef{{Kind: protocol.DeclarationEmergencyMLA}},
	}.Apply(&m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Treaties[1] != (protocol.Party{Treaty: protocol.TreatySecondProtocol, From: "2026-02-01"}) || len(m.Declarations) != 1 {
		t.Fatalf("after the correction: %+v %+v", m.Treaties, m.Declarations)
	}

	before := protocol.Member{Country: m.Country, Treaties: append([]protocol.Party(nil), m.Treaties...)}
	for _, c := range []BasisChange{
		{DropTreaties: []protocol.Treaty{"bogus"}},
		{DropDeclarations: []DeclarationRef{{Kind: protocol.DeclarationEmergencyMLA}}},
		{DropDeclarations: []DeclarationRef{{Kind: protocol.ReservationDualCriminality, From: "2014-01-01"}}},
	} {
		if err := c.Apply(&m); err == nil || !strings.Contains(err.Error(), "to drop") {
			t.Errorf("%+v: err = %v, want a refusal to drop what is not there", c, err)
		}
	}
	if !reflect.DeepEqual(m.Treaties, before.Treaties) {
		t.Errorf("failed drops changed the treaties: %+v", m.Treaties)
	}
}

// TestCarryTreatyBasis: re-adding a member from a new member.json keeps
// the basis the draft had for it; a member that states its own keeps its
// own; a new member gets nothing.
func TestCarryTreatyBasis(t *testing.T) {
	r := &protocol.Roster{}
	de := member(t, "DE")
	de.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}}
	de.Preservation = protocol.PreservationRegime{PeriodDays: 90}
	AddMember(r, de)

	fresh := member(t, "DE")
	if !CarryTreatyBasis(r, &fresh) || !reflect.DeepEqual(fresh.Treaties, de.Treaties) || fresh.Preservation != de.Preservation {
		t.Fatalf("re-added DE: %+v %+v; want the draft's basis", fresh.Treaties, fresh.Preservation)
	}
	fresh.Treaties[0].From = "2010-01-01"
	if FindMember(r, "DE").Treaties[0].From != "2009-07-01" {
		t.Fatal("the carried basis shares its slice with the draft")
	}
	own := member(t, "DE")
	own.Treaties = []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-09-01"}}
	if CarryTreatyBasis(r, &own) || own.Treaties[0].Treaty != protocol.TreatyUN {
		t.Fatalf("a member stating its own basis was given the draft's: %+v", own.Treaties)
	}
	fr := member(t, "FR")
	if CarryTreatyBasis(r, &fr) || HasTreatyBasis(fr) {
		t.Fatalf("a new member was given a basis: %+v", fr)
	}
}

// TestCheckMember: one entry is checked with the roster's own rules, the
// error naming the member and the field without the roster's index; a
// member listing no treaty (read as Budapest only, protocol Member.PartyTo)
// may carry only Budapest declarations.
func TestCheckMember(t *testing.T) {
	m := member(t, "DE")
	if err := CheckMember(m); err != nil {
		t.Fatalf("valid member: %v", err)
	}
	bad := m
	bad.Treaties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01", Until: "2009-01-01"}}
	err := CheckMember(bad)
	if !errors.Is(err, protocol.ErrRosterInvalid) || !strings.Contains(err.Error(), "member DE: roster content is invalid: treaties[0].until must be after from") ||
		strings.Contains(err.Error(), "members[0]") {
		t.Errorf("until before from: err = %v", err)
	}
	legacy := m
	legacy.Declarations = []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2013-12-01"}}
	if err := CheckMember(legacy); err != nil {
		t.Errorf("Art. 29(4) reservation of a Budapest-only legacy entry: %v", err)
	}
	legacy.Declarations = append(legacy.Declarations, protocol.Declaration{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"})
	if err := CheckMember(legacy); !errors.Is(err, ErrDeclarationsWithoutTreaties) || !strings.Contains(err.Error(), "protocol_10_9") {
		t.Errorf("Protocol Art. 10(9) declaration of a member listing no treaty: err = %v", err)
	}
}
