package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/protocol"
)

// runLocal runs one vigil command in this process, without a node.
func runLocal(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// exitCode is the exit status of a finished child process (0 if err is nil).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatalf("run vigil: %v", err)
	}
	return ee.ExitCode()
}

// TestCLITypoInEveryGroup types a subcommand of every command group with
// two letters swapped: each must be an error that names the real one.
func TestCLITypoInEveryGroup(t *testing.T) {
	var groups []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.HasParent() {
			groups = append(groups, c)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
	if len(groups) < 6 {
		t.Fatalf("found only %d command groups", len(groups))
	}
	for _, g := range groups {
		var sub string
		for _, s := range g.Commands() {
			if s.IsAvailableCommand() && len(s.Name()) >= 4 {
				sub = s.Name()
				break
			}
		}
		if sub == "" {
			continue
		}
		typo := sub[1:2] + sub[:1] + sub[2:]
		path := strings.Fields(g.CommandPath())[1:]
		out, err := runLocal(append(path, typo)...)
		mustFail(t, g.CommandPath()+" "+typo, err, "unknown command", "did you mean "+sub)
		if strings.Contains(out, "Usage:") {
			t.Errorf("%s %s printed help instead of failing:\n%s", g.CommandPath(), typo, out)
		}
	}
	// And as the operator sees it: exit status 1, the fix on stderr.
	out, err := vigil(t, "roster", "sgin")
	if code := exitCode(t, err); code != 1 || !strings.Contains(out, "did you mean sign?") {
		t.Fatalf("vigil roster sgin: exit %d\n%s", code, out)
	}
}

func TestCLIUnknownFlagSuggestsNearest(t *testing.T) {
	_, err := runLocal("cases", "--stat", "open")
	mustFail(t, "cases --stat", err, "unknown flag: --stat", "did you mean --state?")
	_, err = runLocal("roster", "sign", "--valid", "1h")
	mustFail(t, "roster sign --valid", err, "--valid-for")
	_, err = runLocal("cases", "--zzzzzz")
	mustFail(t, "cases --zzzzzz", err, "unknown flag", "vigil cases --help")
}

// TestCLICasesRefusesUnknownFilterValues: an unknown filter value must not
// reach the API, whose empty answer reads as "no cases".
func TestCLICasesRefusesUnknownFilterValues(t *testing.T) {
	_, err := runLocal("cases", "--state", "opne", "--api", "http://127.0.0.1:1", "--token", "x")
	mustFail(t, "cases --state opne", err, `--state "opne" is not one of`)
	for _, r := range protocol.Rules {
		for _, s := range append(r.From, r.To) {
			if s != "" && !strings.Contains(err.Error(), string(s)) {
				t.Errorf("state %s missing from %q", s, err)
			}
		}
	}
	_, err = runLocal("cases", "--direction", "inbound")
	mustFail(t, "cases --direction inbound", err, "incoming, outgoing")
	_, err = runLocal("cases", "--kind", "preserve")
	mustFail(t, "cases --kind preserve", err, string(protocol.KindEmergencyMLA))
	// A valid value passes the check and goes to the node.
	_, err = runLocal("cases", "--state", string(protocol.StateMLAPending), "--api", "http://127.0.0.1:1", "--token", "x")
	mustFail(t, "cases --state mla_pending", err)
	if strings.Contains(err.Error(), "not one of") {
		t.Fatalf("valid state refused: %v", err)
	}
}

func TestCLIVersion(t *testing.T) {
	out, err := vigil(t, "version")
	if err != nil || !strings.HasPrefix(out, "vigil ") || !strings.Contains(out, "go:     go1.") {
		t.Fatalf("vigil version: %v\n%s", err, out)
	}
	out, err = vigil(t, "version", "--json")
	var v versionInfo
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Fatalf("vigil version --json: %v\n%s", err, out)
	}
}

// TestCLINodeDown: a node that does not answer is named as such, with the
// address tried, in text and in JSON.
func TestCLINodeDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	want := "is the node running? (connection refused at " + addr
	out, err := vigil(t, "cases", "--api", "http://"+addr, "--token", "x")
	if code := exitCode(t, err); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("cases on a stopped node: exit %d\n%s", code, out)
	}
	out, err = vigil(t, "alerts", "--api", "http://"+addr, "--token", "x", "--json")
	var body struct{ Error string }
	if code := exitCode(t, err); code != 1 || json.Unmarshal([]byte(out), &body) != nil || !strings.Contains(body.Error, want) {
		t.Fatalf("alerts --json on a stopped node: exit %d\n%s", code, out)
	}
}

// TestCLIJSONErrors: with --json an API refusal is one JSON object on
// standard error with the status and the fields at fault.
func TestCLIJSONErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"error":"request is invalid","fields":[{"field":"to","message":"unknown country"}]}`))
	}))
	defer srv.Close()
	cmd := exec.Command(os.Args[0], "cases", "--api", srv.URL, "--token", "x", "--json")
	cmd.Env = append(cmd.Environ(), "VIGIL_TEST_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var body struct {
		Error  string
		Status int
		Fields []protocol.FieldError
	}
	if code := exitCode(t, err); code != 1 || stdout.Len() != 0 || json.Unmarshal(stderr.Bytes(), &body) != nil ||
		body.Status != 422 || len(body.Fields) != 1 || body.Fields[0].Field != "to" || !strings.Contains(body.Error, "request is invalid") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	// Without --json the same refusal is text.
	out, err := vigil(t, "cases", "--api", srv.URL, "--token", "x")
	if exitCode(t, err) != 1 || !strings.HasPrefix(out, "vigil: request is invalid\n  to: unknown country") {
		t.Fatalf("text error: %q", out)
	}
}

// TestInitAgainCLI: 'vigil init' again with the same values says nothing
// changed and writes nothing; with another country it fails and leaves
// member.json as it was.
func TestInitAgainCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "de")
	if out, err := vigil(t, "init", "--dir", dir, "--country", "DE"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	member := filepath.Join(dir, "member.json")
	before, _ := os.ReadFile(member)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(member, old, old); err != nil {
		t.Fatal(err)
	}
	out, err := vigil(t, "init", "--dir", dir, "--country", "DE")
	if err != nil || !strings.Contains(out, "nothing changed") || strings.Contains(out, "created") {
		t.Fatalf("init again: %v\n%s", err, out)
	}
	if fi, _ := os.Stat(member); !fi.ModTime().Equal(old) {
		t.Error("init with the same values rewrote member.json")
	}
	out, err = vigil(t, "init", "--dir", dir, "--country", "FR")
	if exitCode(t, err) != 1 || !strings.Contains(out, "--country FR conflicts") || strings.Contains(out, "nothing changed") {
		t.Fatalf("init --country FR over DE: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(member); !bytes.Equal(before, after) {
		t.Fatal("refused init changed member.json")
	}
}

// TestCLIUserAddRefusesUnknownRole before asking for a password.
func TestCLIUserAddRefusesUnknownRole(t *testing.T) {
	_, err := runLocal("user", "add", "--role", "operater", "claire", "--api", "http://127.0.0.1:1", "--token", "x")
	mustFail(t, "user add --role operater", err, `--role "operater" is not one of: operator, supervisor, auditor, admin`)
}

func TestCLIUserRoleRefusesUnknownRole(t *testing.T) {
	_, err := runLocal("user", "role", "claire", "superviser", "--api", "http://127.0.0.1:1", "--token", "x")
	mustFail(t, "user role claire superviser", err, `ROLE "superviser" is not one of: operator, supervisor`)
}
