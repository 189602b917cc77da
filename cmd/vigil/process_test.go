package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
)

// The test binary doubles as the vigil binary: child processes started with
// VIGIL_TEST_MAIN=1 run main() instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func vigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// apiCall calls a node's API with its token through the shared client and
// returns the HTTP status (0 if the node did not answer); a 2xx answer is
// decoded into out.
func apiCall(t *testing.T, e testnet.NodeEntry, method, path string, body []byte, out any) int {
	t.Helper()
	code, _ := client.New(e.API, client.WithToken(e.Token)).Do(context.Background(), method, path, body, out)
	return code
}

// listCases lists every case at a node, page by page (a page holds at
// most 1,000).
func listCases(t *testing.T, e testnet.NodeEntry) []types.CaseSummary {
	t.Helper()
	var all []types.CaseSummary
	cursor := ""
	for {
		path := "/api/v1/cases?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page types.CaseList
		if code := apiCall(t, e, http.MethodGet, path, nil, &page); code != http.StatusOK {
			t.Fatalf("GET %s at %s: HTTP %d", path, e.Country, code)
		}
		all = append(all, page.Cases...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// TestProcessesSurviveKill9 runs three nodes as real processes, kills the
// receiver and then the sender with SIGKILL while requests are queued, and
// checks every accepted request arrives exactly once.
func TestProcessesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	dir := t.TempDir()
	m, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	procs := map[string]*testnet.Process{}
	start := func(e testnet.NodeEntry) {
		p, err := testnet.Start(ctx, os.Args[0], e)
		if err != nil {
			t.Fatal(err)
		}
		procs[e.Country] = p
	}
	for _, e := range m.Nodes {
		start(e)
	}
	defer func() {
		for _, p := range procs {
			p.Kill()
		}
	}()
	fr, de := m.Nodes[0], m.Nodes[1]
	req, err := os.ReadFile("../../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	accepted := map[string]bool{}
	submit := func(n int) {
		for i := 0; i < n; i++ {
			var sub types.Submission
			if code := apiCall(t, fr, "POST", "/api/v1/requests", req, &sub); code != http.StatusCreated {
				t.Fatalf("submit: HTTP %d", code)
			}
			accepted[sub.CaseID] = true
		}
	}
	submit(10)
	procs["DE"].Kill() // receiver crashes, possibly mid-batch
	submit(10)
	procs["FR"].Kill() // sender crashes with a queued outbox
	start(fr)
	submit(5)
	start(de)

	deadline := time.Now().Add(60 * time.Second)
	for {
		delivered := 0
		for _, c := range listCases(t, fr) {
			if accepted[c.ID] && c.Delivery == "delivered" {
				delivered++
			}
		}
		if delivered == len(accepted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted requests delivered after restarts", delivered, len(accepted))
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, c := range listCases(t, de) {
		if c.Direction == "incoming" {
			seen[c.ID]++
		}
	}
	for id := range accepted {
		if seen[id] != 1 {
			t.Errorf("case %s is at DE %d times, want exactly 1", id, seen[id])
		}
	}
	if len(seen) != len(accepted) {
		t.Errorf("DE holds %d incoming cases, FR had %d accepted", len(seen), len(accepted))
	}
	// A graceful stop exits cleanly.
	for cc, p := range procs {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Errorf("SIGTERM %s: %v", cc, err)
		}
		delete(procs, cc)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(cfg, []byte("country: france\nlisten: [\"not-a-multiaddr\"]\n"), 0o644)
	out, err := vigil(t, "run", "--config", cfg)
	if err == nil {
		t.Fatal("run accepted a bad config")
	}
	for _, want := range []string{"country", "listen", "authority_key"} {
		if !strings.Contains(out, want) {
			t.Errorf("error output does not mention %s:\n%s", want, out)
		}
	}
	if out, err := vigil(t, "run", "--config", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(out, "missing.yaml") {
		t.Errorf("missing config: err %v, output %s", err, out)
	}
}

func TestInitIsIdempotentAndRosterCommandsWork(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "authority")
	out, err := vigil(t, "roster", "authority-init", "--dir", auth)
	if err != nil {
		t.Fatalf("authority-init: %v\n%s", err, out)
	}
	pub := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	nd := filepath.Join(dir, "de")
	if out, err := vigil(t, "init", "--dir", nd, "--country", "DE", "--authority-key", pub); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	key1, _ := os.ReadFile(filepath.Join(nd, "keys", "identity.key"))
	out, err = vigil(t, "init", "--dir", nd, "--country", "DE", "--authority-key", pub)
	if err != nil || !strings.Contains(out, "nothing changed") {
		t.Fatalf("second init: %v\n%s", err, out)
	}
	key2, _ := os.ReadFile(filepath.Join(nd, "keys", "identity.key"))
	if !bytes.Equal(key1, key2) {
		t.Fatal("second init replaced the identity key")
	}
	for _, f := range []string{"identity.key", "encryption.key", "api.token"} {
		fi, err := os.Stat(filepath.Join(nd, "keys", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
	draft := filepath.Join(dir, "draft.json")
	if out, err := vigil(t, "roster", "add", "--draft", draft, "--member", filepath.Join(nd, "member.json"),
		"--organisation", "BKA", "--time-zone", "Europe/Berlin", "--office-hours", "24/7"); err != nil {
		t.Fatalf("roster add: %v\n%s", err, out)
	}
	signed := filepath.Join(dir, "roster.json")
	if out, err := vigil(t, "roster", "sign", "--draft", draft, "--key", filepath.Join(auth, "authority.key"), "--out", signed); err != nil {
		t.Fatalf("roster sign: %v\n%s", err, out)
	}
	if out, err := vigil(t, "roster", "verify", "--roster", signed, "--authority-key", pub); err != nil || !strings.Contains(out, "serial 1") {
		t.Fatalf("roster verify: %v\n%s", err, out)
	}
	doc, _ := os.ReadFile(signed)
	os.WriteFile(signed, bytes.Replace(doc, []byte("BKA"), []byte("XKA"), 1), 0o644)
	if out, err := vigil(t, "roster", "verify", "--roster", signed, "--authority-key", pub); err == nil {
		t.Fatalf("tampered roster verified:\n%s", out)
	}
}
