package node_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// treatyBases are four members with different treaty bases, as the signed
// roster carries them (docs/legal-model.md, section 1):
//   - FR: Budapest Convention, Second Protocol and UN Convention;
//   - DE: Budapest only, with a Budapest Art. 29(4) reservation in force and
//     a domestic regime of 90 days, at most 180 in all;
//   - NL: the UN Convention only;
//   - IT: Budapest and the Second Protocol; its Art. 29(4) reservation was
//     withdrawn in 2020.
//
// countries picks the members of a smaller testnet; none: all four.
func treatyBases(countries ...string) map[string]testnet.TreatyBasis {
	party := func(t protocol.Treaty, from string) protocol.Party { return protocol.Party{Treaty: t, From: from} }
	all := map[string]testnet.TreatyBasis{
		"FR": {Treaties: []protocol.Party{party(protocol.TreatyBudapest, "2006-05-01"),
			party(protocol.TreatySecondProtocol, "2024-01-01"), party(protocol.TreatyUN, "2026-06-01")}},
		"DE": {Treaties: []protocol.Party{party(protocol.TreatyBudapest, "2009-07-01")},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2009-07-01"}},
			Preservation: protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}},
		"NL": {Treaties: []protocol.Party{party(protocol.TreatyUN, "2026-06-01")}},
		"IT": {Treaties: []protocol.Party{party(protocol.TreatyBudapest, "2008-10-01"), party(protocol.TreatySecondProtocol, "2024-01-01")},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2008-10-01", Until: "2020-01-01"}}},
	}
	if len(countries) == 0 {
		return all
	}
	out := map[string]testnet.TreatyBasis{}
	for _, cc := range countries {
		out[cc] = all[cc]
	}
	return out
}

// on is the federation with t as its test, so that helpers failing inside
// a subtest fail that subtest.
func (f *federation) on(t *testing.T) *federation {
	g := *f
	g.t = t
	return &g
}

// submitDoc sends the example request of file from one member to another,
// changed by edit, and returns the HTTP status with the submission or the
// error body.
func (f *federation) submitDoc(from, to, file string, edit func(m map[string]any)) (int, types.Submission, types.ErrorBody) {
	f.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(exampleFile(f.t, file), &m); err != nil {
		f.t.Fatal(err)
	}
	m["to"] = to
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	var raw json.RawMessage
	code := f.api(from, "POST", "/api/v1/requests", b, &raw)
	var sub types.Submission
	var eb types.ErrorBody
	if code == http.StatusCreated {
		json.Unmarshal(raw, &sub)
	} else {
		json.Unmarshal(raw, &eb)
	}
	return code, sub, eb
}

// mustSubmit is submitDoc that must succeed and reach the recipient.
func (f *federation) mustSubmit(from, to, file string, edit func(m map[string]any)) string {
	f.t.Helper()
	code, sub, eb := f.submitDoc(from, to, file, edit)
	if code != http.StatusCreated {
		f.t.Fatalf("submit %s %s→%s: HTTP %d %+v", file, from, to, code, eb)
	}
	f.waitState(sub.CaseID, "open", to)
	return sub.CaseID
}

// actBody takes an action and returns the status with the error body.
func (f *federation) actBody(cc, caseID string, action map[string]any) (int, types.ErrorBody) {
	f.t.Helper()
	b, _ := json.Marshal(action)
	var raw json.RawMessage
	code := f.api(cc, "POST", "/api/v1/cases/"+caseID+"/actions", b, &raw)
	var eb types.ErrorBody
	if code != http.StatusCreated {
		json.Unmarshal(raw, &eb)
	}
	return code, eb
}

func (f *federation) legal(cc, caseID string) types.CaseView {
	f.t.Helper()
	v, code := f.caseView(cc, caseID)
	if code != http.StatusOK || v.Legal == nil {
		f.t.Fatalf("%s case %s: HTTP %d, legal view %v", cc, caseID, code, v.Legal)
	}
	return v
}

