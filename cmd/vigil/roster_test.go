package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// TestRosterSignRefusesMissingOrEmptyDraft: 'vigil roster sign' never signs
// the empty roster a missing draft used to become, nor creates a draft as
// a side effect, and refuses an empty draft and a previous encryption key
// without previous_key_until (issue 9 items 8 and 11).
func TestRosterSignRefusesMissingOrEmptyDraft(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "authority")
	if out, err := vigil(t, "roster", "authority-init", "--dir", auth); err != nil {
		t.Fatalf("authority-init: %v\n%s", err, out)
	}
	key := filepath.Join(auth, "authority.key")
	signed := filepath.Join(dir, "roster.json")
	sign := func(draft string) (string, error) {
		return vigil(t, "roster", "sign", "--draft", draft, "--key", key, "--out", signed)
	}
	noFile := func(what, path string) {
		t.Helper()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s: %s exists after a refused sign (err %v)", what, path, err)
		}
	}

	missing := filepath.Join(dir, "missing.draft.json")
	out, err := sign(missing)
	if err == nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("missing draft: err %v, output:\n%s", err, out)
	}
	noFile("missing draft", missing)
	noFile("missing draft", signed)

	empty := filepath.Join(dir, "empty.draft.json")
	if err := os.WriteFile(empty, []byte(`{"network": "vigil", "serial": 3, "members": []}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = sign(empty)
	if err == nil || !strings.Contains(out, "no members") {
		t.Fatalf("empty draft: err %v, output:\n%s", err, out)
	}
	noFile("empty draft", signed)
	if b, _ := os.ReadFile(empty); !strings.Contains(string(b), `"serial": 3`) {
		t.Fatalf("refused sign rewrote the draft:\n%s", b)
	}

	// A member with a previous key but no end date.
	nd := filepath.Join(dir, "de")
	pub, _ := os.ReadFile(filepath.Join(auth, "authority.pub"))
	if out, err := vigil(t, "init", "--dir", nd, "--country", "DE", "--authority-key", strings.TrimSpace(string(pub))); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	draft := filepath.Join(dir, "roster.draft.json")
	if out, err := vigil(t, "roster", "add", "--draft", draft, "--member", filepath.Join(nd, "member.json"),
		"--organisation", "BKA", "--time-zone", "Europe/Berlin", "--office-hours", "24/7"); err != nil {
		t.Fatalf("roster add: %v\n%s", err, out)
	}
	r := readDraft(t, draft)
	old, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	r.Members[0].PreviousEncryptionKey = protocol.EncodeKey(old.Public)
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(draft, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = sign(draft)
	if err == nil || !strings.Contains(out, "previous_key_until is required") {
		t.Fatalf("previous key without until: err %v, output:\n%s", err, out)
	}
	noFile("previous key without until", signed)

	// The same draft with an end date signs.
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r.Members[0].PreviousKeyUntil = &until
	b, _ = json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(draft, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sign(draft); err != nil || !strings.Contains(out, "1 members") {
		t.Fatalf("valid draft: err %v, output:\n%s", err, out)
	}
}

// newDraftMember creates an authority and a DE node, as steps 1-3 of the
// README's "Run a real node", and returns the authority directory, the
// node's member.json and a draft path.
func newDraftMember(t *testing.T) (auth, memberFile, draft string) {
	t.Helper()
	dir := t.TempDir()
	auth = filepath.Join(dir, "authority")
	if out, err := vigil(t, "roster", "authority-init", "--dir", auth); err != nil {
		t.Fatalf("authority-init: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(auth, "authority.pub"))
	if err != nil {
		t.Fatal(err)
	}
	nd := filepath.Join(dir, "de")
	if out, err := vigil(t, "init", "--dir", nd, "--country", "DE", "--authority-key", strings.TrimSpace(string(pub))); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return auth, filepath.Join(nd, "member.json"), filepath.Join(dir, "roster.draft.json")
}

// readDraft reads an unsigned roster draft.
func readDraft(t *testing.T, draft string) protocol.Roster {
	t.Helper()
	b, err := os.ReadFile(draft)
	if err != nil {
		t.Fatal(err)
	}
	var r protocol.Roster
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// readDraftMember reads the draft's member of a country.
func readDraftMember(t *testing.T, draft string, cc protocol.CountryCode) protocol.Member {
	t.Helper()
	r := readDraft(t, draft)
	m, ok := r.Member(cc)
	if !ok {
		t.Fatalf("draft has no %s: %+v", cc, r.Members)
	}
	return m
}

// basisRow finds the row of 'roster show's treaty basis table whose first
// cells are lead, and returns all its cells (tabwriter pads with two
// spaces at least).
func basisRow(t *testing.T, out string, lead ...string) []string {
	t.Helper()
	sep := regexp.MustCompile(`\s{2,}`)
	for _, line := range strings.Split(out, "\n") {
		cells := sep.Split(strings.TrimSpace(line), -1)
		if len(cells) >= len(lead) && slices.Equal(cells[:len(lead)], lead) {
			return cells
		}
	}
	t.Fatalf("no row %q in:\n%s", lead, out)
	return nil
}

// TestRosterAddSetShowTreatyBasis: the secretariat records a member's
// treaty basis with 'roster add', changes it with 'roster set' (the UN
// Convention entering into force, a reservation withdrawn, Budapest Art.
// 43(1)), and 'roster show' lists treaties, reservations and declarations
// with their dates and whether each is in force on a given day, and the
// preservation regime (Art. 29(7)), in the table and in --json.
func TestRosterAddSetShowTreatyBasis(t *testing.T) {
	_, memberFile, draft := newDraftMember(t)
	out, err := vigil(t, "roster", "add", "--draft", draft, "--member", memberFile,
		"--organisation", "BKA", "--time-zone", "Europe/Berlin", "--language", "de", "--language", "en",
		"--treaty", "budapest:2009-07-01", "--treaty", "second_protocol:2026-01-01",
		"--declaration", "budapest_29_4:2013-12-01",
		"--declaration", "protocol_9_5:2026-01-01::format T-CY(2018)10, channel: e-mail",
		"--preservation-days", "90", "--preservation-max-days", "180")
	mustContain(t, "roster add", out, err, "1 members; run 'vigil roster sign' to publish", "treaty second_protocol")
	m := readDraftMember(t, draft, "DE")
	wantT := []protocol.Party{{Treaty: "budapest", From: "2009-07-01"}, {Treaty: "second_protocol", From: "2026-01-01"}}
	wantD := []protocol.Declaration{
		{Kind: "budapest_29_4", From: "2013-12-01"},
		{Kind: "protocol_9_5", From: "2026-01-01", Text: "format T-CY(2018)10, channel: e-mail"},
	}
	if !reflect.DeepEqual(m.Treaties, wantT) || !reflect.DeepEqual(m.Declarations, wantD) ||
		m.Preservation != (protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}) {
		t.Fatalf("draft member after add: %+v %+v %+v", m.Treaties, m.Declarations, m.Preservation)
	}

	// The UN Convention enters into force for DE; its reservation is
	// withdrawn with effect from 2019-07-05 (the same entry, with UNTIL).
	out, err = vigil(t, "roster", "set", "--draft", draft, "--country", "de",
		"--treaty", "un:2026-09-01", "--declaration", "budapest_29_4:2013-12-01:2019-07-05")
	mustContain(t, "roster set", out, err, "updated DE", "treaty un")
	m = readDraftMember(t, draft, "DE")
	if len(m.Treaties) != 3 || m.Treaties[2] != (protocol.Party{Treaty: "un", From: "2026-09-01"}) ||
		len(m.Declarations) != 2 || m.Declarations[0].Until != "2019-07-05" || m.Organisation != "BKA" {
		t.Fatalf("draft member after set: %+v", m)
	}

	for _, tc := range []struct {
		on                      string
		budapest, protocol, res string
	}{
		{"2016-01-01", "in force", "not yet", "in force"},
		{"2019-07-05", "in force", "not yet", "ended"}, // withdrawal effective (Art. 43(1))
		{"2026-11-27", "in force", "in force", "ended"},
	} {
		out, err = vigil(t, "roster", "show", "--roster", draft, "--on", tc.on)
		mustContain(t, "roster show --on "+tc.on, out, err, "ON "+tc.on, "LANGUAGES", "de,en")
		if got := basisRow(t, out, "DE", "treaty budapest", "2009-07-01", "-")[4]; got != tc.budapest {
			t.Errorf("on %s: Budapest %q, want %q", tc.on, got, tc.budapest)
		}
		if got := basisRow(t, out, "DE", "treaty second_protocol", "2026-01-01", "-")[4]; got != tc.protocol {
			t.Errorf("on %s: Second Protocol %q, want %q", tc.on, got, tc.protocol)
		}
		row := basisRow(t, out, "DE", "budapest_29_4", "2013-12-01", "2019-07-05")
		if row[4] != tc.res || !strings.Contains(row[5], "Budapest Art. 29(4)") {
			t.Errorf("on %s: Art. 29(4) reservation row %q, want %q", tc.on, row, tc.res)
		}
	}
	if row := basisRow(t, out, "DE", "protocol_9_5", "2026-01-01", "-", "in force"); !strings.Contains(row[5], `"format T-CY(2018)10, channel: e-mail"`) {
		t.Errorf("Art. 9(5) declaration without its text: %q", row)
	}
	if row := basisRow(t, out, "DE", "preservation"); !strings.Contains(row[len(row)-1], "90 days usually, at most 180 days with extensions") {
		t.Errorf("preservation row %q", row)
	}

	out, err = vigil(t, "roster", "show", "--roster", draft, "--json")
	if err != nil {
		t.Fatalf("roster show --json: %v\n%s", err, out)
	}
	var shown protocol.Roster
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("roster show --json: %v\n%s", err, out)
	}
	if sm, _ := shown.Member("DE"); !reflect.DeepEqual(sm.Treaties, m.Treaties) || !reflect.DeepEqual(sm.Declarations, m.Declarations) || sm.Preservation != m.Preservation {
		t.Fatalf("roster show --json lost the treaty basis: %+v", sm)
	}

	// New keys, new member.json: re-adding keeps the drafted basis...
	out, err = vigil(t, "roster", "add", "--draft", draft, "--member", memberFile, "--organisation", "BKA", "--time-zone", "Europe/Berlin")
	mustContain(t, "roster add again", out, err, "kept the treaty basis the draft had for DE")
	if again := readDraftMember(t, draft, "DE"); !reflect.DeepEqual(again.Treaties, m.Treaties) || !reflect.DeepEqual(again.Declarations, m.Declarations) {
		t.Fatalf("re-add dropped the basis: %+v %+v", again.Treaties, again.Declarations)
	}
	// ...and one that states a basis replaces it, and says so.
	out, err = vigil(t, "roster", "add", "--draft", draft, "--member", memberFile, "--organisation", "BKA", "--time-zone", "Europe/Berlin",
		"--treaty", "un:2026-09-01")
	mustContain(t, "roster add with a basis", out, err, "replaced the treaty basis the draft had for DE")
	if again := readDraftMember(t, draft, "DE"); len(again.Treaties) != 1 || len(again.Declarations) != 0 {
		t.Fatalf("add with --treaty did not replace the basis: %+v %+v", again.Treaties, again.Declarations)
	}

	// Correct a wrong date in one command: drop, then set.
	out, err = vigil(t, "roster", "set", "--draft", draft, "--country", "DE", "--drop-treaty", "un", "--treaty", "un:2026-10-01")
	mustContain(t, "roster set correction", out, err, "2026-10-01")
	if got := readDraftMember(t, draft, "DE").Treaties; len(got) != 1 || got[0].From != "2026-10-01" {
		t.Fatalf("after the correction: %+v", got)
	}
}

// TestRosterAddRefusesBadTreatyBasis: 'roster add' and 'roster set' refuse a
// treaty basis the signed roster could not carry, with the protocol's own
// reasons, and leave the draft as it was.
func TestRosterAddRefusesBadTreatyBasis(t *testing.T) {
	_, memberFile, draft := newDraftMember(t)
	base := []string{"roster", "add", "--draft", draft, "--member", memberFile, "--organisation", "BKA", "--time-zone", "Europe/Berlin"}
	if out, err := vigil(t, append(base, "--treaty", "budapest:2009-07-01")...); err != nil {
		t.Fatalf("roster add: %v\n%s", err, out)
	}
	before, err := os.ReadFile(draft)
	if err != nil {
		t.Fatal(err)
	}
	set := []string{"roster", "set", "--draft", draft, "--country", "DE"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(base, "--treaty", "ets185:2004-07-01"), `treaties[0].treaty "ets185" is not one of budapest, second_protocol, un`},
		{append(base, "--treaty", "budapest:2004-7-1"), "treaties[0].from must be a date as YYYY-MM-DD"},
		{append(base, "--treaty", "budapest:2009-07-01:2009-01-01"), "treaties[0].until must be after from"},
		{append(base, "--treaty", "budapest"), "want TREATY:FROM[:UNTIL]"},
		{append(base, "--treaty", "budapest:2009-07-01", "--declaration", "budapest_29_5:2009-07-01"),
			`declarations[0].kind "budapest_29_5" is not a known reservation or declaration`},
		{append(base, "--treaty", "budapest:2009-07-01", "--declaration", "budapest_29_4:2009-07-01:2019-13-01"),
			"declarations[0].until must be a date as YYYY-MM-DD"},
		// Protocol Art. 10(9) is a declaration under the Protocol.
		{append(base, "--treaty", "budapest:2009-07-01", "--declaration", "protocol_10_9:2026-01-01"),
			"declarations[0].kind protocol_10_9 is made under second_protocol, which the member is not Party to"},
		{append(base, "--declaration", "protocol_10_9:2026-01-01"), "read as Party to the Budapest Convention only"},
		{append(base, "--preservation-days", "30"), "preservation.period_days must be at least 60 (Budapest Art. 29(7))"},
		{append(set, "--declaration", "un_42_4:2026-09-01"), "un_42_4 is made under un, which the member is not Party to"},
		{append(set, "--drop-treaty", "un"), `member DE lists no treaty "un" to drop`},
		{append(set, "--drop-declaration", "budapest_29_4"), "member DE has no declaration budapest_29_4 to drop"},
		{[]string{"roster", "set", "--draft", draft, "--country", "FR", "--treaty", "budapest:2006-05-01"}, "has no member FR: add it with 'vigil roster add'"},
		{[]string{"roster", "set", "--draft", draft, "--treaty", "un:2026-09-01"}, `required flag(s) "country" not set`},
		{[]string{"roster", "show", "--roster", draft, "--on", "27/11/2026"}, `--on "27/11/2026": want a date as YYYY-MM-DD`},
	} {
		out, err := vigil(t, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%q: err %v, output:\n%s\nwant an error containing %q", tc.args, err, out, tc.want)
		}
		if after, _ := os.ReadFile(draft); !bytes.Equal(after, before) {
			t.Fatalf("%q: a refused edit changed the draft:\n%s", tc.args, after)
		}
	}
}

// TestRosterShowTestnetTreatyBases: 'vigil testnet init --treaty-bases'
// signs the given bases into the testnet's roster (a UN-only state, an
// Art. 29(4) reservation, a Protocol Art. 10(9) declaration), the others
// get the default (Budapest and the Second Protocol), and 'roster show'
// lists them.
func TestRosterShowTestnetTreatyBases(t *testing.T) {
	dir := t.TempDir()
	bases := filepath.Join(dir, "bases.json")
	if err := os.WriteFile(bases, []byte(`{
  "DE": {"treaties": [{"treaty": "budapest", "from": "2009-07-01"}],
         "declarations": [{"kind": "budapest_29_4", "from": "2009-07-01"}]},
  "NL": {"treaties": [{"treaty": "un", "from": "2026-01-01"}]}
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tn := filepath.Join(dir, "testnet")
	out, err := vigil(t, "testnet", "init", "--dir", tn, "--nodes", "3", "--treaty-bases", bases)
	mustContain(t, "testnet init --treaty-bases", out, err, "run it with: vigil testnet run --dir ")
	out, err = vigil(t, "roster", "show", "--roster", filepath.Join(tn, "authority", "roster.json"), "--on", "2026-11-27")
	mustContain(t, "roster show", out, err, "serial 1")
	basisRow(t, out, "FR", "treaty budapest", "2004-07-01", "-", "in force")
	basisRow(t, out, "FR", "treaty second_protocol", "2022-05-12", "-", "in force")
	basisRow(t, out, "DE", "treaty budapest", "2009-07-01", "-", "in force")
	basisRow(t, out, "DE", "budapest_29_4", "2009-07-01", "-", "in force")
	basisRow(t, out, "NL", "treaty un", "2026-01-01", "-", "in force")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "NL ") && strings.Contains(line, "budapest") || strings.HasPrefix(line, "DE ") && strings.Contains(line, "second_protocol") {
			t.Errorf("treaty the bases file did not give: %q", line)
		}
	}
	out, err = vigil(t, "testnet", "init", "--dir", filepath.Join(dir, "other"), "--nodes", "2", "--treaty-bases", bases)
	if err == nil || !strings.Contains(out, `treaty basis for "NL", which is not one of this testnet's nodes (FR, DE)`) {
		t.Fatalf("bases for a country the testnet does not have: err %v\n%s", err, out)
	}
}

