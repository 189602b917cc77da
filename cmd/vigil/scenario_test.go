package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/testnet/scenario"
)

// smallScenario exercises every kind of step on three nodes.
const smallScenario = `
name: small
nodes: 3 # FR DE NL
time_scale: 60
steps:
  - send: {from: FR, to: [DE, NL], kind: all, label: warm-up}
  - wait: {delivered: warm-up, timeout: 30s}
  - kill: DE
  - send: {from: [FR, NL], to: DE, kind: preservation, label: outage}
  - expect: {undelivered: outage}
  - wait: {duration: 1m}          # 1 s at time scale 60
  - start: DE
  - partition: {isolate: NL}
  - send: {from: FR, to: NL, kind: emergency, label: cut-off}
  - wait: {duration: 1m}
  - expect: {undelivered: cut-off}
  - heal: all
  - clock: {node: DE, skew: -10m} # NL's envelopes look 10 minutes early to DE
  - send: {from: NL, to: DE, kind: assistance, label: skewed}
  - wait: {duration: 1m}
  - expect: {undelivered: skewed}
  - clock: {node: DE, skew: 0s}
  - roster: {via: NL}
  - restart: NL
  - wait: {delivered: all, timeout: 45s}
  - acknowledge: all
  - wait: {settled: all, timeout: 30s}
`

// TestScenarioEndToEnd runs a scenario against three nodes as real
// processes (this test binary re-executed as vigil) and checks the
// runner's verdict: every request delivered exactly once with a verified
// receipt, the same state on both sides, no process left behind.
func TestScenarioEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	sc, err := scenario.Parse([]byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	rep := runScenario(t, sc, scenario.Options{CheckTimeout: 30 * time.Second}, 2*time.Minute)
	if len(rep.Requests) != 10 {
		t.Errorf("%d requests sent, want 10", len(rep.Requests))
	}
	for _, q := range rep.Requests {
		if q.SenderState != "acknowledged" || q.ReceiverState != "acknowledged" {
			t.Errorf("%s→%s %s: states %s/%s, want acknowledged on both sides", q.From, q.To, q.Label, q.SenderState, q.ReceiverState)
		}
	}
}

// runScenario plays sc against a new testnet of this test binary's nodes
// and fails t unless the runner's end-of-run check passes: every request
// delivered exactly once with a verified receipt, the same state on both
// sides, no node process left running.
func runScenario(t *testing.T, sc *scenario.Scenario, o scenario.Options, limit time.Duration) *scenario.Report {
	t.Helper()
	o.Exe, o.Parent, o.Examples = os.Args[0], t.TempDir(), "../../configs/examples"
	var out strings.Builder
	o.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	rep, err := scenario.Run(ctx, sc, o)
	if rep != nil {
		rep.WriteText(&out)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("scenario failed: %v", rep.Failures)
	}
	if len(rep.Requests) == 0 {
		t.Fatal("the scenario sent no requests")
	}
	for _, q := range rep.Requests {
		if !q.Verified || q.IncomingCases != 1 || q.RequestMessages != 1 || q.SenderState != q.ReceiverState {
			t.Errorf("%s→%s %s: %+v", q.From, q.To, q.Label, q)
		}
	}
	if rep.Orphans != 0 {
		t.Errorf("%d node processes left running", rep.Orphans)
	}
	return rep
}

// TestScenarioFailsLoudly checks that a failed expectation makes
// 'vigil testnet scenario' exit non-zero with the failure in its report.
func TestScenarioFailsLoudly(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(`
name: bad
nodes: 2
steps:
  - kill: DE
  - send: {from: FR, to: DE, kind: preservation, label: lost}
  - expect: {delivered: lost}
`), 0o644)
	out, err := vigil(t, "testnet", "scenario", path, "--tmp", dir, "--examples", "../../configs/examples", "--check-timeout", "1s")
	if err == nil {
		t.Fatalf("a failed scenario exited 0:\n%s", out)
	}
	for _, want := range []string{"expected lost delivered", "FAIL", "scenario bad failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestShippedScenarios runs every example in configs/scenarios, as the
// secretariat would, with the waits compressed (an hour in a second) so
// the suite stays short. Each must pass the runner's end-of-run check.
func TestShippedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	files, err := filepath.Glob("../../configs/scenarios/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 shipped scenarios, found %v (%v)", files, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			sc, err := scenario.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			runScenario(t, sc, scenario.Options{TimeScale: 3600, CheckTimeout: time.Minute}, 4*time.Minute)
		})
	}
}