// sameTerms fails unless both sides of a case derived the same terms from
// the signed roster (docs/legal-model.md, section 2) and returns them.
func (f *federation) sameTerms(caseID, a, b string) protocol.Terms {
	f.t.Helper()
	va, vb := f.legal(a, caseID), f.legal(b, caseID)
	ja, _ := json.Marshal(va.Legal.Terms)
	jb, _ := json.Marshal(vb.Legal.Terms)
	if string(ja) != string(jb) {
		f.t.Fatalf("terms differ:\n%s %s\n%s %s", a, ja, b, jb)
	}
	return va.Legal.Terms
}

func exampleFile(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile("../configs/examples/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func groundKeys(gs []protocol.Ground) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Key)
	}
	return out
}

func fieldNamed(eb types.ErrorBody, field string) (protocol.FieldError, bool) {
	for _, fe := range eb.Fields {
		if fe.Field == field {
			return fe, true
		}
	}
	return protocol.FieldError{}, false
}

// withArticles names the treaty articles establishing the offence.
func withArticles(arts ...int) func(m map[string]any) {
	return func(m map[string]any) { m["offence"].(map[string]any)["convention_articles"] = arts }
}

// TestTreatyBasisGrounds: the grounds the requested side may refuse on
// depend on the two states' common treaty basis, the kind of request and
// the reservations in force (issue 11, rows 1, 3 and 4), the same on both
// nodes.
func TestTreatyBasisGrounds(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationInit(t, testnet.InitOptions{Nodes: 4, TreatyBases: treatyBases()}, nil)
	type try struct {
		ground           string
		reasonsToBelieve bool
		code             int
		field            string // the field a 422 names
	}
	cases := []struct {
		name, article string
		to            string
		edit          func(map[string]any)
		treaty        protocol.Treaty
		dualCrim      bool
		grounds       []string
		tries         []try // the last one succeeds
	}{
		{
			name: "DE's reservation in force, offence naming no convention article", to: "DE",
			article: "Budapest Art. 29(4)-(5): political offence, essential interests; dual criminality only with the reservation and reasons to believe",
			treaty:  protocol.TreatyBudapest, dualCrim: true,
			grounds: []string{"political_offence", "essential_interests", "dual_criminality"},
			tries: []try{
				{"dual_criminality", false, http.StatusUnprocessableEntity, "reasons_to_believe"}, // Art. 29(4): "reasons to believe"
				{"other", false, http.StatusUnprocessableEntity, "ground"},                        // Art. 29(5): "may only be refused if"
				{"dual_criminality", true, http.StatusCreated, ""},
			},
		},
		{
			name: "DE's reservation in force, illegal access (Art. 2)", to: "DE", edit: withArticles(2),
			article: "Budapest Art. 29(4): never for the offences of Arts. 2-11",
			treaty:  protocol.TreatyBudapest,
			grounds: []string{"political_offence", "essential_interests"},
			tries: []try{
				{"dual_criminality", true, http.StatusUnprocessableEntity, "ground"},
				{"other", false, http.StatusUnprocessableEntity, "ground"}, // Art. 29(5)
				{"political_offence", false, http.StatusCreated, ""},
			},
		},
		{
			name: "IT's reservation withdrawn before the request", to: "IT",
			article: "Budapest Art. 29(4): a reservation applies only while in force (withdrawal under Art. 43(1))",
			treaty:  protocol.TreatyBudapest,
			grounds: []string{"political_offence", "essential_interests"},
			tries: []try{
				{"dual_criminality", true, http.StatusUnprocessableEntity, "ground"},
				{"essential_interests", false, http.StatusCreated, ""},
			},
		},
		{
			name: "NL Party to the UN Convention only", to: "NL",
			article: "UN Arts. 40(21)-(22), 42(5): the UN grounds, no political offence exception (issue 11, row 4)",
			treaty:  protocol.TreatyUN,
			grounds: []string{"essential_interests", "not_in_conformity", "domestic_prohibition", "contrary_to_legal_system", "persecution"},
			tries: []try{
				{"political_offence", false, http.StatusUnprocessableEntity, "ground"},
				{"other", false, http.StatusUnprocessableEntity, "ground"},
				{"dual_criminality", true, http.StatusUnprocessableEntity, "ground"}, // UN Art. 42(4): NL made no reservation
				{"persecution", false, http.StatusCreated, ""},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(tc.article)
			f := f.on(t)
			id := f.mustSubmit("FR", tc.to, "preservation.json", tc.edit)
			terms := f.sameTerms(id, "FR", tc.to)
			if terms.Treaty != tc.treaty || terms.DualCriminality != tc.dualCrim || terms.Problem != "" {
				t.Fatalf("terms: treaty %q dual criminality %v problem %q, want %q %v", terms.Treaty, terms.DualCriminality, terms.Problem, tc.treaty, tc.dualCrim)
			}
			resp := f.legal(tc.to, id)
			if !slices.Contains(resp.Available, "refuse") {
				t.Fatalf("%s cannot refuse: %v", tc.to, resp.Available)
			}
			if got := groundKeys(resp.Legal.Actions["refuse"].Grounds); !slices.Equal(got, tc.grounds) {
				t.Fatalf("%s's refusal grounds %v, want %v", tc.to, got, tc.grounds)
			}
			for _, g := range resp.Legal.Actions["refuse"].Grounds {
				if g.Text == "" || g.Article == "" {
					t.Fatalf("ground without text or article: %+v", g)
				}
			}
			// The requester sees the same terms and may not refuse.
			req := f.legal("FR", id)
			if _, ok := req.Legal.Actions["refuse"]; ok || slices.Contains(req.Available, "refuse") {
				t.Fatalf("FR (requester) is offered refuse: %v", req.Available)
			}
			for i, tr := range tc.tries {
				a := op("refuse", "ground", tr.ground, "reasons", "Reasons stated for "+tr.ground)
				if tr.reasonsToBelieve {
					a["reasons_to_believe"] = true
				}
				code, eb := f.actBody(tc.to, id, a)
				if code != tr.code {
					t.Fatalf("try %d: refuse on %s: HTTP %d %+v, want %d", i, tr.ground, code, eb, tr.code)
				}
				if tr.field != "" {
					if fe, ok := fieldNamed(eb, tr.field); !ok || fe.Message == "" {
						t.Fatalf("try %d: refuse on %s: 422 names %+v, want %s", i, tr.ground, eb.Fields, tr.field)
					}
				}
			}
			f.waitState(id, "refused", "FR", tc.to)
			fr := f.legal("FR", id)
			var a protocol.Action
			json.Unmarshal(fr.History[len(fr.History)-1].Details, &a)
			if last := tc.tries[len(tc.tries)-1]; a.Ground != last.ground {
				t.Fatalf("FR sees ground %q, want %q", a.Ground, last.ground)
			}
		})
	}
}

