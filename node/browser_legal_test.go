package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// legalBases: FR is Party to the Budapest and UN Conventions; DE to the
// Budapest Convention, with a dual-criminality reservation under its Art.
// 29(4); NL to the UN Convention only. The dates are a testnet's, not the
// real states'.
func legalBases() map[string]testnet.TreatyBasis {
	return map[string]testnet.TreatyBasis{
		"FR": {Treaties: []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2006-05-01"}, {Treaty: protocol.TreatyUN, From: "2025-01-01"}}},
		"DE": {Treaties: []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}},
			Declarations: []protocol.Declaration{{Kind: protocol.ReservationDualCriminality, From: "2009-07-01"}}},
		"NL": {Treaties: []protocol.Party{{Treaty: protocol.TreatyUN, From: "2025-01-01"}}},
	}
}

// The grounds each requested state may refuse FR's preservation request
// on, for an offence the request ties to none of Budapest Arts. 2-11
// (configs/examples/preservation.json names no convention article).
var (
	// Budapest Art. 29(5)(a)-(b), and 29(4) with DE's reservation in force.
	budapestGrounds  = []string{"political_offence", "essential_interests", "dual_criminality"}
	budapestArticles = []string{"Budapest Art. 29(5)(a)", "Budapest Art. 29(5)(b)", "Budapest Art. 29(4)"}
	// UN Arts. 40(21)-(22) by Art. 42(5): no political-offence ground, and
	// no dual criminality without an Art. 42(4) reservation.
	unGrounds = []string{"essential_interests", "not_in_conformity", "domestic_prohibition", "contrary_to_legal_system", "persecution"}
)

func groundKeysOf(v types.CaseView, action string) []string {
	var out []string
	for _, g := range v.Legal.Actions[action].Grounds {
		out = append(out, g.Key)
	}
	return out
}

// evalJS evaluates a JavaScript expression in the page and decodes its
// value into out.
func (b *consoleBrowser) evalJS(ctx context.Context, expr string, out any) {
	b.t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluate %s: decode %s: %v", expr, raw, err)
	}
}

// openCase opens a case page in the console of cc and waits for it.
func (b *consoleBrowser) openCase(ctx context.Context, cc, caseID string) {
	b.t.Helper()
	b.run(ctx, cc+" opens case "+caseID,
		chromedp.Navigate(b.f.entry(cc).API+"/ui/cases/"+caseID),
		until(`document.querySelector('#case-state')?.textContent.trim().length > 0`),
		chromedp.WaitVisible(css("#case-legal dl")))
}

const (
	groundValues   = `Array.from(document.querySelectorAll('#action-form input[name="ground"]')).map(x => x.value)`
	groundArticles = `Array.from(document.querySelectorAll('#action-form fieldset.radios .article')).map(x => x.textContent.trim())`
)

