package testnet

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// signedRoster verifies the roster a testnet signed and gave its nodes.
func signedRoster(t *testing.T, m *Manifest) *protocol.Roster {
	t.Helper()
	pub, err := protocol.ParseAuthorityKey(m.AuthorityKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(m.Nodes[0].Dir, "roster.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestInitDefaultTreatyBasis: without TreatyBases every member is Party to
// the Budapest Convention and the Second Protocol today, with no
// reservation, so the quick start's preservation (Budapest Art. 29) and
// emergency requests (Protocol Art. 9) run between any two nodes.
func TestInitDefaultTreatyBasis(t *testing.T) {
	m, err := Init(InitOptions{Dir: t.TempDir(), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, mem := range signedRoster(t, m).Members {
		if !reflect.DeepEqual(mem.Treaties, DefaultTreatyBasis().Treaties) || len(mem.Declarations) != 0 {
			t.Errorf("%s: treaties %+v, declarations %+v; want the default basis", mem.Country, mem.Treaties, mem.Declarations)
		}
		if !mem.PartyTo(protocol.TreatyBudapest, now) || !mem.PartyTo(protocol.TreatySecondProtocol, now) || mem.PartyTo(protocol.TreatyUN, now) {
			t.Errorf("%s is not Party to exactly Budapest and the Second Protocol today", mem.Country)
		}
	}
}

// TestInitTreatyBases: tests give members bases of their own, signed in
// the roster every node gets: a UN-only state, a Budapest Party with an
// Art. 29(4) reservation, a Protocol Party that declared under Art. 10(9);
// a legacy entry (empty basis) lists no treaties; the others keep the
// default.
func TestInitTreatyBases(t *testing.T) {
	bases := map[string]TreatyBasis{
		"FR": {Treaties: []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2006-05-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2026-01-01"}},
			Declarations: []protocol.Declaration{{Kind: protocol.DeclarationEmergencyMLA, From: "2026-01-01"}},
			Preservation: protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}},
		"de": {Treaties: []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2009-07-01"}}},
		"NL": {Treaties: []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-01-01"}}},
		"IT": {},
	}
	m, err := Init(InitOptions{Dir: t.TempDir(), Nodes: 5, TreatyBases: bases})
	if err != nil {
		t.Fatal(err)
	}
	r := signedRoster(t, m)
	on := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	get := func(cc protocol.CountryCode) protocol.Member {
		mem, ok := r.Member(cc)
		if !ok {
			t.Fatalf("no %s in the roster", cc)
		}
		return mem
	}
	fr, de, nl, it, es := get("FR"), get("DE"), get("NL"), get("IT"), get("ES")
	if _, ok := fr.Declared(protocol.DeclarationEmergencyMLA, on); !ok || fr.Preservation.MaxTotalDays != 180 {
		t.Errorf("FR: %+v %+v; want the Protocol Art. 10(9) declaration and its preservation regime", fr.Declarations, fr.Preservation)
	}
	if _, ok := de.Declared(protocol.ReservationDualCriminality, on); !ok || de.PartyTo(protocol.TreatySecondProtocol, on) {
		t.Errorf("DE (country given in lower case): %+v %+v; want Budapest only with the Art. 29(4) reservation", de.Treaties, de.Declarations)
	}
	if nl.PartyTo(protocol.TreatyBudapest, on) || !nl.PartyTo(protocol.TreatyUN, on) {
		t.Errorf("NL: %+v; want UN only", nl.Treaties)
	}
	if len(it.Treaties) != 0 || !it.PartyTo(protocol.TreatyBudapest, on) || it.PartyTo(protocol.TreatySecondProtocol, on) {
		t.Errorf("IT (empty basis): %+v; want a legacy entry, read as Budapest only", it.Treaties)
	}
	if !reflect.DeepEqual(es.Treaties, DefaultTreatyBasis().Treaties) {
		t.Errorf("ES (not given): %+v; want the default", es.Treaties)
	}
}

// TestInitRefusesTreatyBases: a basis for a country the testnet does not
// have is refused before anything is written; a basis the roster refuses
// (an Art. 29(4) reservation by a UN-only member) names the member.
func TestInitRefusesTreatyBases(t *testing.T) {
	dir := t.TempDir()
	_, err := Init(InitOptions{Dir: dir, Nodes: 2, TreatyBases: map[string]TreatyBasis{"NL": {}}})
	if err == nil || !strings.Contains(err.Error(), `treaty basis for "NL", which is not one of this testnet's nodes (FR, DE)`) {
		t.Fatalf("basis for a country not in the testnet: err = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused init wrote %d entries", len(ents))
	}
	_, err = Init(InitOptions{Dir: t.TempDir(), Nodes: 2, TreatyBases: map[string]TreatyBasis{"DE": {
		Treaties:     []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-01-01"}},
		Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2026-01-01"}},
	}}})
	if err == nil || !strings.Contains(err.Error(), "member DE: ") || !strings.Contains(err.Error(), "budapest_29_4 is made under budapest, which the member is not Party to") {
		t.Fatalf("invalid basis: err = %v", err)
	}
}

// TestLoadTreatyBases reads the file of 'vigil testnet init --treaty-bases'
// and refuses unknown fields, so a misspelt key does not silently give a
// member no declarations.
func TestLoadTreatyBases(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "bases.json")
	if err := os.WriteFile(good, []byte(`{"NL": {"treaties": [{"treaty": "un", "from": "2026-01-01"}]},
 "DE": {"treaties": [{"treaty": "budapest", "from": "2009-07-01"}],
        "declarations": [{"kind": "budapest_29_4", "from": "2009-07-01", "text": "Arts. 2-11 excepted"}],
        "preservation": {"period_days": 90}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadTreatyBases(good)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TreatyBasis{
		"NL": {Treaties: []protocol.Party{{Treaty: protocol.TreatyUN, From: "2026-01-01"}}},
		"DE": {Treaties: []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2009-07-01", Text: "Arts. 2-11 excepted"}},
			Preservation: protocol.PreservationRegime{PeriodDays: 90}},
	}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("LoadTreatyBases = %+v\nwant %+v", b, want)
	}
	typo := filepath.Join(dir, "typo.json")
	if err := os.WriteFile(typo, []byte(`{"DE": {"declaration": [{"kind": "budapest_29_4", "from": "2009-07-01"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTreatyBases(typo); err == nil || !strings.Contains(err.Error(), `unknown field "declaration"`) {
		t.Fatalf("misspelt key: err = %v", err)
	}
	if _, err := LoadTreatyBases(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
}