// TestTreatyBasisEmergency: emergency disclosure binds Parties to the
// Second Additional Protocol only (Protocol Art. 9); the requester's node
// refuses to send a request the two states share no basis for, naming the
// problem.
func TestTreatyBasisEmergency(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	// protocol.KindEmergencyMLA (Protocol Art. 10) has no request document
	// yet, so emergency mutual assistance cannot be sent and is not tested
	// here.
	f := newFederationInit(t, testnet.InitOptions{Nodes: 4, TreatyBases: treatyBases()}, nil)
	cases := []struct {
		name, to, article string
		refused           bool
	}{
		{"DE is not Party to the Protocol", "DE", "Protocol Art. 9(1): a request from one Party to another", true},
		{"NL is Party to the UN Convention only", "NL", "Protocol Art. 9 binds Parties to the Protocol only; NL is not one", true},
		{"FR and IT are both Parties", "IT", "Protocol Art. 9(1)-(6)", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(tc.article)
			f := f.on(t)
			code, sub, eb := f.submitDoc("FR", tc.to, "emergency.json", nil)
			if tc.refused {
				fe, ok := fieldNamed(eb, "to")
				if code != http.StatusUnprocessableEntity || !ok || !strings.Contains(fe.Message, "no treaty basis") ||
					!strings.Contains(fe.Message, "Second Additional Protocol") || !strings.Contains(fe.Message, tc.to) {
					t.Fatalf("emergency FR→%s: HTTP %d %+v, want 422 naming the missing Protocol", tc.to, code, eb)
				}
				return
			}
			if code != http.StatusCreated {
				t.Fatalf("emergency FR→%s: HTTP %d %+v", tc.to, code, eb)
			}
			f.waitState(sub.CaseID, "open", tc.to)
			if terms := f.sameTerms(sub.CaseID, "FR", tc.to); terms.Treaty != protocol.TreatySecondProtocol {
				t.Fatalf("emergency runs under %q, want the Second Protocol", terms.Treaty)
			}
			v := f.legal(tc.to, sub.CaseID)
			// Protocol Arts. 3(2)(c), 9(1), 9(6): the grounds the Protocol names.
			want := []string{"not_an_emergency", "not_held_in_territory", "emergency_determination"}
			if got := groundKeys(v.Legal.Actions["determine"].Grounds); !slices.Equal(got, want) {
				t.Fatalf("determine grounds %v, want %v", got, want)
			}
			if got := groundKeys(v.Legal.Actions["refuse"].Grounds); !slices.Equal(got, want) {
				t.Fatalf("refuse grounds %v, want %v", got, want)
			}
			// Art. 29(5) grounds are for preservation only (issue 11, row 4).
			if code, eb := f.actBody(tc.to, sub.CaseID, op("refuse", "ground", "political_offence", "reasons", "x")); code != http.StatusUnprocessableEntity {
				t.Fatalf("emergency refused on an Art. 29(5) ground: HTTP %d %+v", code, eb)
			}
		})
	}
}