// TestConsoleTreatyBasesInBrowser drives the consoles of three real nodes
// with different treaty bases in a real headless Chromium. FR sends the
// same preservation request to DE (Budapest, with an Art. 29(4)
// reservation) and to NL (UN Convention only). DE's refusal form offers the
// grounds of Budapest Art. 29(4)-(5) and demands reasons to believe for
// dual criminality; NL's offers the UN grounds (UN Arts. 40(21)-(22),
// 42(5)) and no political-offence ground; FR, the requester, has no refusal
// form. The API says the same on each side, and the Network page shows
// every member's treaties and declarations.
func TestConsoleTreatyBasesInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederationInit(t, testnet.InitOptions{Nodes: 3, TreatyBases: legalBases()}, nil)
	f.addUser("FR", "claire", "operator", "claire-night-shift-pass")
	f.addUser("DE", "anna", "operator", "anna-night-shift-pass")
	f.addUser("NL", "noor", "operator", "noor-night-shift-pass")

	toDE := f.submit("FR", "DE").CaseID
	toNL := f.submit("FR", "NL").CaseID
	f.waitDelivered("FR", toDE)
	f.waitDelivered("FR", toNL)

	// The API: the terms and grounds each side computes.
	de, _ := f.caseView("DE", toDE)
	if de.Legal == nil || de.Legal.Terms.Treaty != protocol.TreatyBudapest || !de.Legal.Terms.DualCriminality {
		t.Fatalf("DE terms: %+v", de.Legal)
	}
	if got := groundKeysOf(de, "refuse"); !slices.Equal(got, budapestGrounds) {
		t.Errorf("DE API refuse grounds = %v, want %v (Budapest Art. 29(4)-(5))", got, budapestGrounds)
	}
	nl, _ := f.caseView("NL", toNL)
	if nl.Legal == nil || nl.Legal.Terms.Treaty != protocol.TreatyUN || nl.Legal.Terms.DualCriminality {
		t.Fatalf("NL terms: %+v", nl.Legal)
	}
	if got := groundKeysOf(nl, "refuse"); !slices.Equal(got, unGrounds) {
		t.Errorf("NL API refuse grounds = %v, want %v (UN Arts. 40(21)-(22), 42(5))", got, unGrounds)
	}
	for _, id := range []string{toDE, toNL} {
		fr, _ := f.caseView("FR", id)
		if slices.Contains(fr.Available, "refuse") || fr.Legal == nil || len(fr.Legal.Actions["refuse"].Grounds) > 0 {
			t.Errorf("FR, the requester, may refuse case %s: available %v", id, fr.Available)
		}
		if !slices.Contains(fr.Available, "withdraw") {
			t.Errorf("FR cannot withdraw case %s: available %v", id, fr.Available)
		}
	}

	b := startBrowser(t, f, exe)
	deTab, nlTab, frTab := b.tab(), b.tab(), b.tab()
	b.login(deTab, "DE", "anna", "anna-night-shift-pass")
	b.login(nlTab, "NL", "noor", "noor-night-shift-pass")
	b.login(frTab, "FR", "claire", "claire-night-shift-pass")

	// DE: the Budapest basis and the reservation that applies.
	b.openCase(deTab, "DE", toDE)
	if got := b.text(deTab, "#case-legal .legal-treaty dd"); !strings.Contains(got, "Convention on Cybercrime (Budapest, ETS 185)") {
		t.Errorf("DE treaty basis: %q", got)
	}
	if got := b.text(deTab, "#case-legal .legal-reservations dd"); !strings.Contains(got, "Dual criminality (Budapest Art. 29(4))") {
		t.Errorf("DE reservations: %q", got)
	}
	b.run(deTab, "DE opens the refusal form",
		chromedp.Click(css(`button[data-action="refuse"]`)),
		chromedp.WaitVisible(css(`#action-form input[name="ground"]`)))
	var grounds, articles []string
	b.evalJS(deTab, groundValues, &grounds)
	b.evalJS(deTab, groundArticles, &articles)
	if !slices.Equal(grounds, budapestGrounds) || !slices.Equal(articles, budapestArticles) {
		t.Errorf("DE refusal form: grounds %v with articles %v, want %v with %v", grounds, articles, budapestGrounds, budapestArticles)
	}
	if got := b.text(deTab, "#action-article"); !strings.Contains(got, "Budapest Arts. 27(4), 29(4)-(5)") {
		t.Errorf("DE refusal form cites %q", got)
	}
	screenshot(t, deTab, "legal-refuse-de")

	// Budapest Art. 29(4): reasons to believe, asked only for dual
	// criminality, and required by the node.
	hiddenRTB := `document.querySelector('[name="reasons_to_believe"]').closest('[data-when-field]').hidden`
	var hidden bool
	b.evalJS(deTab, hiddenRTB, &hidden)
	if !hidden {
		t.Error("reasons to believe is asked before dual criminality is chosen")
	}
	b.run(deTab, "DE chooses dual criminality",
		chromedp.Click(css(`#action-form input[name="ground"][value="dual_criminality"]`)),
		until(`!(`+hiddenRTB+`)`),
		chromedp.SendKeys(css(`#action-form [name="reasons"]`), "Under German law the conduct described is not an offence."),
		chromedp.Click(css("#action-submit")),
		chromedp.WaitVisible(css(`.field-error[data-field="confirm_danger"]`)))
	b.run(deTab, "DE confirms without reasons to believe",
		chromedp.Click(css("#action-confirm")),
		chromedp.Click(css("#action-submit")),
		chromedp.WaitVisible(css(`.field-error[data-field="reasons_to_believe"]`)))
	if got := b.text(deTab, `.field-error[data-field="reasons_to_believe"]`); !strings.Contains(got, "Art. 29(4)") {
		t.Errorf("reasons-to-believe error: %q", got)
	}
	b.run(deTab, "DE refuses on dual criminality",
		chromedp.Click(css(`#action-form [name="reasons_to_believe"]`)),
		chromedp.Click(css("#action-submit")),
		until(`document.querySelector('#case-state').textContent.trim() === 'refused' || !document.querySelector('#action-error').hidden`))
	if st := b.text(deTab, "#case-state"); st != "refused" {
		var errs []string
		b.evalJS(deTab, `Array.from(document.querySelectorAll('.field-error')).map(x => x.dataset.field + ': ' + x.textContent).concat([String(document.querySelector('[name="reasons_to_believe"]').checked)])`, &errs)
		t.Fatalf("DE's refusal was not taken: state %s, %q %v", st, b.text(deTab, "#action-error"), errs)
	}
	f.waitState(toDE, "refused", "FR")

	// NL: the UN basis, its grounds, no political offence.
	b.openCase(nlTab, "NL", toNL)
	if got := b.text(nlTab, "#case-legal .legal-treaty dd"); !strings.Contains(got, "UN Convention against Cybercrime") {
		t.Errorf("NL treaty basis: %q", got)
	}
	if got := b.text(nlTab, "#case-legal .legal-reservations dd"); !strings.Contains(got, "none of the requested state's reservations applies") {
		t.Errorf("NL reservations: %q", got)
	}
	// Every form open to NL shows its rule's article and builds in full
	// (the operator, filled in last, is there).
	var forms []struct{ Action, Title, Article, Operator string }
	b.evalJS(nlTab, `Array.from(document.querySelectorAll('#case-actions button[data-action]')).map(btn => {
		btn.click();
		return { Action: btn.dataset.action, Title: document.querySelector('#action-title').textContent,
			Article: document.querySelector('#action-article')?.textContent ?? '',
			Operator: document.querySelector('#action-fields [name="operator"]')?.value ?? '' };
	})`, &forms)
	if len(forms) != len(nl.Available) {
		t.Errorf("NL's console shows %d actions, the API %v", len(forms), nl.Available)
	}
	for _, fm := range forms {
		if want := nl.Legal.Actions[fm.Action].Article; fm.Article != want || fm.Title == "" || fm.Operator != "noor" {
			t.Errorf("NL form %s: title %q, article %q (want %q), operator %q", fm.Action, fm.Title, fm.Article, want, fm.Operator)
		}
	}
	b.run(nlTab, "NL opens the refusal form",
		chromedp.Click(css(`button[data-action="refuse"]`)),
		chromedp.WaitVisible(css(`#action-form input[name="ground"]`)))
	b.evalJS(nlTab, groundValues, &grounds)
	if !slices.Equal(grounds, unGrounds) || slices.Contains(grounds, "political_offence") {
		t.Errorf("NL refusal form offers %v, want %v", grounds, unGrounds)
	}
	b.evalJS(nlTab, groundArticles, &articles)
	if !slices.Contains(articles, "UN Art. 40(22)") {
		t.Errorf("NL refusal form articles %v lack UN Art. 40(22) (persecution)", articles)
	}
	screenshot(t, nlTab, "legal-refuse-nl")

	// FR, the requester: the basis of each case, and no refusal form.
	for _, c := range []struct{ id, treaty string }{{toDE, "budapest"}, {toNL, "un"}} {
		b.openCase(frTab, "FR", c.id)
		b.run(frTab, "FR's actions on "+c.id, chromedp.WaitVisible(css(`#case-actions button[data-action]`)))
		var refuse bool
		b.evalJS(frTab, `!!document.querySelector('button[data-action="refuse"], #action-form input[name="ground"]')`, &refuse)
		if refuse {
			t.Errorf("FR's console offers a refusal on case %s", c.id)
		}
		var treaty string
		b.evalJS(frTab, `document.querySelector('#case-legal .legal-treaty [data-treaty]')?.dataset.treaty ?? ''`, &treaty)
		if treaty != c.treaty {
			t.Errorf("FR's console shows case %s under %q, want %q", c.id, treaty, c.treaty)
		}
	}

	// The Network page: every member's treaties and declarations.
	b.run(frTab, "FR's Network page",
		chromedp.Click(css("#nav-network")),
		chromedp.WaitVisible(css(`#treaties-table tr[data-country="NL"] td.treaties`)))
	member := func(cc, sel string) []string {
		var out []string
		b.evalJS(frTab, fmt.Sprintf(`Array.from(document.querySelectorAll('#treaties-table tr[data-country="%s"] %s')).map(x => x.dataset.treaty || x.dataset.declaration)`, cc, sel), &out)
		return out
	}
	for cc, want := range map[string][]string{"FR": {"budapest", "un"}, "DE": {"budapest"}, "NL": {"un"}} {
		if got := member(cc, "td.treaties li"); !slices.Equal(got, want) {
			t.Errorf("Network page: %s is Party to %v, want %v", cc, got, want)
		}
	}
	if got := member("DE", "td.declarations li"); !slices.Equal(got, []string{"budapest_29_4"}) {
		t.Errorf("Network page: DE declarations %v", got)
	}
	if got := b.text(frTab, `#treaties-table tr[data-country="DE"] td.treaties`); !strings.Contains(got, "since 2009-07-01") {
		t.Errorf("Network page: DE treaty dates: %q", got)
	}
	screenshot(t, frTab, "legal-network-fr")

	// The compose form shows the recipient's treaty basis next to it.
	b.run(frTab, "FR composes to NL",
		chromedp.Click(css("#nav-compose")), chromedp.WaitVisible(css("#compose-form")),
		until(`document.querySelectorAll('#compose-to option').length > 2`),
		setField("#compose-to", "NL"),
		chromedp.WaitVisible(css(`#compose-basis li[data-treaty="un"]`)))
	var composeBasis []string
	b.evalJS(frTab, `Array.from(document.querySelectorAll('#compose-basis li')).map(x => x.dataset.treaty)`, &composeBasis)
	if !slices.Equal(composeBasis, []string{"un"}) {
		t.Errorf("compose: NL's treaty basis shown as %v, want [un]", composeBasis)
	}

	var peers types.PeerList
	if code := f.api("NL", "GET", "/api/v1/peers", nil, &peers); code != http.StatusOK {
		t.Fatalf("NL peers: HTTP %d", code)
	}
	for _, p := range peers.Peers {
		if p.Country == "DE" && (len(p.Declarations) != 1 || p.Declarations[0].Kind != protocol.ReservationDualCriminality) {
			t.Errorf("NL's API shows DE's declarations as %+v", p.Declarations)
		}
	}
}

