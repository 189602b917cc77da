package protocol_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/protocol"
)

// fieldCase is one row of a table-driven request test: edit the example
// document of a kind, and expect exactly the named fields to be refused
// (nil: the edited request is valid).
type fieldCase struct {
	name string
	edit func(doc map[string]any)
	want []string
}

// readExampleKind reads configs/examples/<kind>.json.
func readExampleKind(tb testing.TB, kind string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("../configs/examples", kind+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func editExample(tb testing.TB, kind string, edit func(doc map[string]any)) []byte {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readExampleKind(tb, kind), &doc); err != nil {
		tb.Fatal(err)
	}
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// runFieldCases checks each row against the example of kind.
func runFieldCases(t *testing.T, kind string, cases []fieldCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := protocol.ParseRequest(editExample(t, kind, c.edit))
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if req == nil {
				t.Fatalf("no request returned with the validation error %v", err)
			}
			got := validationFields(t, err)
			sort.Strings(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("fields = %q, want %q (%v)", got, c.want, err)
			}
		})
	}
}

// set returns an edit that sets key of the object at path (dot-separated;
// "" is the document) to v, creating objects on the way.
func set(path, key string, v any) func(doc map[string]any) {
	return func(doc map[string]any) {
		o := doc
		if path != "" {
			for _, k := range strings.Split(path, ".") {
				next, ok := o[k].(map[string]any)
				if !ok {
					next = map[string]any{}
					o[k] = next
				}
				o = next
			}
		}
		if v == nil {
			delete(o, key)
		} else {
			o[key] = v
		}
	}
}