// TestTreatyBasisPreservationLifecycle walks a preservation request from
// FR to DE through the API of both nodes, each step citing its article.
func TestTreatyBasisPreservationLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationInit(t, testnet.InitOptions{Nodes: 2, TreatyBases: treatyBases("FR", "DE")}, nil)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	id := f.mustSubmit("FR", "DE", "preservation.json", nil)
	terms := f.sameTerms(id, "FR", "DE")
	if terms.ResponderZone != "Europe/Berlin" || !terms.Traffic || terms.MaxTotalDays != 180 {
		t.Fatalf("terms: %+v", terms)
	}
	// Dates are calendar days in the requested state's zone.
	reqDay := terms.RequestedAt.In(berlin)
	reqDay = time.Date(reqDay.Year(), reqDay.Month(), reqDay.Day(), 0, 0, 0, 0, berlin)
	day := func(n int) string { return reqDay.AddDate(0, 0, n).Format(time.DateOnly) }
	confirm := func(kv ...any) map[string]any {
		return op("confirm_preservation", append([]any{"executing_authority", "BKA SO 41", "domestic_legal_basis", "StPO § 100g"}, kv...)...)
	}
	if v := f.legal("DE", id); v.Legal.Actions["confirm_preservation"].MinPeriodDays != 60 || v.Legal.Actions["confirm_preservation"].MaxPeriodDays != 180 {
		t.Fatalf("confirm_preservation limits: %+v", v.Legal.Actions["confirm_preservation"])
	}
	steps := []struct {
		article string
		by      string
		action  map[string]any
		code    int
		field   string // named by a 422
		state   string // after a success, on both sides
		check   func(t *testing.T, fr, de types.CaseView)
	}{
		{article: "Budapest Art. 29(7): the sixty days run from the actual start, which cannot precede the request",
			by: "DE", action: confirm("period_days", 90, "start_date", day(-1)), code: 422, field: "start_date"},
		{article: "Budapest Art. 29(7): not less than sixty days",
			by: "DE", action: confirm("period_days", 59, "start_date", day(0)), code: 422, field: "period_days"},
		{article: "Budapest Art. 29(7): the requested state's maximum of 180 days",
			by: "DE", action: confirm("period_days", 181, "start_date", day(0)), code: 422, field: "period_days"},
		{article: "Budapest Art. 29(3): asking for details keeps the case where it is",
			by: "DE", action: op("request_info", "text", "Please confirm the time zone of the log excerpt."), code: 201, state: "open",
			check: func(t *testing.T, fr, de types.CaseView) {
				if !fr.Legal.Facts.InfoPending || !de.Legal.Facts.InfoPending || !slices.Contains(fr.Available, "provide_info") {
					t.Fatalf("information request not pending on both sides: FR %+v DE %+v", fr.Legal.Facts, de.Legal.Facts)
				}
			}},
		{article: "Budapest Art. 29(3): preserve expeditiously, even with a question open",
			by: "DE", action: confirm("period_days", 90, "start_date", day(0)), code: 201, state: "preserved",
			check: func(t *testing.T, fr, de types.CaseView) {
				want := reqDay.AddDate(0, 0, 90)
				for _, v := range []types.CaseView{fr, de} {
					if v.ExpiresAt == nil || !v.ExpiresAt.Equal(want) || !v.Legal.Facts.InfoPending {
						t.Fatalf("%s: expiry %v, want %s; facts %+v", v.Role, v.ExpiresAt, want, v.Legal.Facts)
					}
					if !strings.HasSuffix(v.Legal.ExpiresResponder, "(Europe/Berlin)") || !strings.HasSuffix(v.Legal.ExpiresRequester, "(Europe/Paris)") ||
						!strings.HasPrefix(v.Legal.ExpiresResponder, want.Format(time.DateOnly)+" 00:00") {
						t.Fatalf("%s: expiry shown as %q / %q", v.Role, v.Legal.ExpiresResponder, v.Legal.ExpiresRequester)
					}
				}
			}},
		{article: "Budapest Art. 29(7): not released before the period ends",
			by: "DE", action: op("release", "text", "no longer needed"), code: 409},
		{article: "Budapest Art. 30(1): traffic data asked for, disclosed in the course of execution",
			by: "DE", action: op("disclose_traffic", "provider", "Example Transit AB, Sweden", "path", "AS64500 → AS64501"), code: 201, state: "preserved"},
		{article: "Budapest Art. 29(7): the requester asks to extend",
			by: "FR", action: op("request_extension", "period_days", 90, "text", "MLA request in translation"), code: 201, state: "extension_requested"},
		{article: "Budapest Art. 29(7): an extension only moves forward",
			by: "DE", action: op("confirm_extension", "expiry_date", day(89)), code: 422, field: "expiry_date"},
		{article: "Budapest Art. 29(7) with the requested state's maximum of 180 days in all",
			by: "DE", action: op("confirm_extension", "expiry_date", day(181)), code: 422, field: "expiry_date"},
		{article: "Budapest Art. 29(7): extension granted",
			by: "DE", action: op("confirm_extension", "expiry_date", day(180)), code: 201, state: "preserved"},
		{article: "Budapest Art. 29(7): the requester's word that it sent the MLA request starts no hold",
			by: "FR", action: op("mla_submitted", "mla_reference", "MLA/FR-DE/2026/77"), code: 201, state: "preserved",
			check: func(t *testing.T, fr, de types.CaseView) {
				for _, v := range []types.CaseView{fr, de} {
					if v.Hold || !v.Legal.Facts.MLASubmitted {
						t.Fatalf("%s: hold %v, mla_submitted %v", v.Role, v.Hold, v.Legal.Facts.MLASubmitted)
					}
				}
			}},
		{article: "Budapest Art. 29(7): the hold starts on receipt of the MLA request; Protocol Art. 14(5): a review date",
			by: "DE", action: op("mla_received", "mla_reference", "MLA/FR-DE/2026/77", "review_by", day(30)), code: 201, state: "mla_pending",
			check: func(t *testing.T, fr, de types.CaseView) {
				for _, v := range []types.CaseView{fr, de} {
					if !v.Hold || v.Legal.Facts.ReviewDueAt.IsZero() {
						t.Fatalf("%s: hold %v, review %v", v.Role, v.Hold, v.Legal.Facts.ReviewDueAt)
					}
				}
				if slices.Contains(de.Available, "release") {
					t.Fatalf("release offered during the hold: %v", de.Available)
				}
			}},
		{article: "Budapest Art. 29(7): the data stay preserved pending the decision on the MLA request",
			by: "DE", action: op("release", "text", "no longer needed"), code: 409},
		{article: "Budapest Art. 29(7): the decision on the MLA request ends the hold",
			by: "DE", action: op("mla_decided", "decision", "granted"), code: 201, state: "mla_decided",
			check: func(t *testing.T, fr, de types.CaseView) {
				if fr.Hold || de.Hold || !slices.Contains(de.Available, "release") {
					t.Fatalf("after the MLA decision: hold FR %v DE %v, DE may %v", fr.Hold, de.Hold, de.Available)
				}
			}},
		{article: "Budapest Art. 29(7): released after the MLA decision",
			by: "DE", action: op("release", "text", "MLA executed; data handed over"), code: 201, state: "released"},
		{article: "close with an outcome",
			by: "FR", action: op("close", "outcome", "released"), code: 201, state: "closed"},
	}
	for i, s := range steps {
		t.Logf("step %d: %s %s (%s)", i, s.by, s.action["action"], s.article)
		code, eb := f.actBody(s.by, id, s.action)
		if code != s.code {
			t.Fatalf("step %d (%s): %s %v: HTTP %d %+v, want %d", i, s.article, s.by, s.action["action"], code, eb, s.code)
		}
		if s.field != "" {
			if _, ok := fieldNamed(eb, s.field); !ok {
				t.Fatalf("step %d (%s): 422 names %+v, want %s", i, s.article, eb.Fields, s.field)
			}
		}
		if s.state == "" {
			continue
		}
		f.waitState(id, s.state, "FR", "DE")
		// Wait for the action to reach the other side too, even when the
		// state does not change.
		var fr, de types.CaseView
		eventually(t, 30*time.Second, "both sides to apply step "+s.article, func() bool {
			fr, de = f.legal("FR", id), f.legal("DE", id)
			return len(fr.History) == len(de.History) && fr.State == s.state && de.State == s.state
		})
		if s.check != nil {
			s.check(t, fr, de)
		}
	}
	fr, de := f.legal("FR", id), f.legal("DE", id)
	if !equalHist(history(fr), history(de)) {
		t.Fatalf("histories differ:\nFR %v\nDE %v", history(fr), history(de))
	}
	for _, h := range fr.History {
		if h.Invalid != "" {
			t.Fatalf("an action the API accepted did not apply: %+v", h)
		}
	}

	t.Run("no traffic data asked for", func(t *testing.T) {
		// Budapest Art. 30(1): disclosure of traffic data is "in the course
		// of the execution of a request ... to preserve traffic data".
		f := f.on(t)
		id := f.mustSubmit("FR", "DE", "preservation.json", func(m map[string]any) { m["data_categories"] = []string{"subscriber"} })
		f.mustAct("DE", id, op("acknowledge"))
		f.waitState(id, "acknowledged", "FR", "DE")
		v := f.legal("DE", id)
		if f.sameTerms(id, "FR", "DE").Traffic || slices.Contains(v.Available, "disclose_traffic") || slices.Contains(v.Available, "withhold_traffic") {
			t.Fatalf("traffic actions offered: %v", v.Available)
		}
		code, eb := f.actBody("DE", id, op("disclose_traffic", "provider", "Example Transit AB", "path", "AS64500"))
		if code != http.StatusConflict || !strings.Contains(eb.Error, "Art. 30(1)") {
			t.Fatalf("disclose_traffic without traffic data asked for: HTTP %d %+v, want 409 citing Art. 30(1)", code, eb)
		}
	})
}