// TestConsoleEmergencyVerificationInBrowser: the receiving console of an
// emergency request (Protocol Art. 9) shows the requester's verification
// contact first, the usual defence against forged emergency requests, and
// the determination form offers the Protocol's decisions and grounds, not
// the Art. 29 ones.
func TestConsoleEmergencyVerificationInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2) // testnet members are Parties to the Convention and its Protocol
	f.addUser("DE", "anna", "operator", "anna-night-shift-pass")
	sub := f.submitKind("FR", "DE", "emergency.json")
	f.waitDelivered("FR", sub.CaseID)

	b := startBrowser(t, f, exe)
	de := b.tab()
	b.login(de, "DE", "anna", "anna-night-shift-pass")
	b.openCase(de, "DE", sub.CaseID)
	// The console names its node: country and organisation (issue 12).
	var health types.Health
	if code := f.api("DE", "GET", "/healthz", nil, &health); code != http.StatusOK || health.Organisation == "" {
		t.Fatalf("DE /healthz: HTTP %d, organisation %q", code, health.Organisation)
	}
	if got := b.text(de, ".brand [data-node-organisation]"); got != health.Organisation {
		t.Errorf("top bar names the organisation %q, want %q", got, health.Organisation)
	}
	b.run(de, "DE sees the verification box", chromedp.WaitVisible(css("#case-verify .verify-person")))
	if got := b.text(de, "#case-verify .verify-person"); got != "Commandant Marc Lefèvre" {
		t.Errorf("verification contact shown as %q", got)
	}
	if got := b.text(de, "#case-verify .verify-phone"); !strings.Contains(got, "+33 1 00 00 00 10") {
		t.Errorf("verification phone shown as %q", got)
	}
	if got := b.text(de, "#case-legal .legal-treaty dd"); !strings.Contains(got, "Second Additional Protocol") {
		t.Errorf("emergency treaty basis: %q", got)
	}
	b.run(de, "DE opens the refusal form",
		chromedp.Click(css(`button[data-action="refuse"]`)),
		chromedp.WaitVisible(css(`#action-form input[name="ground"]`)))
	var grounds []string
	b.evalJS(de, groundValues, &grounds)
	if slices.Contains(grounds, "political_offence") || !slices.Contains(grounds, "not_an_emergency") {
		t.Errorf("emergency refusal grounds %v: want the Protocol's (Art. 9(6), Art. 3(2)(c)), not Art. 29(5)'s", grounds)
	}
	screenshot(t, de, "legal-emergency-verify-de")
}
