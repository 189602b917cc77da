package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
)

// vigil peer quarantine / release drive the API of a running node: the
// quarantine shows in 'vigil peers', is refused without a reason, and is
// lifted by release.
func TestPeerQuarantineCLI(t *testing.T) {
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := m.Nodes[1] // DE
	cfg, err := config.LoadConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	run := func(args ...string) (string, error) {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--api", e.API, "--token", e.Token))
		err := root.Execute()
		return out.String(), err
	}
	other := m.Nodes[0].Country
	if _, err := run("peer", "quarantine", other); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("quarantine without a reason: %v", err)
	}
	if out, err := run("peer", "quarantine", strings.ToLower(other), "--reason", "flooding"); err != nil || !strings.Contains(out, other+" quarantined") {
		t.Fatalf("quarantine: %v %s", err, out)
	}
	out, err := run("peers")
	if err != nil || !strings.Contains(out, "QUARANTINED: flooding") {
		t.Fatalf("peers: %v\n%s", err, out)
	}
	if out, err := run("peer", "release", other); err != nil || !strings.Contains(out, other+" released") {
		t.Fatalf("release: %v %s", err, out)
	}
	if _, err := run("peer", "release", other); err == nil || !strings.Contains(err.Error(), "not quarantined") {
		t.Fatalf("second release: %v", err)
	}
	out, err = run("peers", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pl types.PeerList
	if err := json.Unmarshal([]byte(out), &pl); err != nil {
		t.Fatal(err)
	}
	for _, p := range pl.Peers {
		if p.Quarantine != nil {
			t.Fatalf("%s still quarantined after release", p.Country)
		}
	}
}
