package protocol_test

import (
	"flag"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// A deeper run (minutes; each local action more multiplies the states by
// about twenty): go test ./protocol/ -run TestModelCheck -v -modelcheck.depth=4 -modelcheck.window=3
var (
	mcDepthFlag  = flag.Int("modelcheck.depth", 0, "most local actions per path from the opening of the case (0: default)")
	mcWindowFlag = flag.Int("modelcheck.window", 0, "most new local actions per path from each seed (0: default)")
	mcFaultsFlag = flag.Int("modelcheck.faults", -1, "most faults per path in the passes with faults: losses, duplicates, crashes, older peers' messages (-1: default)")
)

// mcLegalLimit bounds the legal state space (it is finite: the longest
// preservation is the requested state's maximum).
const mcLegalLimit = 200000

// mcRequestedAt is late evening in Paris and the next morning in Auckland:
// the responder's calendar day, not UTC's, is the request day.
var mcRequestedAt = time.Date(2026, 3, 10, 21, 30, 0, 0, time.UTC)

// mcRegime gives a member a domestic preservation regime: Art. 29(7) sets
// only the minimum (docs/legal-model.md, "Periods").
func mcRegime(m protocol.Member, period, maxTotal int) protocol.Member {
	m.Preservation = protocol.PreservationRegime{PeriodDays: period, MaxTotalDays: maxTotal}
	return m
}

func mcMember(country, zone string, treaties []protocol.Treaty, decls ...protocol.DeclarationKind) protocol.Member {
	since := map[protocol.Treaty]string{protocol.TreatyBudapest: "2006-05-01", protocol.TreatySecondProtocol: "2025-06-01", protocol.TreatyUN: "2025-12-01"}
	m := protocol.Member{Country: protocol.CountryCode(country), TimeZone: zone}
	for _, t := range treaties {
		m.Treaties = append(m.Treaties, protocol.Party{Treaty: t, From: since[t]})
	}
	for _, d := range decls {
		m.Declarations = append(m.Declarations, protocol.Declaration{Kind: d, From: "2025-06-01", Text: "in writing, within 10 days"})
	}
	return m
}

var (
	mcBudapest = []protocol.Treaty{protocol.TreatyBudapest}
	mcProtocol = []protocol.Treaty{protocol.TreatyBudapest, protocol.TreatySecondProtocol}
	mcUN       = []protocol.Treaty{protocol.TreatyUN}
)

// mcScenario is one pair of states and one request: the terms both nodes
// derive with TermsFor, the grounds the law gives under them (checked
// against protocol.Grounds before exploring), and what the exploration must
// cover so that it cannot silently test nothing.
type mcScenario struct {
	name                     string
	facts                    protocol.RequestFacts
	requester, responder     protocol.Member
	check                    func(protocol.Terms) bool // the terms the law gives
	wantRefuse, wantWithhold []string
	minStates                int
	mustApply                []protocol.ActionName
	mustReach                []protocol.State
}

var mcScenarios = []mcScenario{
	{
		// Budapest Arts. 29-30, no reservation, traffic data asked for.
		name:      "preservation/budapest+traffic",
		facts:     protocol.RequestFacts{Kind: protocol.KindPreservation, ConventionArticles: []int{8}, DataCategories: []string{"subscriber", "traffic"}, Identifiers: 2},
		requester: mcMember("FR", "Europe/Paris", mcBudapest),
		// 90 days, renewable up to a year.
		responder: mcRegime(mcMember("NZ", "Pacific/Auckland", mcBudapest), 90, 365),
		check: func(t protocol.Terms) bool {
			return t.Treaty == protocol.TreatyBudapest && t.Traffic && !t.DualCriminality
		},
		// Art. 29(5)(a)-(b) and Art. 30(2)(a)-(b): "may only be refused/withheld if".
		wantRefuse:   []string{"political_offence", "essential_interests"},
		wantWithhold: []string{"political_offence", "essential_interests"},
		minStates:    100000,
		mustApply: []protocol.ActionName{protocol.ActAcknowledge, protocol.ActConfirmPreservation, protocol.ActRequestExtension,
			protocol.ActConfirmExtension, protocol.ActDeclineExtension, protocol.ActMLAReceived, protocol.ActReviewHold,
			protocol.ActMLADecided, protocol.ActRelease, protocol.ActWithdraw, protocol.ActRefuse, protocol.ActInsufficiency,
			protocol.ActProceed, protocol.ActPostpone, protocol.ActResume, protocol.ActDiscloseTraffic, protocol.ActWithholdTraffic,
			protocol.ActMLASubmitted, protocol.ActRequestInfo, protocol.ActProvideInfo, protocol.ActClose},
		mustReach: []protocol.State{protocol.StateClosed, protocol.StateReleased, protocol.StateMLAPending, protocol.StateMLADecided},
	},
	{
		// Budapest Art. 29(4) reservation in force, offence outside Arts.
		// 2-11: dual criminality becomes a ground; no traffic data asked for
		// (Art. 30(1)); formal confirmation required (Art. 25(3)); a domestic
		// maximum of 180 days.
		name:      "preservation/budapest-29(4)-no-traffic",
		facts:     protocol.RequestFacts{Kind: protocol.KindPreservation, DataCategories: []string{"content"}, Identifiers: 2},
		requester: mcMember("FR", "Europe/Paris", mcBudapest),
		// 90 + 90 days.
		responder: mcRegime(mcMember("AT", "Europe/Vienna", mcBudapest, protocol.ReservationDualCriminality, protocol.DeclarationFormalConfirmation), 90, 180),
		check: func(t protocol.Terms) bool {
			return t.Treaty == protocol.TreatyBudapest && !t.Traffic && t.DualCriminality && t.Confirmation == protocol.DeclarationFormalConfirmation
		},
		wantRefuse: []string{"political_offence", "essential_interests", "dual_criminality"},
		// Art. 30(2) has no dual-criminality ground.
		wantWithhold: []string{"political_offence", "essential_interests"},
		minStates:    100000,
		mustApply: []protocol.ActionName{protocol.ActConfirmPreservation, protocol.ActRefuse, protocol.ActConfirmationSent,
			protocol.ActRelease, protocol.ActConfirmExtension, protocol.ActClose},
		mustReach: []protocol.State{protocol.StateClosed, protocol.StateRefused},
	},
	{
		// UN Arts. 42-43, grounds of Art. 40(21)-(22).
		name:         "preservation/un+traffic",
		facts:        protocol.RequestFacts{Kind: protocol.KindPreservation, DataCategories: []string{"traffic"}, Identifiers: 1},
		requester:    mcMember("BR", "America/Sao_Paulo", mcUN),
		responder:    mcRegime(mcMember("NZ", "Pacific/Auckland", mcUN), 120, 240),
		check:        func(t protocol.Terms) bool { return t.Treaty == protocol.TreatyUN && t.Traffic && !t.DualCriminality },
		wantRefuse:   []string{"essential_interests", "not_in_conformity", "domestic_prohibition", "contrary_to_legal_system", "persecution"},
		wantWithhold: []string{"essential_interests", "not_in_conformity", "domestic_prohibition", "contrary_to_legal_system", "persecution"},
		minStates:    100000,
		mustApply: []protocol.ActionName{protocol.ActConfirmPreservation, protocol.ActRefuse, protocol.ActDiscloseTraffic,
			protocol.ActWithholdTraffic, protocol.ActMLAReceived, protocol.ActRelease, protocol.ActClose},
		mustReach: []protocol.State{protocol.StateClosed, protocol.StateReleased},
	},
	{
		// Protocol Art. 9: emergency disclosure; the determination may carry
		// conditions (9(6)); rejected conditions leave the requested Party
		// to decide (9(7)(a)); it may ask how the data were used (9(7)(b)).
		name:      "emergency/protocol-art9",
		facts:     protocol.RequestFacts{Kind: protocol.KindEmergency, Identifiers: 1},
		requester: mcMember("FR", "Europe/Paris", mcProtocol),
		responder: mcMember("NZ", "Pacific/Auckland", mcProtocol),
		check: func(t protocol.Terms) bool {
			return t.Treaty == protocol.TreatySecondProtocol && !t.SubscriberOnlyDeclared
		},
		wantRefuse: []string{"not_an_emergency", "not_held_in_territory", "emergency_determination"},
		minStates:  40000,
		mustApply: []protocol.ActionName{protocol.ActDetermine, protocol.ActAcceptConditions, protocol.ActRejectConditions,
			protocol.ActHandOver, protocol.ActRequestExplanation, protocol.ActExplainUse, protocol.ActRefuse, protocol.ActClose},
		mustReach: []protocol.State{protocol.StateClosed, protocol.StateDataProvided, protocol.StateConditionsRejected, protocol.StateRefused},
	},
	{
		// Protocol Art. 9(1)(b) declaration and a subscriber-only request;
		// Art. 9(5) resubmission required.
		name:      "emergency/protocol-art9(1)(b)+9(5)",
		facts:     protocol.RequestFacts{Kind: protocol.KindEmergency, SubscriberOnly: true, Identifiers: 1},
		requester: mcMember("FR", "Europe/Paris", mcProtocol),
		responder: mcMember("NZ", "Pacific/Auckland", mcProtocol, protocol.DeclarationSubscriberOnly, protocol.DeclarationResubmission),
		check: func(t protocol.Terms) bool {
			return t.Treaty == protocol.TreatySecondProtocol && t.SubscriberOnlyDeclared && t.Confirmation == protocol.DeclarationResubmission
		},
		wantRefuse: []string{"not_an_emergency", "not_held_in_territory", "emergency_determination", "subscriber_only_declaration"},
		minStates:  40000,
		mustApply:  []protocol.ActionName{protocol.ActDetermine, protocol.ActHandOver, protocol.ActRefuse, protocol.ActConfirmationSent, protocol.ActClose},
		mustReach:  []protocol.State{protocol.StateClosed, protocol.StateDataProvided, protocol.StateRefused},
	},
	{
		// Protocol Art. 10: emergency mutual assistance through the 24/7
		// point, where the requested Party declared it (10(9)).
		name:      "emergency_mla/protocol-art10",
		facts:     protocol.RequestFacts{Kind: protocol.KindEmergencyMLA, Identifiers: 1},
		requester: mcMember("FR", "Europe/Paris", mcProtocol),
		responder: mcMember("NZ", "Pacific/Auckland", mcProtocol, protocol.DeclarationEmergencyMLA),
		check: func(t protocol.Terms) bool {
			return t.Treaty == protocol.TreatySecondProtocol && t.Kind == protocol.KindEmergencyMLA
		},
		wantRefuse: []string{"political_offence", "essential_interests", "not_an_emergency", "mla_treaty_ground"},
		minStates:  40000,
		mustApply:  []protocol.ActionName{protocol.ActDetermine, protocol.ActPostpone, protocol.ActResume, protocol.ActHandOver, protocol.ActClose},
		mustReach:  []protocol.State{protocol.StateClosed, protocol.StateDataProvided},
	},
	{
		// Budapest Art. 35(1): assistance through the 24/7 point.
		name:       "assistance/budapest-art35",
		facts:      protocol.RequestFacts{Kind: protocol.KindAssistance},
		requester:  mcMember("FR", "Europe/Paris", mcBudapest),
		responder:  mcMember("NZ", "Pacific/Auckland", mcBudapest),
		check:      func(t protocol.Terms) bool { return t.Treaty == protocol.TreatyBudapest },
		wantRefuse: []string{"not_competent", "essential_interests", "other"},
		minStates:  20000,
		mustApply:  []protocol.ActionName{protocol.ActAcknowledge, protocol.ActAnswer, protocol.ActRefuse, protocol.ActWithdraw, protocol.ActClose},
		mustReach:  []protocol.State{protocol.StateClosed, protocol.StateAnswered},
	},
	{
		// A Budapest-only and a UN-only state share no treaty: the request
		// can only be taken up, discussed, refused on that ground,
		// withdrawn and closed.
		name:       "preservation/no-treaty-basis",
		facts:      protocol.RequestFacts{Kind: protocol.KindPreservation, DataCategories: []string{"traffic"}, Identifiers: 1},
		requester:  mcMember("FR", "Europe/Paris", mcBudapest),
		responder:  mcMember("BR", "America/Sao_Paulo", mcUN),
		check:      func(t protocol.Terms) bool { return t.Treaty == "" && t.Problem != "" },
		wantRefuse: []string{"no_treaty_basis"},
		minStates:  15000,
		mustApply:  []protocol.ActionName{protocol.ActAcknowledge, protocol.ActRefuse, protocol.ActWithdraw, protocol.ActClose},
		mustReach:  []protocol.State{protocol.StateClosed, protocol.StateRefused, protocol.StateWithdrawn},
	},
}

// mcRace reports whether the test binary was built with -race.
func mcRace() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestModelCheck explores the case protocol between a requester and a
// responder node exhaustively, up to a bound on the local actions and on
// faults, with messages lost, duplicated, delayed and reordered and either
// node crashing and restarting, on the real Rules, Check, Advance and
// Replay. For every reachable state it asserts:
//   - convergence: once every message arrived and both nodes run, both
//     keep the same case state and flag the same events invalid (and at
//     every moment each keeps what a replay of what it stored gives);
//   - safety: no applied release during the MLA hold or before the period
//     ends (Budapest Art. 29(7)); no confirmation for under sixty days or
//     starting before the request (Art. 29(7)); no extension moving the
//     expiry back (Art. 29(7)); no refusal or withholding on a ground the
//     treaty basis does not give (Arts. 29(4)-(5), 30(2); UN Arts. 40(21)-
//     (22), 42(4)-(5), 43(2); Protocol Art. 9(1)(b), 9(6)); no traffic
//     data disclosed or withheld where none was asked for (Art. 30(1));
//   - liveness: a state that is not over offers an action to someone, and
//     the case can always still be closed;
//   - the rules and the law agree on every concrete action tried: Check
//     accepts the lawful ones Available offers and refuses the unlawful
//     ones, and accepts nothing Available does not offer.
func TestModelCheck(t *testing.T) {
	passes := mcPasses(testing.Short() || mcRace())
	for _, sc := range mcScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel() // each world is its own; the machine's cores share the work
			terms := protocol.TermsFor(sc.facts, mcRequestedAt, sc.requester, sc.responder, 7)
			if !sc.check(terms) {
				t.Fatalf("TermsFor gave %+v, not the basis this scenario is about", terms)
			}
			if got := protocol.GroundKeys(terms, protocol.ActRefuse); !slices.Equal(got, sc.wantRefuse) {
				t.Errorf("refusal grounds %v, the law gives %v", got, sc.wantRefuse)
			}
			if sc.wantWithhold != nil {
				if got := protocol.GroundKeys(terms, protocol.ActWithholdTraffic); !slices.Equal(got, sc.wantWithhold) {
					t.Errorf("withholding grounds %v, the law gives %v", got, sc.wantWithhold)
				}
			}
			start := time.Now()
			w := newMCWorld(terms)
			seeds := w.explore(mcLegalLimit)
			st := &w.stats
			t.Logf("legal state space: %d states (state, period, hold, pending facts, day), %d transitions, BFS depth %d; %d seeds; %v",
				st.seqNodes, st.seqEdges, st.seqDepth, len(seeds), time.Since(start).Round(time.Millisecond))
			faulty := false
			for _, p := range passes {
				start, before := time.Now(), st.states
				from, levels := seeds[:1], 0
				if p.seeds {
					from = seeds[1:]
				}
				for _, seed := range from {
					levels = max(levels, w.concurrent(seed, p.depth, p.faults))
				}
				faulty = faulty || p.faults > 0
				t.Logf("concurrent, %s: %d states, BFS depth %d moves (bound: %d new local actions, %d faults); %v",
					p.name, st.states-before, levels, p.depth, p.faults, time.Since(start).Round(time.Millisecond))
			}
			t.Logf("%d states and %d transitions in all; %d quiescent states compared; %d distinct stored histories replayed and walked; %d events flagged invalid; deliveries: %d by Advance, %d by replay fallback; %d local actions refused by Check; %d liveness searches beyond the legal state space",
				st.states, st.transitions, st.quiescent, len(w.replays), st.flags, st.advances, st.fallbacks, st.refusedLocal, st.liveSearches)
			for _, k := range w.kinds {
				t.Errorf("%s: %s", k, w.violations[k])
			}
			minStates := sc.minStates
			if testing.Short() || mcRace() {
				minStates /= 10
			}
			if st.states < minStates {
				t.Errorf("explored only %d states (want at least %d): the checker is not exploring the protocol", st.states, minStates)
			}
			for _, a := range sc.mustApply {
				if st.applied[a] == 0 {
					t.Errorf("no explored path applies %s", a)
				}
			}
			for _, s := range sc.mustReach {
				if !st.reached[s] {
					t.Errorf("no explored path reaches %s", s)
				}
			}
			if faulty && (st.losses == 0 || st.duplicates == 0 || st.crashes == 0 || st.restarts == 0 || st.rogues == 0) {
				t.Errorf("faults not exercised: %d losses, %d duplicates, %d crashes, %d restarts, %d older-peer messages",
					st.losses, st.duplicates, st.crashes, st.restarts, st.rogues)
			}
			if st.fallbacks == 0 || st.flags == 0 {
				t.Errorf("no delivery needed the replay fallback (%d) or no event was flagged invalid (%d): crossing actions not explored",
					st.fallbacks, st.flags)
			}
		})
	}
}

