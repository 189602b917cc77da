package protocol_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// Each test here fixes one row of issue 11's table and cites the article
// it comes from; docs/legal-model.md says the same in prose.

var requested = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func member(cc string, treaties []protocol.Party, decl ...protocol.Declaration) protocol.Member {
	return protocol.Member{Country: protocol.CountryCode(cc), TimeZone: "Europe/Berlin", Treaties: treaties, Declarations: decl}
}

func parties(ts ...protocol.Treaty) []protocol.Party {
	var out []protocol.Party
	for _, t := range ts {
		out = append(out, protocol.Party{Treaty: t, From: "2004-07-01"})
	}
	return out
}

func termsOf(kind protocol.RequestKind, from, to protocol.Member, articles ...int) protocol.Terms {
	return protocol.TermsFor(protocol.RequestFacts{Kind: kind, ConventionArticles: articles, DataCategories: []string{"subscriber"}, Identifiers: 2},
		requested, from, to, 7)
}

func groundKeys(t protocol.Terms, a protocol.ActionName) []string {
	ks := protocol.GroundKeys(t, a)
	slices.Sort(ks)
	return ks
}

// at builds an event by role at a time from an action, as a node stores it.
func at(by protocol.Role, when time.Time, seq uint64, a *protocol.Action) protocol.Event {
	a.Seq = seq
	if a.Operator == "" {
		a.Operator = "Duty officer"
	}
	return protocol.Event{MessageID: string(rune('a'+seq)) + "x", By: by, At: when, Meta: protocol.MetaOf(a)}
}

// mustApply checks ev against cs under t and folds it in, failing the test
// if the rules refuse it.
func mustApply(t *testing.T, terms protocol.Terms, cs protocol.CaseState, ev protocol.Event) protocol.CaseState {
	t.Helper()
	next, _, ok := protocol.Advance(terms, cs, ev)
	if !ok || next.History[len(next.History)-1].Invalid != "" {
		t.Fatalf("%s refused: %+v", ev.Meta.Action, next.History[len(next.History)-1].Invalid)
	}
	next.History = nil
	return next
}

func refused(t *testing.T, terms protocol.Terms, cs protocol.CaseState, ev protocol.Event, want string) {
	t.Helper()
	_, err := protocol.Check(terms, cs, ev)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error %v, want one mentioning %q", ev.Meta.Action, err, want)
	}
}

// Row 1, Budapest Art. 29(5) and 30(2): preservation "may only be refused
// if" political offence or essential interests; traffic data "may only be
// withheld if" the same. There is no free-text ground.
func TestRefusalGroundsAreClosedArt29_5(t *testing.T) {
	fr, de := member("FR", parties(protocol.TreatyBudapest)), member("DE", parties(protocol.TreatyBudapest))
	terms := termsOf(protocol.KindPreservation, fr, de)
	if got := groundKeys(terms, protocol.ActRefuse); !slices.Equal(got, []string{"essential_interests", "political_offence"}) {
		t.Fatalf("Art. 29(5) grounds: %v", got)
	}
	terms.Traffic = true
	if got := groundKeys(terms, protocol.ActWithholdTraffic); !slices.Equal(got, []string{"essential_interests", "political_offence"}) {
		t.Fatalf("Art. 30(2) grounds: %v", got)
	}
	cs := protocol.CaseState{State: protocol.StateAcknowledged}
	refused(t, terms, cs, at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActRefuse, Ground: "other", Reasons: "x"}), "ground")
	refused(t, terms, cs, at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActWithholdTraffic, Ground: "other", Reasons: "x"}), "ground")
	if _, err := protocol.Check(terms, cs, at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActRefuse, Ground: "political_offence", Reasons: "x"})); err != nil {
		t.Fatalf("Art. 29(5)(a) refusal: %v", err)
	}
	// Reasons are mandatory (Art. 27(7)).
	if m := protocol.MetaOf(&protocol.Action{Action: protocol.ActRefuse, Operator: "x", Ground: "political_offence"}); m.Invalid == "" {
		t.Fatal("refusal without reasons accepted")
	}
}

