package console

import (
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/protocol"
)

// block returns the text of the JavaScript declaration that starts with
// head, up to its closing line (a line starting with end).
func block(t *testing.T, src, head, end string) string {
	t.Helper()
	i := strings.Index(src, head)
	if i < 0 {
		t.Fatalf("no %q", head)
	}
	j := strings.Index(src[i:], "\n"+end)
	if j < 0 {
		t.Fatalf("%q is not closed by %q", head, end)
	}
	return src[i : i+j]
}

func matches(re, text string, group int) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(text, -1) {
		out = append(out, m[group])
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Every rule of the transition table has a form, and the console has no
// form for an action the protocol does not know (protocol/lifecycle.go).
func TestEveryRuleHasAForm(t *testing.T) {
	forms := matches(`(?m)^  (\w+): \{`, block(t, readAsset(t, "schema.js"), "export const actions = {", "};"), 1)
	var rules []string
	for _, r := range protocol.Rules {
		rules = append(rules, string(r.Action))
	}
	sort.Strings(rules)
	if !slices.Equal(forms, rules) {
		t.Errorf("schema.js has forms for %v; protocol.Rules has %v", forms, rules)
	}
}

// The closed lists the forms offer are the protocol's: the Art. 29(6)
// reasons, the outcomes per identifier (Art. 27(6)), the MLA decisions
// (Art. 29(7)), the determinations (Protocol Art. 9(6)) and the outcomes
// of a case.
func TestClosedListsMatchProtocol(t *testing.T) {
	src := readAsset(t, "schema.js")
	list := func(name string) []string {
		return matches(`\['(\w+)', `, block(t, src, "export const "+name+" = [", "];"), 1)
	}
	for name, want := range map[string][]string{
		"insufficiencyReasons": sortedKeys(protocol.InsufficiencyReasons),
		"identifierOutcomes":   sortedKeys(protocol.IdentifierOutcomes),
		"mlaDecisions":         sortedKeys(protocol.MLADecisions),
		"outcomes":             sortedKeys(protocol.Outcomes),
		"determineDecisions":   {"provide", "provide_with_conditions", "refuse"},
	} {
		if got := list(name); !slices.Equal(got, want) {
			t.Errorf("schema.js %s = %v, protocol has %v", name, got, want)
		}
	}
}

// allGroundKeys are the keys of every ground protocol.Grounds can offer.
func allGroundKeys() map[string]bool {
	keys := map[string]bool{}
	for _, kind := range []protocol.RequestKind{protocol.KindPreservation, protocol.KindEmergency, protocol.KindEmergencyMLA, protocol.KindAssistance} {
		for _, tr := range []protocol.Treaty{"", protocol.TreatyBudapest, protocol.TreatySecondProtocol, protocol.TreatyUN} {
			for _, flag := range []bool{false, true} {
				terms := protocol.Terms{Kind: kind, Treaty: tr, DualCriminality: flag, SubscriberOnlyDeclared: flag}
				for _, a := range []protocol.ActionName{protocol.ActRefuse, protocol.ActWithholdTraffic} {
					for _, k := range protocol.GroundKeys(terms, a) {
						keys[k] = true
					}
				}
			}
		}
	}
	return keys
}

// Grounds of refusal and withholding depend on the treaty basis, the kind
// and the reservations (Budapest Arts. 29(4)-(5), 30(2); UN Arts. 40, 42,
// 43; Protocol Art. 9): the console takes them from the case's
// legal.actions and hard-codes none. dual_criminality is named once, as
// the ground whose refusal needs reasons to believe (Art. 29(4)); "other"
// is also an outcome of a case.
func TestNoHardCodedGrounds(t *testing.T) {
	keys := allGroundKeys()
	if !keys["political_offence"] || !keys["persecution"] {
		t.Fatalf("ground keys %v lack the Budapest and UN grounds: the test would check nothing", keys)
	}
	for name, src := range jsFiles(t) {
		for k := range keys {
			if k == "other" {
				continue
			}
			n := strings.Count(src, "'"+k+"'")
			if k == "dual_criminality" && name == "schema.js" && n == 1 {
				continue
			}
			if n > 0 {
				t.Errorf("%s names the ground '%s' %d times; grounds come from legal.actions", name, k, n)
			}
		}
	}
}

// The treaties and declarations the console names are the protocol's
// (protocol/treaty.go), with the same names for the treaties.
func TestTreatiesAndDeclarationsMatchProtocol(t *testing.T) {
	src := readAsset(t, "legal.js")
	names := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (\w+): '([^']*)',$`).FindAllStringSubmatch(block(t, src, "export const treatyNames = {", "};"), -1) {
		names[m[1]] = m[2]
	}
	want := map[string]string{}
	for k, v := range protocol.Treaties {
		want[string(k)] = v
	}
	if !maps.Equal(names, want) {
		t.Errorf("legal.js treatyNames = %v, protocol.Treaties = %v", names, want)
	}
	decls := matches(`(?m)^  (\w+): '`, block(t, src, "export const declarationLabels = {", "};"), 1)
	var kinds []string
	for k := range protocol.DeclarationKinds {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	if !slices.Equal(decls, kinds) {
		t.Errorf("legal.js declarationLabels has %v, protocol.DeclarationKinds %v", decls, kinds)
	}
}