// mcPass is one bound of the concurrent exploration: from the opening of
// the case or from every seed, with at most depth new local actions and
// faults faults on any path.
type mcPass struct {
	name          string
	seeds         bool
	depth, faults int
}

// mcPasses are the bounds of the concurrent exploration: deeper without
// faults, shallower with them. Losses, duplicates and crashes only delay
// (a duplicate changes nothing, a restarted node replays what it stored,
// which every state checks equals what it kept), so one fault on a shorter
// path already shows it; an older peer's message adds an event.
func mcPasses(reduced bool) []mcPass {
	depth, window, faults := 3, 2, 1
	if reduced {
		depth, window = 2, 1
	}
	if *mcDepthFlag > 0 {
		depth = *mcDepthFlag
	}
	if *mcWindowFlag > 0 {
		window = *mcWindowFlag
	}
	if *mcFaultsFlag >= 0 {
		faults = *mcFaultsFlag
	}
	return []mcPass{
		{"from the opening", false, depth, 0},
		{"from the opening, with faults", false, max(depth-1, 1), faults},
		{"from every seed", true, window, 0},
		{"from every seed, with faults", true, max(window-1, 1), faults},
	}
}

// The checker's encodings name every field of CaseState and LegalFacts; a
// new field must be added to them, or states that differ in it would be
// merged and their differences never compared.
func TestModelCheckEncodingCoversCaseState(t *testing.T) {
	if n := reflect.TypeOf(protocol.CaseState{}).NumField(); n != mcCaseFields {
		t.Errorf("CaseState has %d fields, the model checker encodes %d: update mcEnc.abstractCS/fullCS", n, mcCaseFields)
	}
	if n := reflect.TypeOf(protocol.LegalFacts{}).NumField(); n != mcLegalFields {
		t.Errorf("LegalFacts has %d fields, the model checker encodes %d: update mcEnc.abstractCS", n, mcLegalFields)
	}
}