// Row 2, Budapest Art. 29(7): not less than sixty days from the actual
// start; no release during the period or the MLA hold; an extension only
// moves forward.
func TestSixtyDaysAndNoReleaseArt29_7(t *testing.T) {
	terms := termsOf(protocol.KindPreservation, member("FR", nil), member("DE", nil))
	day0 := requested
	cs := protocol.CaseState{State: protocol.StateAcknowledged}
	confirm := func(start string, days int) *protocol.Action {
		return &protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "BKA", DomesticLegalBasis: "StPO",
			StartDate: start, PeriodDays: days}
	}
	if m := protocol.MetaOf(confirm("2026-03-01", 59)); m.Invalid == "" {
		t.Fatal("59 days accepted")
	}
	// Starting before the request leaves fewer than sixty days from now.
	refused(t, terms, cs, at(protocol.Responder, day0.Add(24*time.Hour), 1, confirm("2026-02-20", 60)), "start_date")
	// Starting after the confirmation confirms what is not yet preserved.
	refused(t, terms, cs, at(protocol.Responder, day0, 1, confirm("2026-03-05", 60)), "start_date")
	cs = mustApply(t, terms, cs, at(protocol.Responder, day0.Add(24*time.Hour), 1, confirm("2026-03-01", 60)))
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if want := time.Date(2026, 4, 30, 0, 0, 0, 0, berlin); !cs.ExpiresAt.Equal(want) {
		t.Fatalf("expiry %s, want midnight in the requested state's zone after day 60: %s", cs.ExpiresAt, want)
	}
	release := &protocol.Action{Action: protocol.ActRelease}
	refused(t, terms, cs, at(protocol.Responder, day0.Add(10*24*time.Hour), 2, release), "29(7)")
	// An extension cannot shorten the period.
	cs = mustApply(t, terms, cs, at(protocol.Requester, day0.Add(30*24*time.Hour), 2, &protocol.Action{Action: protocol.ActRequestExtension, PeriodDays: 30}))
	refused(t, terms, cs, at(protocol.Responder, day0.Add(31*24*time.Hour), 3, &protocol.Action{Action: protocol.ActConfirmExtension, ExpiryDate: "2026-04-15"}), "only moves forward")
	cs = mustApply(t, terms, cs, at(protocol.Responder, day0.Add(31*24*time.Hour), 3, &protocol.Action{Action: protocol.ActConfirmExtension, ExpiryDate: "2026-05-30"}))
	// Once the MLA request is received the data stay preserved, even past
	// the expiry, until a decision.
	cs = mustApply(t, terms, cs, at(protocol.Responder, day0.Add(40*24*time.Hour), 4, &protocol.Action{Action: protocol.ActMLAReceived, MLAReference: "MLA/1", ReviewBy: "2026-05-01"}))
	if !cs.Hold || cs.State != protocol.StateMLAPending {
		t.Fatalf("after receipt of the MLA request: %+v", cs)
	}
	refused(t, terms, cs, at(protocol.Responder, day0.Add(400*24*time.Hour), 5, release), "allowed only from")
	// A withdrawal does not lift the hold: the MLA request is pending on
	// its own (found by the model checker).
	wd := mustApply(t, terms, cs, at(protocol.Requester, day0.Add(41*24*time.Hour), 5, &protocol.Action{Action: protocol.ActWithdraw}))
	refused(t, terms, wd, at(protocol.Responder, day0.Add(42*24*time.Hour), 6, release), "pending the decision")
	wd = mustApply(t, terms, wd, at(protocol.Responder, day0.Add(43*24*time.Hour), 6, &protocol.Action{Action: protocol.ActMLADecided, Decision: "withdrawn"}))
	if wd.State != protocol.StateWithdrawn || wd.Hold {
		t.Fatalf("MLA decision on a withdrawn request: %+v", wd)
	}
	mustApply(t, terms, wd, at(protocol.Responder, day0.Add(44*24*time.Hour), 7, release))
	cs = mustApply(t, terms, cs, at(protocol.Responder, day0.Add(401*24*time.Hour), 5, &protocol.Action{Action: protocol.ActMLADecided, Decision: "granted"}))
	cs = mustApply(t, terms, cs, at(protocol.Responder, day0.Add(402*24*time.Hour), 6, release))
	if cs.State != protocol.StateReleased || cs.Hold {
		t.Fatalf("after the MLA decision and release: %+v", cs)
	}
	// After the period (and with no hold) release is allowed.
	cs2 := protocol.CaseState{State: protocol.StatePreserved, ExpiresAt: day0.Add(60 * 24 * time.Hour)}
	if _, err := protocol.Check(terms, cs2, at(protocol.Responder, day0.Add(61*24*time.Hour), 1, release)); err != nil {
		t.Fatalf("release after the period: %v", err)
	}
}