// TestTreatyBasisRefusedPeerAction: an action from the peer that the model
// refuses, as a node on the earlier rules might still send it, is stored,
// flagged invalid-transition and answered with a receipt; it changes
// nothing, and the receiver raises a refused_action alert
// (docs/legal-model.md; issue 11, "Old cases still work").
func TestTreatyBasisRefusedPeerAction(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationInit(t, testnet.InitOptions{Nodes: 2, TreatyBases: treatyBases("FR", "DE")}, func(cc string, cfg *config.Config) {
		cfg.Deadlines.CheckInterval = time.Hour // the test runs the deadline pass itself
	})
	cases := []struct {
		name, article string
		setup         func(f *federation, id string)
		action        protocol.Action
		state         string
	}{
		{name: "refusal of preservation on a free-text ground", article: `Budapest Art. 29(5): "may only be refused if"`,
			action: protocol.Action{Action: protocol.ActRefuse, Ground: "other", Reasons: "refused as the earlier rules allowed"}, state: "open"},
		{name: "release during the MLA hold", article: "Budapest Art. 29(7): preserved pending the decision on the MLA request",
			setup: func(f *federation, id string) {
				f.mustAct("DE", id, op("confirm_preservation", "executing_authority", "BKA", "domestic_legal_basis", "StPO",
					"period_days", 90, "start_date", f.legal("DE", id).Legal.Terms.LocalDay(f.clock.Now()).Format(time.DateOnly)))
				f.mustAct("DE", id, op("mla_received", "mla_reference", "MLA/2026/9"))
				f.waitState(id, "mla_pending", "FR", "DE")
			},
			action: protocol.Action{Action: protocol.ActRelease, Text: "released as the earlier rules allowed"}, state: "mla_pending"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Log(tc.article)
			f := f.on(t)
			id := f.mustSubmit("FR", "DE", "preservation.json", nil)
			if tc.setup != nil {
				tc.setup(f, id)
			}
			de := f.legal("DE", id)
			a := tc.action
			a.Operator = "rogue operator"
			if n := len(de.History); n > 0 {
				a.Seq = de.History[n-1].Seq
			}
			a.Seq++
			env := forge(t, f, "DE", "FR", id, protocol.TypeAction, a)
			f.deliver("DE", "FR", env)

			fr := f.legal("FR", id)
			last := fr.History[len(fr.History)-1]
			if fr.State != tc.state || last.MessageID != env.MessageID || last.Invalid == "" || !contains(fr.Flags, "invalid-transition") {
				t.Fatalf("FR after the refused action: state %s, last %+v, flags %v", fr.State, last, fr.Flags)
			}
			if m := storedMessage(t, f.nodes["FR"], env.MessageID); !contains(m.Flags, "invalid-transition") {
				t.Fatalf("stored message flags %v", m.Flags)
			}
			if de := f.legal("DE", id); de.State != tc.state {
				t.Fatalf("DE moved to %s", de.State)
			}
			if err := f.nodes["FR"].Scheduler().Pass(f.ctx); err != nil {
				t.Fatal(err)
			}
			var al types.AlertList
			f.api("FR", "GET", "/api/v1/alerts", nil, &al)
			if !slices.ContainsFunc(al.Alerts, func(x types.Alert) bool { return x.CaseID == id && x.Kind == "refused_action" }) {
				t.Fatalf("no refused_action alert for %s: %+v", id, al.Alerts)
			}
		})
	}
}
