package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/node/bench/federation"
)

// TestTestnetBenchGrouped runs 'vigil testnet bench' on a small testnet
// whose nodes share processes, the layout large testnets use: groups
// start, form a full mesh, answer drills, spread a roster, carry load and
// stop with nothing left behind, and the report says so.
func TestTestnetBenchGrouped(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	out, err := vigil(t, "testnet", "bench", "--nodes", "6", "--per-process", "3", "--tmp", t.TempDir(),
		"--examples", "../../configs/examples", "--settle", "1s", "--cpu-window", "1s", "--drills", "1",
		"--senders", "2", "--rate", "2", "--load-for", "3s", "--json")
	if err != nil {
		t.Fatalf("bench failed: %v\n%s", err, out)
	}
	var rep federation.Report
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	// FR alone (the floor), then DE.. in groups of three: 1 + 2 processes.
	if rep.Nodes != 6 || rep.PerProcess != 3 || rep.Processes != 3 {
		t.Errorf("%d nodes in %d processes (%d per process), want 6 in 3 (3)", rep.Nodes, rep.Processes, rep.PerProcess)
	}
	if rep.MeshComplete != 6 {
		t.Errorf("full mesh on %d of 6 nodes", rep.MeshComplete)
	}
	if len(rep.Drills) != 1 || rep.Drills[0].Reachable != 5 || rep.Drills[0].Targets != 5 {
		t.Errorf("drills: %+v", rep.Drills)
	}
	if rep.RosterNodesAtEnd != 6 || rep.RosterLogged != 6 {
		t.Errorf("roster serial %d reached %d nodes (%d by their logs), want 6", rep.RosterSerial, rep.RosterNodesAtEnd, rep.RosterLogged)
	}
	if l := rep.Load; l.Submitted == 0 || l.Delivered != l.Submitted || l.Verified != l.Submitted || l.SubmitErrors != 0 {
		t.Errorf("load: %d submitted, %d delivered, %d verified, %d errors", l.Submitted, l.Delivered, l.Verified, l.SubmitErrors)
	}
	if f := rep.Floor.Latency; f == nil || f.Fsync.N == 0 || f.RoundTrip.N == 0 || f.Latency <= 0 {
		t.Errorf("latency floor not measured: %+v", f)
	}
	if rep.RSSMiB.N != 6 || rep.RSSMiB.P50 <= 0 {
		t.Errorf("memory per node: %+v", rep.RSSMiB)
	}
	if rep.Orphans != 0 || len(rep.Errors) != 0 {
		t.Errorf("%d orphan processes, errors %v", rep.Orphans, rep.Errors)
	}
}