// Row 3, Budapest Art. 29(3)-(4): dual criminality is not required for
// preservation; a Party with a reservation may refuse on it only for
// offences other than Arts. 2-11, only while the reservation is in force,
// and only with reasons to believe.
func TestDualCriminalityOnlyWithReservationArt29_4(t *testing.T) {
	fr := member("FR", parties(protocol.TreatyBudapest))
	plain := member("AT", parties(protocol.TreatyBudapest))
	reserved := member("CZ", parties(protocol.TreatyBudapest),
		protocol.Declaration{Kind: protocol.ReservationDualCriminality, From: "2013-12-01", Until: "2019-07-05"})
	for _, tc := range []struct {
		name     string
		to       protocol.Member
		on       time.Time
		articles []int
		want     bool
	}{
		{"no reservation", plain, requested, nil, false},
		{"reservation withdrawn before the request", reserved, requested, nil, false},
		{"reservation in force", reserved, time.Date(2015, 6, 1, 0, 0, 0, 0, time.UTC), nil, true},
		{"in force, but an Art. 2-11 offence", reserved, time.Date(2015, 6, 1, 0, 0, 0, 0, time.UTC), []int{2}, false},
		{"in force, an offence outside the Convention", reserved, time.Date(2015, 6, 1, 0, 0, 0, 0, time.UTC), []int{12}, true},
	} {
		terms := protocol.TermsFor(protocol.RequestFacts{Kind: protocol.KindPreservation, ConventionArticles: tc.articles}, tc.on, fr, tc.to, 1)
		if got := slices.Contains(protocol.GroundKeys(terms, protocol.ActRefuse), "dual_criminality"); got != tc.want {
			t.Errorf("%s: dual_criminality offered %v, want %v", tc.name, got, tc.want)
		}
	}
	// Reasons to believe must be stated.
	if m := protocol.MetaOf(&protocol.Action{Action: protocol.ActRefuse, Operator: "x", Ground: "dual_criminality", Reasons: "x"}); m.Invalid == "" {
		t.Fatal("dual-criminality refusal without reasons_to_believe accepted")
	}
}

// Row 4: grounds depend on the common treaty basis and the kind. UN
// Art. 40(22) persecution is not offered between two Budapest-only
// Parties; Art. 29 grounds are not offered for emergency or assistance.
func TestGroundsPerTreatyBasisAndKind(t *testing.T) {
	bud, un := parties(protocol.TreatyBudapest), parties(protocol.TreatyUN)
	both := parties(protocol.TreatyBudapest, protocol.TreatySecondProtocol, protocol.TreatyUN)
	if got := groundKeys(termsOf(protocol.KindPreservation, member("FR", bud), member("DE", bud)), protocol.ActRefuse); slices.Contains(got, "persecution") {
		t.Fatalf("UN Art. 40(22) between Budapest-only Parties: %v", got)
	}
	unTerms := termsOf(protocol.KindPreservation, member("FR", both), member("BR", un))
	if unTerms.Treaty != protocol.TreatyUN {
		t.Fatalf("FR (both) and BR (UN only) share the UN Convention: %+v", unTerms)
	}
	if got := groundKeys(unTerms, protocol.ActRefuse); !slices.Contains(got, "persecution") || slices.Contains(got, "political_offence") {
		t.Fatalf("UN Art. 40(21)-(22) grounds: %v", got)
	}
	em := termsOf(protocol.KindEmergency, member("FR", both), member("DE", both))
	if got := groundKeys(em, protocol.ActRefuse); slices.Contains(got, "political_offence") || !slices.Contains(got, "not_an_emergency") {
		t.Fatalf("Protocol Art. 9 grounds: %v", got)
	}
	as := termsOf(protocol.KindAssistance, member("FR", bud), member("DE", bud))
	if got := groundKeys(as, protocol.ActRefuse); slices.Contains(got, "political_offence") {
		t.Fatalf("assistance (Art. 35) grounds: %v", got)
	}
	// No common basis: only a refusal on that ground.
	none := termsOf(protocol.KindPreservation, member("FR", bud), member("BR", un))
	if none.Treaty != "" || none.Problem == "" || !slices.Equal(groundKeys(none, protocol.ActRefuse), []string{"no_treaty_basis"}) {
		t.Fatalf("no common basis: %+v", none)
	}
	// Emergency needs the Protocol on both sides (Protocol Art. 9).
	if t2 := termsOf(protocol.KindEmergency, member("FR", both), member("DE", bud)); t2.Treaty != "" || !strings.Contains(t2.Problem, "Second Additional Protocol") {
		t.Fatalf("emergency without the Protocol: %+v", t2)
	}
	// Emergency MLA needs the responder's Art. 10(9) declaration.
	if t2 := termsOf(protocol.KindEmergencyMLA, member("FR", both), member("DE", both)); t2.Treaty != "" || !strings.Contains(t2.Problem, "10(9)") {
		t.Fatalf("emergency MLA without 10(9): %+v", t2)
	}
	decl := protocol.Declaration{Kind: protocol.DeclarationEmergencyMLA, From: "2022-05-12"}
	if t2 := termsOf(protocol.KindEmergencyMLA, member("FR", both), member("DE", both, decl)); t2.Treaty != protocol.TreatySecondProtocol {
		t.Fatalf("emergency MLA with 10(9): %+v", t2)
	}
}

