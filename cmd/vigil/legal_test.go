package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// TestLegalCaseShow: 'vigil case show' prints the legal side of a case as
// the node derived it from the signed roster, and 'vigil act' explains a
// ground the treaty basis does not allow. FR is Party to the Budapest and
// UN Conventions; DE to Budapest with an Art. 29(4) reservation; NL to the
// UN Convention only. The grounds differ as the law says (issue 11, row 4).
func TestLegalCaseShow(t *testing.T) {
	party := func(t protocol.Treaty, from string) protocol.Party { return protocol.Party{Treaty: t, From: from} }
	m := startTestnetInit(t, testnet.InitOptions{Nodes: 3, TreatyBases: map[string]testnet.TreatyBasis{
		"FR": {Treaties: []protocol.Party{party(protocol.TreatyBudapest, "2006-05-01"), party(protocol.TreatyUN, "2026-06-01")}},
		"DE": {Treaties: []protocol.Party{party(protocol.TreatyBudapest, "2009-07-01")},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2009-07-01"}},
			Preservation: protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}},
		"NL": {Treaties: []protocol.Party{party(protocol.TreatyUN, "2026-06-01")}},
	}})
	fr, de, nl := cliNode(m.Nodes[0]), cliNode(m.Nodes[1]), cliNode(m.Nodes[2])
	t.Setenv("VIGIL_OPERATOR", "A. Weber")

	// send has FR send the example preservation request to one member and
	// waits until that member holds it.
	send := func(t *testing.T, to cliNode) string {
		t.Helper()
		out, err := fr.run(t, "", "request", "send", "--file", "../../configs/examples/preservation.json", "--to", to.Country)
		mustContain(t, "request send", out, err, "case:")
		id := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "case:", 2)[1], "\n", 2)[0])
		deadline := time.Now().Add(30 * time.Second)
		for apiCall(t, testnet.NodeEntry(to), "GET", "/api/v1/cases/"+id, nil, nil) != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("case %s did not reach %s", id, to.Country)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return id
	}

	t.Run("Budapest with DE's Art. 29(4) reservation", func(t *testing.T) {
		id := send(t, de)
		out, err := de.run(t, "", "case", "show", id)
		mustContain(t, "case show on DE", out, err,
			"treaty basis:   Convention on Cybercrime (Budapest, ETS 185), judged on ",
			"reservations:   requested state's budapest_29_4 (reservation, Budapest Art. 29(4)",
			"traffic data:   asked for (Budapest Art. 30)",
			"requested state's maximum 180 days in all",
			"pending:        nothing",
			"next actions (responder):",
			"  refuse — refusal on a ground the treaty basis allows, with reasons — Budapest Arts. 27(4), 29(4)-(5)",
			"        political_offence — the offence is a political offence or connected with one — Budapest Art. 29(5)(a)\n",
			"        essential_interests — execution is likely to prejudice sovereignty, security, ordre public or other essential interests — Budapest Art. 29(5)(b)\n",
			"        dual_criminality — dual criminality cannot be fulfilled at the time of disclosure (reservation in force; reasons to believe stated) — Budapest Art. 29(4)\n",
			"  confirm_preservation — ", "      period_days: 60 to 180\n")
		if strings.Contains(out, "persecution") || strings.Contains(out, "other —") {
			t.Fatalf("DE is offered a ground Art. 29(5) does not allow:\n%s", out)
		}
		// The requester sees the same basis, and no refusal.
		out, err = fr.run(t, "", "case", "show", id)
		mustContain(t, "case show on FR", out, err, "treaty basis:   Convention on Cybercrime (Budapest, ETS 185)",
			"reservations:   requested state's budapest_29_4", "next actions (requester):", "  withdraw — ")
		if strings.Contains(out, "  refuse — ") || strings.Contains(out, "political_offence") {
			t.Fatalf("FR (requester) is offered a refusal:\n%s", out)
		}

		// --json is the API's answer, legal view included, unchanged.
		out, err = de.run(t, "", "case", "show", id, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var cli, api struct {
			Legal json.RawMessage `json:"legal"`
		}
		var raw json.RawMessage
		apiCall(t, testnet.NodeEntry(de), "GET", "/api/v1/cases/"+id, nil, &raw)
		if json.Unmarshal([]byte(out), &cli) != nil || json.Unmarshal(raw, &api) != nil || len(cli.Legal) == 0 {
			t.Fatalf("case show --json has no legal view:\n%s", out)
		}
		var a, b bytes.Buffer
		json.Compact(&a, cli.Legal)
		json.Compact(&b, api.Legal)
		if a.String() != b.String() {
			t.Fatalf("legal view differs from the API's:\nCLI %s\nAPI %s", a.String(), b.String())
		}

		// A ground Art. 29(5) does not allow: the API's 422, then the
		// grounds the case allows.
		_, err = de.run(t, "", "act", id, "refuse", "ground=other", "reasons=not wanted")
		mustFail(t, "refuse on other", err, "action not taken: action is invalid\n  ground: is not available here",
			"\ngrounds for refuse on this case (Convention on Cybercrime (Budapest, ETS 185)):\n  political_offence — ",
			"\n  dual_criminality — dual criminality cannot be fulfilled")
		// Art. 29(4): reasons to believe, as a boolean field.
		_, err = de.run(t, "", "act", id, "refuse", "ground=dual_criminality", "reasons=not an offence in Germany")
		mustFail(t, "refuse on dual criminality without reasons to believe", err,
			"  reasons_to_believe: must be true: refusal on dual criminality needs reasons to believe")
		out, err = de.run(t, "", "act", id, "refuse", "ground=dual_criminality", "reasons_to_believe=true", "reasons=not an offence in Germany")
		mustContain(t, "refuse on dual criminality", out, err, "refuse recorded; case is now refused")
	})

	t.Run("UN Convention only", func(t *testing.T) {
		id := send(t, nl)
		out, err := nl.run(t, "", "case", "show", id)
		mustContain(t, "case show on NL", out, err, "treaty basis:   UN Convention against Cybercrime, judged on ",
			"reservations:   none apply to this request",
			"traffic data:   asked for (UN Art. 43)", "at least 60 days from the actual start (UN Art. 42(7))",
			"        persecution — substantial grounds to believe the request aims at persecution", "UN Art. 40(22)\n",
			"        essential_interests — ", "UN Art. 40(21)(b)\n")
		if strings.Contains(out, "political_offence") || strings.Contains(out, "dual_criminality") {
			t.Fatalf("NL is offered a ground the UN Convention does not give it:\n%s", out)
		}
		_, err = nl.run(t, "", "act", id, "refuse", "ground=political_offence", "reasons=political")
		mustFail(t, "refuse on political_offence under the UN Convention", err, "ground: is not available here",
			"grounds for refuse on this case (UN Convention against Cybercrime):\n  essential_interests — ")
	})

	t.Run("the preservation facts and expiry in both zones", func(t *testing.T) {
		id := send(t, de)
		var v types.CaseView
		apiCall(t, testnet.NodeEntry(de), "GET", "/api/v1/cases/"+id, nil, &v)
		start := v.Legal.Terms.LocalDay(v.Legal.Terms.RequestedAt).Format(time.DateOnly)
		_, err := de.run(t, "", "act", id, "request_info", "text=Which time zone are the logs in?")
		if err != nil {
			t.Fatal(err)
		}
		out, err := de.run(t, "", "act", id, "confirm_preservation", "executing_authority=BKA SO 41",
			"domestic_legal_basis=StPO § 100g", "start_date="+start)
		mustContain(t, "confirm_preservation with the regime's period", out, err, "case is now preserved")
		out, err = de.run(t, "", "case", "show", id)
		mustContain(t, "case show after confirmation", out, err,
			"pending:        preserved since "+start+" (Europe/Berlin)",
			"information asked of the requester, not yet provided",
			"expires:        ", " 00:00 ", "(Europe/Berlin) = ", "(Europe/Paris)")
		_, err = de.run(t, "", "act", id, "release", "text=done")
		mustFail(t, "release before the period ends", err, "action not taken: cannot release a case that is preserved: the preservation period runs until")

		// Budapest Art. 29(7): the hold starts on receipt of the MLA
		// request; Protocol Art. 14(5): it is reviewed.
		review := v.Legal.Terms.LocalDay(v.Legal.Terms.RequestedAt).AddDate(0, 0, 30).Format(time.DateOnly)
		out, err = de.run(t, "", "act", id, "mla_received", "mla_reference=MLA/FR-DE/2026/77", "review_by="+review)
		mustContain(t, "mla_received", out, err, "case is now mla_pending")
		out, err = de.run(t, "", "case", "show", id)
		mustContain(t, "case show during the hold", out, err,
			"MLA hold: the data stay preserved pending the decision on the MLA request (Budapest Art. 29(7)); next review "+review+" (Europe/Berlin) (Protocol Art. 14(5))",
			"; does not run while the MLA hold lasts\n", "  mla_decided — ", "  review_hold — ")
		if strings.Contains(out, "  release — ") {
			t.Fatalf("release offered during the MLA hold:\n%s", out)
		}
	})
}

