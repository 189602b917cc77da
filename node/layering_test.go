package node_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/vigil-network/vigil"

// floors places every package of the module on a floor of the daemon's
// house (see README "Layout"): a package may import only packages on lower
// floors. A new package must be given its floor here, so the layering is a
// decision, not an accident.
var floors = map[string]int{
	"protocol": 0,
	// store/journal is the store's own write-ahead log: below store,
	// importing nothing of ours.
	"store/journal": 1,
	"store":         2,

	// configs embeds the shipped examples and imports nothing of ours;
	// floor 2 is store's alone (TestLayeringRules), so it sits on 3.
	"configs": 3,

	"node/config":    3,
	"node/events":    3,
	"node/accounts":  3,
	"node/console":   3,
	"node/admission": 3,
	"node/actor":     3,
	"node/api/types": 3,

	"node/transport": 4,
	"node/authority": 4,
	"node/alerts":    4,

	"node/roster": 5,
	"node/cases":  5,

	"node/mesh":     6,
	"node/deliver":  6,
	"node/schedule": 6,

	"node/drills": 7,

	"node/api":        8,
	"node/api/client": 8,

	"node": 9,

	"node/testnet":          10,
	"node/testnet/scenario": 11,

	"node/bench/hostile":    11,
	"node/bench":            12,
	"node/bench/flood":      13,
	"node/bench/federation": 13,

	"cmd/vigil": 14,
}

// TestLayering fails when a package (tests aside) imports against the
// layering: protocol imports nothing of ours, store at most protocol, no part
// under node/ imports node, and only cmd imports node/testnet and node/bench.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		floor, known := floors[pkg]
		if !known {
			bad = append(bad, pkg+": not placed in the layering table")
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			df, ok := floors[dep]
			switch {
			case !ok:
				bad = append(bad, pkg+" imports "+dep+", which has no floor")
			case df >= floor:
				bad = append(bad, pkg+" imports "+dep+" (same floor or above)")
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// TestLayeringRules pins the rules issue 10 states in words, so editing the
// floor table cannot quietly relax them.
func TestLayeringRules(t *testing.T) {
	for pkg, f := range floors {
		if pkg != "protocol" && f <= floors["protocol"] {
			t.Errorf("%s sits on protocol's floor: protocol must import nothing of ours and nothing may share its floor", pkg)
		}
		if pkg != "store" && pkg != "protocol" && !strings.HasPrefix(pkg, "store/") && f <= floors["store"] {
			t.Errorf("%s sits at or below store's floor", pkg)
		}
		if strings.HasPrefix(pkg, "node/") && !strings.HasPrefix(pkg, "node/testnet") && !strings.HasPrefix(pkg, "node/bench") && f >= floors["node"] {
			t.Errorf("%s sits at or above node: parts under node/ must not import node", pkg)
		}
		if !strings.HasPrefix(pkg, "node/testnet") && !strings.HasPrefix(pkg, "node/bench") && pkg != "cmd/vigil" &&
			(f > floors["node/testnet"] || f > floors["node/bench"]) {
			t.Errorf("%s sits above node/testnet or node/bench: only cmd may import them", pkg)
		}
	}
}