// Row 5, Budapest Art. 29(7) "following the receipt" and Protocol
// Art. 14(5): the requester's word does not start the hold; receipt does,
// with a review date; a decision ends it.
func TestHoldStartsOnReceiptArt29_7(t *testing.T) {
	terms := termsOf(protocol.KindPreservation, member("FR", nil), member("DE", nil))
	cs := protocol.CaseState{State: protocol.StatePreserved, ExpiresAt: requested.Add(90 * 24 * time.Hour)}
	cs = mustApply(t, terms, cs, at(protocol.Requester, requested, 1, &protocol.Action{Action: protocol.ActMLASubmitted, MLAReference: "MLA/1"}))
	if cs.Hold || cs.State != protocol.StatePreserved || !cs.MLASubmitted {
		t.Fatalf("after the requester's notice: %+v", cs)
	}
	refused(t, terms, cs, at(protocol.Responder, requested, 2, &protocol.Action{Action: protocol.ActMLAReceived, MLAReference: "MLA/1", ReviewBy: "2026-03-01"}), "review_by")
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested, 2, &protocol.Action{Action: protocol.ActMLAReceived, MLAReference: "MLA/1", ReviewBy: "2026-04-01"}))
	if !cs.Hold || cs.ReviewDueAt.IsZero() {
		t.Fatalf("after receipt: %+v", cs)
	}
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested.Add(30*24*time.Hour), 3, &protocol.Action{Action: protocol.ActReviewHold, Text: "still needed", ReviewBy: "2026-05-01"}))
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested.Add(40*24*time.Hour), 4, &protocol.Action{Action: protocol.ActMLADecided, Decision: "refused"}))
	if cs.Hold || !cs.ReviewDueAt.IsZero() || cs.State != protocol.StateMLADecided {
		t.Fatalf("after the MLA decision: %+v", cs)
	}
}

