package scenario

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/testnet"
)

func TestParseScenario(t *testing.T) {
	sc, err := Parse([]byte(`
name: x
nodes: 4
time_scale: 60
groups:
  eu: [FR, DE]
steps:
  - send: {from: FR, to: [DE, NL], kind: all, count: 2, label: a}
  - stop: DE
  - partition: {groups: [eu, others]}
  - heal: all
  - wait: {duration: 1h}
  - rotate_key: {node: DE, via: FR}
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Nodes != 4 || sc.TimeScale != 60 || len(sc.Steps) != 6 || len(sc.Groups["eu"]) != 2 {
		t.Fatalf("parsed %+v", sc)
	}
	if s, ok := sc.Steps[0].Action.(*Send); !ok || s.Count != 2 || len(s.To) != 2 || s.From[0] != "FR" {
		t.Errorf("send step %+v", sc.Steps[0])
	}
	stop, _ := sc.Steps[1].Action.(*Stop)
	heal, _ := sc.Steps[3].Action.(*Heal)
	wait, _ := sc.Steps[4].Action.(*Wait)
	if stop == nil || stop.NodeList[0] != "DE" || heal == nil || heal.NodeList[0] != "all" || wait == nil || wait.Duration != time.Hour {
		t.Errorf("steps %+v", sc.Steps)
	}
	for _, tc := range []struct{ doc, want string }{
		{"steps: [{sned: {from: FR}}]", "sned"},
		{"steps: [{stop: DE, kill: FR}]", "exactly one action"},
		{"steps: [{}]", "exactly one action"},
		{"name: x", "no steps"},
		{"steps: [{wait: {duration: soon}}]", "time.Duration"},
	} {
		if _, err := Parse([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.doc, err, tc.want)
		}
	}
}

// stageKeyConfig rewrites the two key settings of a real node config,
// whatever YAML style they are in, keeps the comments, and refuses a file
// it cannot rewrite without touching it.
func TestStageKeyConfig(t *testing.T) {
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := m.Nodes[1].Config
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A hand-edited config: block-style list of previous keys.
	edited := strings.Replace(string(orig), "previous_encryption_keys: []", "previous_encryption_keys:\n  - keys/encryption-old.key", 1)
	if edited == string(orig) {
		t.Fatal("the init config has no 'previous_encryption_keys: []' line to edit")
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	staged, err := stageKeyConfig(path, "keys/encryption-2.key", []string{"keys/encryption-old.key", "keys/encryption.key"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(staged)
	if !strings.Contains(string(b), "# ") || !strings.Contains(string(b), "encryption_key: keys/encryption-2.key") {
		t.Errorf("staged config lost its comments or the new key:\n%s", b)
	}
	if now, _ := os.ReadFile(path); string(now) != edited {
		t.Error("staging changed the live config")
	}

	bad := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(bad, []byte("- just\n- a list\n"), 0o644)
	if _, err := stageKeyConfig(bad, "k", nil); err == nil || !strings.Contains(err.Error(), "not a YAML mapping") {
		t.Errorf("list config: %v", err)
	}
}

// TestParseEveryKind parses one step of each kind in the registry, and
// checks the step's kind, line and action type.
func TestParseEveryKind(t *testing.T) {
	steps := map[string]string{
		"send":        "{from: FR, to: DE}",
		"stop":        "DE",
		"kill":        "[DE, NL]",
		"start":       "DE",
		"restart":     "all",
		"partition":   "{isolate: NL}",
		"heal":        "all",
		"clock":       "{node: DE, skew: -10m}",
		"wait":        "{delivered: all, timeout: 30s}",
		"expect":      "{undelivered: x}",
		"acknowledge": "all",
		"roster":      "{via: NL}",
		"rotate_key":  "{node: DE, via: FR, grace: 2h}",
		"say":         "hello; world",
	}
	if len(steps) != len(actions) {
		t.Fatalf("the test covers %d kinds, the registry holds %d", len(steps), len(actions))
	}
	for kind, body := range steps {
		sc, err := Parse([]byte("name: one\nsteps:\n  - " + kind + ": " + body + "\n"))
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		st := sc.Steps[0]
		if st.Kind != kind || st.Line != 3 || reflect.TypeOf(st.Action) != reflect.TypeOf(actions[kind]()) {
			t.Errorf("%s: parsed as %+v", kind, st)
		}
	}
	sc, err := Parse([]byte("steps:\n  - say: hello; world\n  - rotate_key: {node: DE, via: FR, grace: 2h}\n  - kill: [DE, NL]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := sc.Steps[0].Action.(*Say); *s != "hello; world" {
		t.Errorf("say %q", *s)
	}
	if k := sc.Steps[1].Action.(*RotateKey); k.Node != "DE" || k.Via != "FR" || k.Grace != 2*time.Hour {
		t.Errorf("rotate_key %+v", k)
	}
	if k := sc.Steps[2].Action.(*Kill); len(k.NodeList) != 2 || k.NodeList[1] != "NL" {
		t.Errorf("kill %+v", k)
	}
}

// TestParseRefusesUnknownFields checks that a misspelt key inside a step
// is refused, as one at the top of the file is, with its line; and that a
// key with an empty value names no action.
func TestParseRefusesUnknownFields(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"steps:\n  - send: {fro: FR, to: DE}\n", "line 2: field fro not found"},
		{"steps:\n  - wait:\n      delivered: all\n      timout: 1m\n", "line 4: field timout not found"},
		{"naem: x\nsteps: [{say: hi}]\n", "field naem not found"},
		{"steps: [{stop: ~}]", "exactly one action, names 0"},
		{"steps: [{say: hi}, {stop: DE, kill: NL}]", "step 2 (line 1): must name exactly one action, names 2 (stop, kill)"},
		{"steps: [heal]", "a step is a mapping"},
		{"steps: [{stop: {country: DE}}]", "want a country, a group or a list"},
		{"time_scale: -1\nsteps: [{say: hi}]", "time_scale must be positive"},
	} {
		if _, err := Parse([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.doc, err, tc.want)
		}
	}
	sc, err := Parse([]byte("steps: [{stop: ~, kill: DE}]"))
	if err != nil || sc.Steps[0].Kind != "kill" {
		t.Errorf("a null key beside an action: %+v, %v", sc, err)
	}
}

// testRunner prepares a runner on a new testnet of n nodes whose
// processes are never started: what checks and fault bookkeeping need.
func testRunner(t *testing.T, n int, doc string) *runner {
	t.Helper()
	sc, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: n}); err != nil {
		t.Fatal(err)
	}
	c, err := testnet.NewCluster(dir, "vigil-never-started")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := testnet.LoadExamples("../../../configs/examples")
	if err != nil {
		t.Fatal(err)
	}
	return newRunner(sc, Options{}, c, ex)
}

// TestCheckSteps checks every step against a real testnet (FR DE NL IT)
// before anything starts.
func TestCheckSteps(t *testing.T) {
	good := `
groups:
  eu: [FR, DE]
steps:
  - send: {from: eu, to: [nl, IT], kind: [emergency, preservation]}
  - partition: {groups: [eu, others]}
  - partition: {isolate: NL}
  - clock: {node: all, skew: 0s}
  - rotate_key: {node: DE, via: fr}
  - roster: {}
  - wait: {duration: 1m}
`
	if err := testRunner(t, 4, good).checkSteps(); err != nil {
		t.Errorf("a good scenario: %v", err)
	}
	r := testRunner(t, 4, "steps: [{say: x}]")
	for _, tc := range []struct{ doc, want string }{
		{"steps: [{say: x}, {stop: XX}]", "step 2 (line 1): no node XX"},
		{"groups: {g: [FR, US]}\nsteps: [{heal: g}]", "group g: no node US"},
		{"steps: [{send: {from: FR, to: DE, kind: burglary}}]", `kind "burglary"`},
		{"steps: [{send: {from: FR}}]", "empty node list"},
		{"steps: [{clock: {node: DE, skew: soon}}]", "clock skew"},
		{"steps: [{rotate_key: {node: DE, via: de}}]", "a different via"},
		{"steps: [{wait: {timeout: 1m}}]", "wait needs duration"},
		{"steps: [{partition: {groups: [[FR], [DE]], isolate: NL}}]", "either groups or isolate"},
		{"steps: [{acknowledge: ''}]", "acknowledge needs a label"},
	} {
		sc, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		r.sc = sc
		if err := r.checkSteps(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.doc, err, tc.want)
		}
	}
}

// TestPartitionAndHeal plays partition and heal steps with every node
// down and checks the cuts the runner will apply to each node when it
// starts: both sides of every cut, "others" as the complement, and a heal
// that lifts a node's cuts on both sides while the others' stay.
func TestPartitionAndHeal(t *testing.T) {
	r := testRunner(t, 4, `
groups:
  west: [FR, DE]
steps:
  - partition: {groups: [west, others]}
  - heal: FR
  - partition: {isolate: IT}
  - heal: all
  - partition: {groups: [[FR], [FR, DE]]}
`)
	ctx := context.Background()
	play := func(i int) error { return r.sc.Steps[i].Action.run(ctx, r) }
	cuts := func() map[string]string {
		out := map[string]string{}
		for cc, cut := range r.cut {
			out[cc] = strings.Join(slices.Sorted(maps.Keys(cut)), " ")
		}
		return out
	}
	want := func(step string, m map[string]string) {
		t.Helper()
		if got := cuts(); !maps.Equal(got, m) {
			t.Errorf("after %s: cuts %v, want %v", step, got, m)
		}
	}
	if err := play(0); err != nil {
		t.Fatal(err)
	}
	want("west | others", map[string]string{"FR": "IT NL", "DE": "IT NL", "NL": "DE FR", "IT": "DE FR"})
	if err := play(1); err != nil {
		t.Fatal(err)
	}
	want("heal FR", map[string]string{"DE": "IT NL", "NL": "DE", "IT": "DE"})
	if err := play(2); err != nil {
		t.Fatal(err)
	}
	want("isolate IT", map[string]string{"FR": "IT", "DE": "IT NL", "NL": "DE IT", "IT": "DE FR NL"})
	if err := play(3); err != nil {
		t.Fatal(err)
	}
	want("heal all", map[string]string{})
	if err := play(4); err == nil || !strings.Contains(err.Error(), "FR is in two partition groups") {
		t.Errorf("FR in two groups: %v", err)
	}
	if !strings.Contains(strings.Join(r.rep.Steps, "\n"), "partitioned [FR DE] | [NL IT]") {
		t.Errorf("log:\n%s", strings.Join(r.rep.Steps, "\n"))
	}
}

// TestNewEncryptionKey checks each rotation gets a new key file of its
// own beside the node's first key.
func TestNewEncryptionKey(t *testing.T) {
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(m.Nodes[1].Config)
	if err != nil {
		t.Fatal(err)
	}
	rel2, k2, err := newEncryptionKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rel3, k3, err := newEncryptionKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rel2 != "keys/encryption-2.key" || rel3 != "keys/encryption-3.key" || k2.Public == k3.Public {
		t.Errorf("rotations gave %s and %s (same key: %v)", rel2, rel3, k2.Public == k3.Public)
	}
	if rel2 == cfg.EncryptionKey {
		t.Errorf("the new key file is the node's current one, %s", cfg.EncryptionKey)
	}
}
