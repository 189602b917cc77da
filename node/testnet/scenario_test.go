package testnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`
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
	if s := sc.Steps[0].Send; s == nil || s.Count != 2 || len(s.To) != 2 || s.From[0] != "FR" {
		t.Errorf("send step %+v", s)
	}
	if sc.Steps[1].Stop[0] != "DE" || sc.Steps[3].Heal[0] != "all" || sc.Steps[4].Wait.Duration != time.Hour {
		t.Errorf("steps %+v", sc.Steps)
	}
	for _, tc := range []struct{ doc, want string }{
		{"steps: [{sned: {from: FR}}]", "sned"},
		{"steps: [{stop: DE, kill: FR}]", "exactly one action"},
		{"steps: [{}]", "exactly one action"},
		{"name: x", "no steps"},
		{"steps: [{wait: {duration: soon}}]", "time.Duration"},
	} {
		if _, err := ParseScenario([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.doc, err, tc.want)
		}
	}
}

func TestNodesPerProcess(t *testing.T) {
	for n, want := range map[int]int{2: 1, 24: 1, 25: 4, 193: 25} {
		if got := NodesPerProcess(n); got != want {
			t.Errorf("NodesPerProcess(%d) = %d, want %d", n, got, want)
		}
	}
	if b, ok := parseBytes("24MiB"); !ok || b != 24<<20 {
		t.Errorf("parseBytes(24MiB) = %d, %v", b, ok)
	}
}

func TestAppliedAtReadsNodeLog(t *testing.T) {
	path := t.TempDir() + "/node.log"
	log := `{"level":"info","ts":"2026-11-29T11:15:28.100Z","msg":"node started"}
{"level":"info","ts":"2026-11-29T11:15:29.250Z","logger":"node.roster","msg":"applied new roster","source":"peer:x","serial":2,"previous_serial":1}
{"level":"info","ts":"2026-11-29T11:16:00.000Z","logger":"node.roster","msg":"applied new roster","source":"api","serial":3,"previous_serial":2}
{"level":"info","ts":"2026-11-29T12:17:00.500+0100","logger":"node.roster","msg":"applied new roster","source":"api","serial":5,"previous_serial":3}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	at, ok := appliedAt(path, 2)
	if want := time.Date(2026, 11, 29, 11, 15, 29, 250e6, time.UTC); !ok || !at.Equal(want) {
		t.Errorf("appliedAt(serial 2) = %v, %v; want %v", at, ok, want)
	}
	if at, ok := appliedAt(path, 5); !ok || !at.Equal(time.Date(2026, 11, 29, 11, 17, 0, 500e6, time.UTC)) {
		t.Errorf("appliedAt(serial 5, a +0100 time) = %v, %v", at, ok)
	}
	if _, ok := appliedAt(path, 4); ok {
		t.Error("found serial 4, which the log does not hold")
	}
}

// stageKeyConfig rewrites the two key settings of a real node config,
// whatever YAML style they are in, keeps the comments, and refuses a file
// it cannot rewrite without touching it.
func TestStageKeyConfig(t *testing.T) {
	m, err := Init(InitOptions{Dir: t.TempDir(), Nodes: 2})
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