// TestModelCheckHeldDataNotReleasedAfterWithdrawal is the shortest path the
// model checker finds to a release during the MLA hold. Budapest Art.
// 29(7): "Following the receipt of such a request, the data shall continue
// to be preserved pending a decision on that request." The requester's
// withdrawal of its preservation request does not decide the MLA request
// the requested side received, so the data may not be released until that
// decision is recorded.
func TestModelCheckHeldDataNotReleasedAfterWithdrawal(t *testing.T) {
	terms := protocol.TermsFor(mcScenarios[0].facts, mcRequestedAt, mcScenarios[0].requester, mcScenarios[0].responder, 7)
	day := terms.LocalDay(mcRequestedAt).Format(time.DateOnly)
	review := terms.LocalDay(mcRequestedAt).AddDate(0, 0, 30).Format(time.DateOnly)
	actions := []struct {
		by protocol.Role
		a  protocol.Action
	}{
		{protocol.Responder, protocol.Action{Action: protocol.ActConfirmPreservation, ExecutingAuthority: "Cybercrime Unit",
			DomesticLegalBasis: "Criminal Procedure Act s. 12", StartDate: day, PeriodDays: 90}},
		{protocol.Responder, protocol.Action{Action: protocol.ActMLAReceived, MLAReference: "MLA/2026/17", ReviewBy: review}},
		{protocol.Requester, protocol.Action{Action: protocol.ActWithdraw}},
	}
	var evs []protocol.Event
	for i, x := range actions {
		x.a.Seq, x.a.Operator = uint64(i+1), "duty officer"
		evs = append(evs, protocol.Event{MessageID: fmt.Sprintf("%02d", i+1), By: x.by, At: mcRequestedAt, Meta: protocol.MetaOf(&x.a)})
	}
	cs := protocol.Replay(terms, evs)
	if cs.State != protocol.StateWithdrawn || !cs.Hold {
		t.Fatalf("after a withdrawal during the hold: state %s, hold %v; want withdrawn with the hold", cs.State, cs.Hold)
	}
	release := protocol.Action{Action: protocol.ActRelease, Seq: 4, Operator: "duty officer"}
	ev := protocol.Event{MessageID: "04", By: protocol.Responder, At: mcRequestedAt.Add(24 * time.Hour), Meta: protocol.MetaOf(&release)}
	if next, err := protocol.Check(terms, cs, ev); err == nil {
		t.Errorf("Check lets the responder release held data (→ %s) before the MLA request is decided (Budapest Art. 29(7))", next)
	}
	if h := protocol.Replay(terms, append(evs, ev)).History[3]; h.Invalid == "" {
		t.Errorf("Replay applies the release during the MLA hold (→ %s); Budapest Art. 29(7) keeps the data pending the decision", h.To)
	}
}