// Row 6, Protocol Art. 9(6)-(7): conditions; if rejected the requested
// Party decides whether to provide nevertheless; refusal is final at once;
// the data are handed over; the supplier may ask how they were used.
func TestEmergencyConditionsArt9(t *testing.T) {
	both := parties(protocol.TreatyBudapest, protocol.TreatySecondProtocol)
	terms := termsOf(protocol.KindEmergency, member("FR", both), member("DE", both))
	open := protocol.CaseState{State: protocol.StateAcknowledged}
	det := func(decision, conditions string) *protocol.Action {
		return &protocol.Action{Action: protocol.ActDetermine, Decision: decision, Conditions: conditions, Text: "determined"}
	}
	if cs := mustApply(t, terms, open, at(protocol.Responder, requested, 1, det("refuse", ""))); cs.State != protocol.StateRefused {
		t.Fatalf("a refusing determination waits for conditions: %s", cs.State)
	}
	cs := mustApply(t, terms, open, at(protocol.Responder, requested, 1, det("provide_with_conditions", "use only for this case")))
	cs = mustApply(t, terms, cs, at(protocol.Requester, requested, 2, &protocol.Action{Action: protocol.ActRejectConditions}))
	if avail := protocol.Available(terms, cs, protocol.Responder); !slices.Contains(avail, protocol.ActHandOver) || !slices.Contains(avail, protocol.ActRefuse) {
		t.Fatalf("after rejected conditions the requested side decides (9(7)(a)): %v", avail)
	}
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested, 3, &protocol.Action{Action: protocol.ActHandOver, Text: "provided nevertheless"}))
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested, 4, &protocol.Action{Action: protocol.ActRequestExplanation, Text: "explain the use"}))
	if !cs.ExplanationDue || !slices.Contains(protocol.Available(terms, cs, protocol.Requester), protocol.ActExplainUse) {
		t.Fatalf("Art. 9(7)(b) explanation: %+v", cs)
	}
	cs = mustApply(t, terms, cs, at(protocol.Requester, requested, 5, &protocol.Action{Action: protocol.ActExplainUse, Text: "used as agreed"}))
	cs = mustApply(t, terms, cs, at(protocol.Requester, requested, 6, &protocol.Action{Action: protocol.ActClose, Outcome: "data_provided"}))
	if cs.State != protocol.StateClosed {
		t.Fatalf("final: %s", cs.State)
	}
	// Protocol Art. 9(1)(b): subscriber-only requests may be refused on the declaration.
	decl := member("DE", both, protocol.Declaration{Kind: protocol.DeclarationSubscriberOnly, From: "2022-05-12"})
	sub := protocol.TermsFor(protocol.RequestFacts{Kind: protocol.KindEmergency, SubscriberOnly: true}, requested, member("FR", both), decl, 1)
	if !slices.Contains(protocol.GroundKeys(sub, protocol.ActRefuse), "subscriber_only_declaration") {
		t.Fatalf("9(1)(b) ground missing: %v", protocol.GroundKeys(sub, protocol.ActRefuse))
	}
}

// Row 7, Budapest Art. 30(1): traffic data are disclosed "in the course
// of the execution" of a request to preserve traffic data, and withheld
// only on an Art. 30(2) ground.
func TestTrafficDisclosureArt30(t *testing.T) {
	terms := termsOf(protocol.KindPreservation, member("FR", nil), member("DE", nil))
	ack := protocol.CaseState{State: protocol.StateAcknowledged}
	if slices.Contains(protocol.Available(terms, ack, protocol.Responder), protocol.ActDiscloseTraffic) {
		t.Fatal("traffic disclosure offered for a request without traffic data")
	}
	terms.Traffic = true
	avail := protocol.Available(terms, ack, protocol.Responder)
	if !slices.Contains(avail, protocol.ActDiscloseTraffic) || !slices.Contains(avail, protocol.ActWithholdTraffic) {
		t.Fatalf("before confirmation, during execution: %v", avail)
	}
	if slices.Contains(protocol.Available(terms, protocol.CaseState{State: protocol.StateReleased}, protocol.Responder), protocol.ActDiscloseTraffic) {
		t.Fatal("traffic disclosure after release")
	}
}

// Row 8, Budapest Art. 29(3): asking for details does not block preserving.
func TestRequestInfoDoesNotBlockArt29_3(t *testing.T) {
	terms := termsOf(protocol.KindPreservation, member("FR", nil), member("DE", nil))
	cs := mustApply(t, terms, protocol.CaseState{State: protocol.StateAcknowledged}, at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActRequestInfo, Text: "which zone?"}))
	if cs.State != protocol.StateAcknowledged || !cs.InfoPending {
		t.Fatalf("after request_info: %+v", cs)
	}
	if !slices.Contains(protocol.Available(terms, cs, protocol.Responder), protocol.ActConfirmPreservation) {
		t.Fatal("confirmation blocked by an open question")
	}
	cs = mustApply(t, terms, cs, at(protocol.Responder, requested, 2, &protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "BKA",
		DomesticLegalBasis: "StPO", StartDate: "2026-03-01", PeriodDays: 90}))
	cs = mustApply(t, terms, cs, at(protocol.Requester, requested, 3, &protocol.Action{Action: protocol.ActProvideInfo, Text: "UTC"}))
	if cs.State != protocol.StatePreserved || cs.InfoPending {
		t.Fatalf("answer after confirmation: %+v", cs)
	}
}

