package protocol_test

import (
	"testing"

	"github.com/vigil-network/vigil/protocol"
)

// verificationCases apply to both emergency kinds: the official who can
// confirm the request is genuine, whom the receiving point calls back
// before it acts (Protocol Arts. 9(4) and 10(2): "appropriate levels of
// security and authentication").
func verificationCases(requester string) []fieldCase {
	const vc = "verification_contact"
	return []fieldCase{
		{"verification contact missing", set("", vc, nil),
			[]string{vc + ".email", vc + ".job_title", vc + ".person", vc + ".phone"}},
		{"verification contact without job title", set(vc, "job_title", " "), []string{vc + ".job_title"}},
		{"verification contact bad phone", set(vc, "phone", "ask the desk"), []string{vc + ".phone"}},
		{"verification contact bad e-mail", set(vc, "email", "marc.lefevre"), []string{vc + ".email"}},
		{"verification contact is the requester", func(doc map[string]any) {
			set(vc, "person", obj(doc[requester])["person"])(doc)
		}, []string{vc + ".person"}},
		{"verification contact is the requester, spelt otherwise", func(doc map[string]any) {
			set(vc, "person", "  capitaine  CLAIRE martin ")(doc)
		}, []string{vc + ".person"}},
		{"verification contact mobile optional", set(vc, "mobile", nil), nil},
	}
}

// oralRequestCases: Protocol Art. 9(4), "a Party may also accept a
// request transmitted orally and may require confirmation in electronic
// form"; the electronic request then says when, by whom and to whom.
func oralRequestCases() []fieldCase {
	const or = "oral_request"
	return []fieldCase{
		{"oral request", set("", or, map[string]any{"made_at": "2026-11-27T02:35:00Z", "made_to": "BKA duty officer", "made_by": "Capitaine Claire Martin"}), nil},
		{"oral request incomplete", set("", or, map[string]any{}), []string{or + ".made_at", or + ".made_by", or + ".made_to"}},
		{"oral request not in UTC", set("", or, map[string]any{"made_at": "2026-11-27T03:35:00+01:00", "made_to": "x", "made_by": "y"}), []string{or + ".made_at"}},
		{"oral request after the request's date", set("", or, map[string]any{"made_at": "2026-11-29T00:00:00Z", "made_to": "x", "made_by": "y"}), []string{or + ".made_at"}},
		{"oral request late on the date, UTC-12", set("", or, map[string]any{"made_at": "2026-11-28T11:59:00Z", "made_to": "x", "made_by": "y"}), nil},
		{"formal confirmation to follow (Budapest Art. 25(3))", set("", "formal_confirmation_to_follow", true), nil},
	}
}

// TestEmergencyRequestArt9 checks the emergency disclosure request of
// Second Additional Protocol Art. 9.
func TestEmergencyRequestArt9(t *testing.T) {
	rows := append(verificationCases("competent_authority"), oralRequestCases()...)
	rows = append(rows,
		// Art. 9(1)(b): whether only subscriber information is sought.
		fieldCase{"subscriber information only", set("", "subscriber_information_only", true), nil},
		// Data categories, as for preservation, optional here.
		fieldCase{"data categories optional", set("", "data_categories", nil), nil},
		fieldCase{"data category unknown", set("", "data_categories", []any{"subscriber", "location"}), []string{"data_categories[1]"}},
		// Art. 9(3)(c): the provider's name and address.
		fieldCase{"provider address missing", set("provider", "address", nil), []string{"provider.address"}},
		// Art. 9(3)(d): offences with provisions and penalties.
		fieldCase{"penalty missing", func(doc map[string]any) { delete(obj(doc["offences"].([]any)[0]), "maximum_penalty") }, []string{"offences[0].maximum_penalty"}},
		fieldCase{"competent authority zone misspelt", set("competent_authority", "time_zone", "Europe/Pariss"), []string{"competent_authority.time_zone"}},
		fieldCase{"competent authority fax", set("competent_authority", "fax", "+33 1 00 00 00 99"), nil},
	)
	runFieldCases(t, "emergency", rows)
}

// TestEmergencyMLARequestArt10 checks the emergency mutual assistance
// request of Second Additional Protocol Art. 10, sent through the 24/7
// point of a Party that declared so under Art. 10(9).
func TestEmergencyMLARequestArt10(t *testing.T) {
	rows := append(verificationCases("requesting_authority"), oralRequestCases()...)
	rows = append(rows,
		// Art. 10(9): a copy goes at the same time to the requested Party's
		// central authority through the requesting Party's.
		fieldCase{"central authority copy not affirmed", set("", "central_authority_copy", false), []string{"central_authority_copy"}},
		fieldCase{"central authority copy absent", set("", "central_authority_copy", nil), []string{"central_authority_copy"}},
		fieldCase{"central authority missing", set("", "central_authority", nil),
			[]string{"central_authority.email", "central_authority.organisation", "central_authority.phone"}},
		fieldCase{"central authority person optional", set("central_authority", "person", nil), nil},
		// Art. 10(1): the facts that demonstrate the emergency and how the
		// assistance sought relates to it.
		fieldCase{"emergency facts missing", set("", "emergency_facts", ""), []string{"emergency_facts"}},
		fieldCase{"relationship missing", set("", "assistance_relationship", nil), []string{"assistance_relationship"}},
		fieldCase{"assistance sought missing", set("", "assistance_sought", nil), []string{"assistance_sought"}},
		fieldCase{"no offence", set("", "offences", []any{}), []string{"offences"}},
		fieldCase{"identifiers optional", set("", "identifiers", nil), nil},
		fieldCase{"identifier checked", func(doc map[string]any) { firstIdentifier(doc)["from"] = "2026-11-27T08:00:00+01:00" }, []string{"identifiers[0].from"}},
		fieldCase{"oral request optional", set("", "oral_request", nil), nil},
		fieldCase{"prosecutor without name", set("prosecutor_or_court", "name", nil), []string{"prosecutor_or_court.name"}},
		fieldCase{"H3 restrictions required", set("safeguards", "handling_restrictions", nil), []string{"safeguards.handling_restrictions"}},
	)
	runFieldCases(t, "emergency_mla", rows)

	req, err := protocol.ParseRequest(readExampleKind(t, "emergency_mla"))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := req.(*protocol.EmergencyMLARequest)
	if !ok || e.RequestKind() != protocol.KindEmergencyMLA || e.Recipient() != "DE" {
		t.Fatalf("parsed %T %+v", req, req)
	}
	if !e.CentralAuthorityCopy || e.OralRequest == nil || e.OralRequest.MadeAt.IsZero() || e.CentralAuthority.Organisation == "" {
		t.Fatalf("example lost its Art. 10 fields: %+v", e)
	}
}
