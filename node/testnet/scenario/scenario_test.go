package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