// Row 11, Art. 27(5)-(6) and domestic regimes: the period has no legal
// cap beyond the requested state's own maximum; partial outcomes per
// identifier; postponement with reasons and a date.
func TestPeriodsPartialAndPostponementArt27(t *testing.T) {
	de := member("DE", nil)
	de.Preservation = protocol.PreservationRegime{PeriodDays: 90, MaxTotalDays: 180}
	terms := termsOf(protocol.KindPreservation, member("FR", nil), de)
	cs := protocol.CaseState{State: protocol.StateAcknowledged}
	long := &protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "BKA", DomesticLegalBasis: "StPO", StartDate: "2026-03-01", PeriodDays: 400}
	refused(t, terms, cs, at(protocol.Responder, requested, 1, long), "maximum of 180")
	if m := protocol.MetaOf(&protocol.Action{Action: protocol.ActConfirmPreservation, Operator: "x", ExecutingAuthority: "BKA", DomesticLegalBasis: "StPO", StartDate: "2026-03-01", PeriodDays: 400}); m.Invalid != "" {
		t.Fatalf("400 days refused without a domestic maximum: %s", m.Invalid)
	}
	partial := &protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "BKA", DomesticLegalBasis: "StPO", StartDate: "2026-03-01", PeriodDays: 90,
		Identifiers: []protocol.IdentifierOutcome{{Index: 0, Outcome: "preserved"}, {Index: 1, Outcome: "not_found"}}}
	mustApply(t, terms, cs, at(protocol.Responder, requested, 1, partial))
	partial.Identifiers = append(partial.Identifiers, protocol.IdentifierOutcome{Index: 2, Outcome: "preserved"})
	refused(t, terms, cs, at(protocol.Responder, requested, 1, partial), "identifier_outcomes[2].index")
	none := &protocol.Action{Action: protocol.ActConfirmPreservation, Operator: "x", ExecutingAuthority: "BKA", DomesticLegalBasis: "StPO", StartDate: "2026-03-01", PeriodDays: 90,
		Identifiers: []protocol.IdentifierOutcome{{Index: 0, Outcome: "not_found"}}}
	if m := protocol.MetaOf(none); m.Invalid == "" {
		t.Fatal("a confirmation preserving nothing accepted")
	}
	post := mustApply(t, terms, cs, at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActPostpone, Reasons: "domestic search tomorrow", Until: "2026-03-05"}))
	if post.State != protocol.StatePostponed || post.PostponedUntil.IsZero() {
		t.Fatalf("postponed: %+v", post)
	}
	if m := protocol.MetaOf(&protocol.Action{Action: protocol.ActPostpone, Operator: "x", Until: "2026-03-05"}); m.Invalid == "" {
		t.Fatal("postponement without reasons accepted (Art. 27(7))")
	}
}

// A request the states share no basis for: only the steps that do not
// depend on a treaty are open.
func TestNoTreatyBasis(t *testing.T) {
	none := termsOf(protocol.KindPreservation, member("FR", parties(protocol.TreatyBudapest)), member("BR", parties(protocol.TreatyUN)))
	avail := protocol.Available(none, protocol.CaseState{State: protocol.StateAcknowledged}, protocol.Responder)
	if slices.Contains(avail, protocol.ActConfirmPreservation) || !slices.Contains(avail, protocol.ActRefuse) {
		t.Fatalf("no basis: %v", avail)
	}
	_, err := protocol.Check(none, protocol.CaseState{State: protocol.StateAcknowledged},
		at(protocol.Responder, requested, 1, &protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "x", DomesticLegalBasis: "x", StartDate: "2026-03-01", PeriodDays: 60}))
	var te *protocol.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("confirmation without basis: %v", err)
	}
}