// TestLegalPendingFacts: what a case waits for is shown with its article,
// and a case the two states share no treaty for says why.
func TestLegalPendingFacts(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	berlinDay := func(d string) time.Time {
		loc, _ := time.LoadLocation("Europe/Berlin")
		v, _ := time.ParseInLocation(time.DateOnly, d, loc)
		return v
	}
	budapest := protocol.Terms{Kind: protocol.KindPreservation, Treaty: protocol.TreatyBudapest, RequestedAt: at, RosterSerial: 4,
		ResponderZone: "Europe/Berlin", Traffic: true}
	emergency := protocol.Terms{Kind: protocol.KindEmergency, Treaty: protocol.TreatySecondProtocol, RequestedAt: at,
		ResponderZone: "Europe/Berlin", Confirmation: protocol.DeclarationResubmission, ConfirmationText: "by e-mail to mla@example.de",
		SubscriberOnlyDeclared: true}
	cases := []struct {
		name  string
		terms protocol.Terms
		facts protocol.LegalFacts
		hold  bool
		want  []string
	}{
		{"insufficiency notice (Budapest Art. 29(6))", budapest, protocol.LegalFacts{DecisionDueAt: at.Add(72 * time.Hour)}, false,
			[]string{"requester's decision to proceed or withdraw due 2026-03-04 09:30 UTC (Budapest Art. 29(6))"}},
		{"postponement (Budapest Art. 27(5))", budapest, protocol.LegalFacts{PostponedUntil: berlinDay("2026-03-15")}, false,
			[]string{"postponed until 2026-03-15 (Europe/Berlin) (Budapest Art. 27(5))"}},
		{"MLA request said to be sent, not yet received (Budapest Art. 29(7))", budapest, protocol.LegalFacts{MLASubmitted: true}, false,
			[]string{"the requester says its MLA request was sent; the hold starts when the requested side records its receipt (Budapest Art. 29(7))"}},
		{"hold without a review date", budapest, protocol.LegalFacts{}, true,
			[]string{"MLA hold: the data stay preserved pending the decision on the MLA request (Budapest Art. 29(7))\n"}},
		{"UN Convention: its own articles (UN Art. 42(3))", protocol.Terms{Kind: protocol.KindPreservation, Treaty: protocol.TreatyUN, ResponderZone: "UTC"},
			protocol.LegalFacts{InfoPending: true}, false,
			[]string{"treaty basis:   UN Convention against Cybercrime\n", "not held up: UN Art. 42(3))", "not asked for (no disclosure or withholding under UN Art. 43)"}},
		{"emergency: declarations, explanation and resubmission due (Protocol Arts. 9(1)(b), 9(5), 9(7)(b))", emergency,
			protocol.LegalFacts{ExplanationDue: true}, false,
			[]string{"treaty basis:   Second Additional Protocol (CETS 224), judged on 2026-03-01 (UTC)",
				"reservations:   requested state's protocol_9_1_b (declaration, Protocol Art. 9(1)(b)",
				"\n                  requested state's protocol_9_5 (declaration, Protocol Art. 9(5): request to be submitted again after execution): by e-mail to mla@example.de",
				"explanation of the use made of the data due from the requester (Protocol Art. 9(7)(b))",
				"formal confirmation due from the requester (Budapest Art. 25(3), Protocol Art. 9(5))"}},
		{"confirmation sent", emergency, protocol.LegalFacts{ConfirmationSent: true}, false,
			[]string{"pending:        formal confirmation sent"}},
		{"no treaty basis", protocol.Terms{Kind: protocol.KindEmergency, Problem: "FR and DE are not both Parties to the Second Additional Protocol on 2026-03-01"},
			protocol.LegalFacts{}, false,
			[]string{"treaty basis:   NONE: FR and DE are not both Parties to the Second Additional Protocol on 2026-03-01\n",
				"only be taken up, asked about, withdrawn or refused on that ground", "pending:        nothing"}},
		{"case stored before terms were kept", protocol.LegacyTerms(protocol.KindPreservation), protocol.LegalFacts{}, false,
			[]string{"(assumed: the case was stored before treaty bases were kept)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printLegal(&b, &types.CaseView{CaseSummary: types.CaseSummary{Hold: tc.hold},
				Legal: &types.LegalView{Terms: tc.terms, Facts: tc.facts}})
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Fatalf("output does not contain %q:\n%s", w, b.String())
				}
			}
		})
	}
}