// TestRosterNamesEveryDeclarationKind: 'roster show' and the help of
// 'roster add' say, with its article, what each reservation and declaration
// the protocol knows is; a kind added to protocol.DeclarationKinds without
// a name here fails.
func TestRosterNamesEveryDeclarationKind(t *testing.T) {
	for k, treaty := range protocol.DeclarationKinds {
		name := declarationNames[k]
		if name == "" || !strings.Contains(name, "Art. ") {
			t.Errorf("%s (under %s) has no name citing its article: %q", k, treaty, name)
		}
	}
	for k := range declarationNames {
		if _, ok := protocol.DeclarationKinds[k]; !ok {
			t.Errorf("declarationNames names %s, which the protocol does not know", k)
		}
	}
	help := treatyBasisHelp()
	for k := range protocol.DeclarationKinds {
		if !strings.Contains(help, string(k)) {
			t.Errorf("roster add's help does not list %s", k)
		}
	}
}

// TestRosterDraftingRefusesMistakes: 'roster add' refuses a misspelt time
// zone, an e-mail and a phone that are not, and warns about init's loopback
// placeholders; 'roster remove' drops a member; 'roster sign' refuses a
// validity that is already over.
func TestRosterDraftingRefusesMistakes(t *testing.T) {
	auth, memberFile, draft := newDraftMember(t)
	add := func(extra ...string) (string, error) {
		return vigil(t, append([]string{"roster", "add", "--draft", draft, "--member", memberFile, "--organisation", "BKA"}, extra...)...)
	}
	for _, tc := range [][]string{
		{"--time-zone", "Europe/Berln"},
		{"--email", "not-an-email", "--time-zone", "Europe/Berlin"},
		{"--phone", "abc", "--time-zone", "Europe/Berlin"},
	} {
		out, err := add(tc...)
		if exitCode(t, err) != 1 || !strings.Contains(out, strconv.Quote(tc[1])) {
			t.Errorf("roster add %s: %v\n%s", tc, err, out)
		}
		if _, err := os.Stat(draft); err == nil {
			t.Fatalf("roster add %s wrote the draft", tc)
		}
	}
	out, err := add("--time-zone", "Europe/Berlin", "--email", "24-7@example.de", "--phone", "+49 611 0000")
	if err != nil || !strings.Contains(out, "warning: member DE: address /ip4/127.0.0.1/") || !strings.Contains(out, "loopback") {
		t.Fatalf("roster add with placeholders: %v\n%s", err, out)
	}
	out, err = add("--time-zone", "Europe/Berlin", "--addr", "/dns4/vigil.example.de/tcp/4701")
	if err != nil || strings.Contains(out, "warning") {
		t.Fatalf("roster add with a public address: %v\n%s", err, out)
	}

	key := filepath.Join(auth, "authority.key")
	signed := filepath.Join(filepath.Dir(draft), "roster.json")
	for _, v := range []string{"-1h", "0s"} {
		out, err := vigil(t, "roster", "sign", "--draft", draft, "--key", key, "--out", signed, "--valid-for", v)
		if exitCode(t, err) != 1 || !strings.Contains(out, "expired") {
			t.Errorf("roster sign --valid-for %s: %v\n%s", v, err, out)
		}
		if _, err := os.Stat(signed); err == nil {
			t.Fatalf("roster sign --valid-for %s wrote %s", v, signed)
		}
	}

	out, err = vigil(t, "roster", "remove", "--draft", draft, "--country", "FR")
	if exitCode(t, err) != 1 || !strings.Contains(out, "no member FR (it has: DE)") {
		t.Fatalf("remove FR: %v\n%s", err, out)
	}
	out, err = vigil(t, "roster", "remove", "--draft", draft, "--country", "de")
	if err != nil || !strings.Contains(out, "removed DE, 0 members left") {
		t.Fatalf("remove de: %v\n%s", err, out)
	}
	if r := readDraft(t, draft); len(r.Members) != 0 {
		t.Fatalf("draft after remove: %+v", r.Members)
	}
	out, err = vigil(t, "roster", "remove", "--draft", filepath.Join(t.TempDir(), "none.json"), "--country", "DE")
	if exitCode(t, err) != 1 || !strings.Contains(out, "no such file") {
		t.Fatalf("remove from a missing draft: %v\n%s", err, out)
	}
}