// TestExamplesAreValid: every shipped example request is valid, one per
// kind, so the README, the testnet and the benchmarks send real requests.
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../configs/examples/*.json")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[protocol.RequestKind]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		req, err := protocol.ParseRequest(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); string(req.RequestKind()) != want {
			t.Errorf("%s holds a %s request", f, req.RequestKind())
		}
		kinds[req.RequestKind()] = true
	}
	for _, k := range []protocol.RequestKind{protocol.KindPreservation, protocol.KindEmergency, protocol.KindEmergencyMLA, protocol.KindAssistance} {
		if !kinds[k] {
			t.Errorf("no example of kind %s", k)
		}
	}
}

// TestRequestingAuthorityItem5 checks T-CY(2018)11 item 5, the requesting
// authority (Budapest Art. 29(2)(a)): organisation, person in charge,
// address, telephone, cell phone, e-mail, fax, office hours, time zone,
// "response by e-mail or other expedited means preferred" and "response
// preferred by means of".
func TestRequestingAuthorityItem5(t *testing.T) {
	const ra = "requesting_authority"
	runFieldCases(t, "preservation", []fieldCase{
		{"example carries fax and reply preference", func(map[string]any) {}, nil},
		{"fax optional", set(ra, "fax", nil), nil},
		{"fax with letters", set(ra, "fax", "fax the office"), []string{ra + ".fax"}},
		{"mobile with letters", set(ra, "mobile", "+33 6 CALL ME"), []string{ra + ".mobile"}},
		{"phone with extension letters", set(ra, "phone", "+33 1 99 00 12 47 ext 3"), []string{ra + ".phone"}},
		{"phone plus inside", set(ra, "phone", "33+1 99 00"), []string{ra + ".phone"}},
		{"phone too few digits", set(ra, "phone", "+3"), []string{ra + ".phone"}},
		{"phone punctuation", set(ra, "phone", "+33 (0)1 99.00-12/47"), nil},
		{"phone missing", set(ra, "phone", nil), []string{ra + ".phone"}},
		{"e-mail without domain dot", set(ra, "email", "pc247@ofac"), []string{ra + ".email"}},
		{"e-mail with display name", set(ra, "email", "Claire Martin <pc247@ofac.example.fr>"), []string{ra + ".email"}},
		{"e-mail with a space", set(ra, "email", "pc 247@ofac.example.fr"), []string{ra + ".email"}},
		{"two e-mails", set(ra, "email", "a@ofac.example.fr, b@ofac.example.fr"), []string{ra + ".email"}},
		{"e-mail missing", set(ra, "email", nil), []string{ra + ".email"}},
		{"reply preference unset", set(ra, "reply_by_expedited_means", nil), nil},
		{"reply preference false", set(ra, "reply_by_expedited_means", false), nil},
		{"organisation missing", set(ra, "organisation", nil), []string{ra + ".organisation"}},
		{"office hours missing", set(ra, "office_hours", nil), []string{ra + ".office_hours"}},
	})
}

// TestTimeZones: time zones are IANA names (T-CY(2018)11 item 5, "time
// zone"; identifiers need "an exact date, time and time zone"), the same
// on every host.
func TestTimeZones(t *testing.T) {
	const tz = "requesting_authority.time_zone"
	cases := []fieldCase{
		{"misspelt", set("requesting_authority", "time_zone", "Europe/Pariss"), []string{tz}},
		{"city only", set("requesting_authority", "time_zone", "Paris"), []string{tz}},
		{"host zone", set("requesting_authority", "time_zone", "Local"), []string{tz}},
		{"empty", set("requesting_authority", "time_zone", ""), []string{tz}},
		{"missing", set("requesting_authority", "time_zone", nil), []string{tz}},
		{"lower case", set("requesting_authority", "time_zone", "europe/paris"), []string{tz}},
		{"host file", set("requesting_authority", "time_zone", "localtime"), []string{tz}},
		{"host tree", set("requesting_authority", "time_zone", "posix/Europe/Paris"), []string{tz}},
		{"path", set("requesting_authority", "time_zone", "../Europe/Paris"), []string{tz}},
		{"offset", set("requesting_authority", "time_zone", "+01:00"), []string{tz}},
		{"UTC", set("requesting_authority", "time_zone", "UTC"), nil},
		{"three parts", set("requesting_authority", "time_zone", "America/Argentina/Buenos_Aires"), nil},
		{"Etc offset zone", set("requesting_authority", "time_zone", "Etc/GMT+5"), nil},
		{"hyphenated", set("requesting_authority", "time_zone", "America/Port-au-Prince"), nil},
		{"confirmation contact zone checked", set("confirmation_contact", "time_zone", "Europe/Berlinn"), []string{"confirmation_contact.time_zone"}},
		{"confirmation contact zone optional", set("confirmation_contact", "time_zone", nil), nil},
		{"identifier zone checked", func(doc map[string]any) { firstIdentifier(doc)["time_zone_given"] = "CET+1" }, []string{"identifiers[0].time_zone_given"}},
	}
	runFieldCases(t, "preservation", cases)
	for _, name := range []string{"Europe/Paris", "UTC", "Asia/Kolkata", "Pacific/Kiritimati"} {
		if !protocol.ValidTimeZone(name) {
			t.Errorf("ValidTimeZone(%q) = false", name)
		}
	}
	for _, name := range []string{"Europe/Pariss", "", "Local", "Europe//Paris", "Europe/Paris/", "Europe/Par is"} {
		if protocol.ValidTimeZone(name) {
			t.Errorf("ValidTimeZone(%q) = true", name)
		}
	}
}

// TestConfirmationContactItem6 checks T-CY(2018)11 item 6, the contact for
// additional confirmation: name, job title, function, telephone, cell
// phone, e-mail.
func TestConfirmationContactItem6(t *testing.T) {
	const cc = "confirmation_contact"
	runFieldCases(t, "preservation", []fieldCase{
		{"job title and function optional", func(doc map[string]any) {
			delete(obj(doc[cc]), "job_title")
			delete(obj(doc[cc]), "function")
		}, nil},
		{"name, phone and e-mail required", func(doc map[string]any) {
			doc[cc] = map[string]any{"job_title": "Lieutenant", "function": "case officer"}
		}, []string{cc + ".email", cc + ".person", cc + ".phone"}},
		{"mobile checked", set(cc, "mobile", "06 39 98 12 2x"), []string{cc + ".mobile"}},
		{"office hours not required", set(cc, "office_hours", nil), nil},
	})
	p := mustPreservation(t, readExampleKind(t, "preservation"))
	if c := p.ConfirmationContact; c.JobTitle == "" || c.Function == "" || c.Mobile == "" {
		t.Fatalf("example confirmation contact lost job title, function or mobile: %+v", c)
	}
}

func mustPreservation(tb testing.TB, doc []byte) *protocol.PreservationRequest {
	tb.Helper()
	req, err := protocol.ParseRequest(doc)
	if err != nil {
		tb.Fatal(err)
	}
	p, ok := req.(*protocol.PreservationRequest)
	if !ok {
		tb.Fatalf("parsed %T", req)
	}
	return p
}

// TestInvestigatingAuthorityItem7 checks T-CY(2018)11 item 7: the
// investigative or operational authority in charge of the case, "if
// different", as a full contact block (organisation, person in charge,
// address, telephone, cell phone, e-mail, fax).
func TestInvestigatingAuthorityItem7(t *testing.T) {
	const ia = "investigating_authority"
	runFieldCases(t, "preservation", []fieldCase{
		{"absent: same as the requesting authority", set("", ia, nil), nil},
		{"null", func(doc map[string]any) { doc[ia] = nil }, nil},
		{"empty block", func(doc map[string]any) { doc[ia] = map[string]any{} }, nil},
		{"organisation only", func(doc map[string]any) { doc[ia] = map[string]any{"organisation": "OFAC"} }, nil},
		{"block without organisation", set(ia, "organisation", nil), []string{ia + ".organisation"}},
		{"bad fax", set(ia, "fax", "none"), []string{ia + ".fax"}},
		{"bad e-mail", set(ia, "email", "section.ofac.example.fr"), []string{ia + ".email"}},
		{"bad phone", set(ia, "phone", "tbd"), []string{ia + ".phone"}},
		{"time zone checked", set(ia, "time_zone", "Nanterre"), []string{ia + ".time_zone"}},
	})
	p := mustPreservation(t, readExampleKind(t, "preservation"))
	if a := p.InvestigatingAuthority; a == nil || a.Person == "" || a.Fax == "" || a.Mobile == "" || a.Address == "" {
		t.Fatalf("example investigating authority is not a full block: %+v", a)
	}
}

// TestOldRequestsStillParse: a request written before item 7 became a
// contact block, with the investigating authority as a string and the
// custodian it then had to name, still parses, validates and keeps what
// it said; re-encoded, it is in the new form and parses to the same.
func TestOldRequestsStillParse(t *testing.T) {
	const name = "Office anti-cybercriminalité (OFAC), Section opérationnelle rançongiciels, Nanterre"
	old := editExample(t, "preservation", func(doc map[string]any) {
		doc["investigating_authority"] = name
		for _, c := range []string{"requesting_authority", "confirmation_contact"} {
			for _, k := range []string{"fax", "job_title", "function", "mobile", "reply_by_expedited_means"} {
				delete(obj(doc[c]), k)
			}
		}
	})
	p := mustPreservation(t, old)
	if p.InvestigatingAuthority == nil || p.InvestigatingAuthority.Organisation != name || p.InvestigatingAuthority.Person != "" {
		t.Fatalf("old investigating authority read as %+v", p.InvestigatingAuthority)
	}
	again, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(again, &raw); err != nil {
		t.Fatal(err)
	}
	if ia, ok := raw["investigating_authority"].(map[string]any); !ok || ia["organisation"] != name {
		t.Fatalf("re-encoded investigating authority: %v", raw["investigating_authority"])
	}
	if q := mustPreservation(t, again); q.InvestigatingAuthority.Organisation != name {
		t.Fatalf("new form read back as %+v", q.InvestigatingAuthority)
	}
	// An old emergency request has no verification contact: it parses, and
	// is returned with the field named, so a receiver stores and flags it.
	oldEmergency := editExample(t, "emergency", set("", "verification_contact", nil))
	req, err := protocol.ParseRequest(oldEmergency)
	if req == nil || !slices.Contains(validationFields(t, err), "verification_contact.person") {
		t.Fatalf("old emergency request: %T, %v", req, err)
	}
}

// TestNewFieldsDecodeErrors: a new field of the wrong JSON type, or a
// field a kind does not have, is refused with the field named and no
// request. The investigating authority also takes its old string form
// (TestOldRequestsStillParse), but no other shape, and refuses unknown
// fields inside its block like every other block.
func TestNewFieldsDecodeErrors(t *testing.T) {
	const ia = "investigating_authority"
	for _, c := range []struct {
		name, kind string
		edit       func(doc map[string]any)
		want       string
	}{
		{"item 7 unknown field", "preservation", set("", ia, map[string]any{"organisation": "OFAC", "telex": "123"}), "telex"},
		{"item 7 number", "preservation", set("", ia, 42), ia},
		{"item 7 array", "preservation", set("", ia, []any{"OFAC"}), ia},
		{"item 7 wrong type inside", "preservation", set("", ia, map[string]any{"organisation": 7}), ia + ".organisation"},
		{"reply preference not a boolean", "preservation", set("requesting_authority", "reply_by_expedited_means", "yes"), "requesting_authority.reply_by_expedited_means"},
		{"formal confirmation not a boolean", "emergency", set("", "formal_confirmation_to_follow", "yes"), "formal_confirmation_to_follow"},
		{"oral request time not a time", "emergency", set("oral_request", "made_at", "this morning"), "(time)"},
		{"emergency has no treaty field (always the Protocol)", "emergency", set("", "treaty", "budapest"), "treaty"},
		{"central authority copy not a boolean", "emergency_mla", set("", "central_authority_copy", "true"), "central_authority_copy"},
		{"emergency MLA has no custodian", "emergency_mla", set("", "custodian", map[string]any{}), "custodian"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := protocol.ParseRequest(editExample(t, c.kind, c.edit))
			if req != nil {
				t.Fatalf("decoded a request: %v", err)
			}
			if got := validationFields(t, err); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("fields %q, want %q (%v)", got, c.want, err)
			}
		})
	}
}

// TestCustodianOptional: Budapest Art. 29(2)(d) asks for "any available
// information identifying the custodian ... or the location of the
// computer system"; when none is available the request is still valid.
func TestCustodianOptional(t *testing.T) {
	runFieldCases(t, "preservation", []fieldCase{
		{"absent", set("", "custodian", nil), nil},
		{"empty", func(doc map[string]any) { doc["custodian"] = map[string]any{} }, nil},
		{"address only", func(doc map[string]any) { doc["custodian"] = map[string]any{"address": "somewhere in Berlin"} }, nil},
		{"location only", func(doc map[string]any) { doc["custodian"] = map[string]any{"system_location": "Frankfurt"} }, nil},
	})
}

// TestHandlingCodes: the Europol SIENA handling codes, with their meanings,
// and H3's restrictions stated in free text.
func TestHandlingCodes(t *testing.T) {
	meanings := map[string]string{
		"H0": "preventing and combating crime",
		"H1": "judicial proceedings without the permission of the provider",
		"H2": "disseminated without the permission of the provider",
		"H3": "other restrictions",
	}
	if len(protocol.HandlingCodes) != len(meanings) {
		t.Fatalf("handling codes %v", protocol.HandlingCodes)
	}
	for code, m := range meanings {
		if !strings.Contains(protocol.HandlingCodes[code], m) {
			t.Errorf("%s means %q, want SIENA's %q", code, protocol.HandlingCodes[code], m)
		}
	}
	const hc, hr = "safeguards.handling_code", "safeguards.handling_restrictions"
	runFieldCases(t, "preservation", []fieldCase{
		{"H0", set("safeguards", "handling_code", "H0"), nil},
		{"H1", set("safeguards", "handling_code", "H1"), nil},
		{"H3 without restrictions", set("safeguards", "handling_code", "H3"), []string{hr}},
		{"H3 with blank restrictions", func(doc map[string]any) {
			set("safeguards", "handling_code", "H3")(doc)
			set("safeguards", "handling_restrictions", "  ")(doc)
		}, []string{hr}},
		{"H3 with restrictions", func(doc map[string]any) {
			set("safeguards", "handling_code", "H3")(doc)
			set("safeguards", "handling_restrictions", "To be erased once the MLA request is decided.")(doc)
		}, nil},
		{"H2 with further restrictions", set("safeguards", "handling_restrictions", "Not to be transferred to a third State."), nil},
		{"unknown code", set("safeguards", "handling_code", "H4"), []string{hc}},
		{"missing code", set("safeguards", "handling_code", nil), []string{hc}},
	})
}

// TestPreservationPeriod: Budapest Art. 29(7) (UN Art. 42(7)) sets "not
// less than sixty days" and no maximum; MaxPreservationDays only bounds a
// typo.
func TestPreservationPeriod(t *testing.T) {
	const pd = "preservation_period_days"
	runFieldCases(t, "preservation", []fieldCase{
		{"59 days", set("", pd, 59), []string{pd}},
		{"60 days", set("", pd, protocol.MinPreservationDays), nil},
		{"120 days", set("", pd, 120), nil},
		{"366 days, over the old cap", set("", pd, 366), nil},
		{"technical bound", set("", pd, protocol.MaxPreservationDays), nil},
		{"over the technical bound", set("", pd, protocol.MaxPreservationDays+1), []string{pd}},
		{"absent", set("", pd, nil), []string{pd}},
	})
}

// TestTreatyField: preservation is made under Budapest Art. 29 or UN
// Art. 42, an assistance query under Budapest Art. 35 or UN Art. 41; the
// Second Protocol is not a basis for either.
func TestTreatyField(t *testing.T) {
	rows := []fieldCase{
		{"empty: the node chooses", set("", "treaty", ""), nil},
		{"budapest", set("", "treaty", "budapest"), nil},
		{"un", set("", "treaty", "un"), nil},
		{"second protocol", set("", "treaty", "second_protocol"), []string{"treaty"}},
		{"unknown", set("", "treaty", "ecowas"), []string{"treaty"}},
		{"capitalised", set("", "treaty", "Budapest"), []string{"treaty"}},
	}
	for _, kind := range []string{"preservation", "assistance"} {
		t.Run(kind, func(t *testing.T) { runFieldCases(t, kind, rows) })
	}
}

// TestAssistanceTopics: Budapest Art. 35(1) lists (a) technical advice and
// (c) "the collection of evidence, the provision of legal information, and
// locating of suspects".
func TestAssistanceTopics(t *testing.T) {
	runFieldCases(t, "assistance", []fieldCase{
		{"collection of evidence", set("", "topic", "collection_of_evidence"), nil},
		{"technical advice", set("", "topic", "technical_advice"), nil},
		{"suspect location", set("", "topic", "suspect_location"), nil},
		{"unknown", set("", "topic", "production_order"), []string{"topic"}},
		{"requester phone checked", set("requesting_authority", "phone", "n/a"), []string{"requesting_authority.phone"}},
	})
	if _, ok := protocol.AssistanceTopics["collection_of_evidence"]; !ok {
		t.Fatal("collection_of_evidence is not a topic")
	}
}

// TestRequesterAndVerificationContact: every kind names its requester, and
// the emergency kinds their verification contact, for the receiving side.
func TestRequesterAndVerificationContact(t *testing.T) {
	for _, c := range []struct {
		kind, requester, verifier string
	}{
		{"preservation", "Capitaine Claire Martin, 24/7 point of contact", ""},
		{"emergency", "Capitaine Claire Martin", "Commandant Marc Lefèvre"},
		{"emergency_mla", "Capitaine Claire Martin", "Commandant Marc Lefèvre"},
		{"assistance", "Lieutenant Paul Durand", ""},
	} {
		req, err := protocol.ParseRequest(readExampleKind(t, c.kind))
		if err != nil {
			t.Fatal(err)
		}
		if got := protocol.RequesterContact(req); got.Person != c.requester || got.TimeZone != "Europe/Paris" {
			t.Errorf("%s requester %+v", c.kind, got)
		}
		v, ok := protocol.VerificationContact(req)
		if ok != (c.verifier != "") || v.Person != c.verifier {
			t.Errorf("%s verification contact %+v, %v", c.kind, v, ok)
		}
	}
}
