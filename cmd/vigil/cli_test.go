package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
)

// startTestnet creates a testnet of n nodes and runs those of the given
// countries (all when none are given) in this process; they stop when the
// test ends.
func startTestnet(t *testing.T, n int, countries ...string) *testnet.Manifest {
	t.Helper()
	return startTestnetInit(t, testnet.InitOptions{Nodes: n}, countries...)
}

// startTestnetInit is startTestnet for a testnet made with opts (its Dir
// is a new temporary directory), e.g. with members' own treaty bases.
func startTestnetInit(t *testing.T, opts testnet.InitOptions, countries ...string) *testnet.Manifest {
	t.Helper()
	opts.Dir = t.TempDir()
	m, err := testnet.Init(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, e := range m.Nodes {
		if len(countries) > 0 && !slices.Contains(countries, e.Country) {
			continue
		}
		cfg, err := config.LoadConfig(e.Config)
		if err != nil {
			t.Fatal(err)
		}
		nd, err := node.New(cfg, node.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
	}
	return m
}

// cliNode runs vigil commands in this process against one node's API.
type cliNode testnet.NodeEntry

// run runs one command with stdin as standard input (for password prompts
// and '--file -') and logs its output.
func (n cliNode) run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	// '--file -' reads the process's standard input.
	in := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(in, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	saved := os.Stdin
	os.Stdin = fh
	defer func() { os.Stdin = saved }()
	root.SetArgs(append(args, "--api", n.API, "--token", n.Token))
	err = root.Execute()
	t.Logf("%s: vigil %s\n%s(err: %v)", n.Country, strings.Join(args, " "), out.String(), err)
	return out.String(), err
}

func mustContain(t *testing.T, what, out string, err error, words ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output does not contain %q:\n%s", what, w, out)
		}
	}
}

func mustFail(t *testing.T, what string, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want an error", what)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: error %q does not contain %q", what, err, w)
		}
	}
}

// TestCLIOperatorCommands drives the operator, audit, user and drill
// commands against two running nodes: a request from FR to DE, listed,
// shown and acknowledged; the audit log verified and exported; a user's
// whole life; both kinds of drill and the report.
func TestCLIOperatorCommands(t *testing.T) {
	m := startTestnet(t, 2)
	fr, de := cliNode(m.Nodes[0]), cliNode(m.Nodes[1])
	t.Setenv("VIGIL_OPERATOR", "")

	// A request from FR to DE: listed, shown, acknowledged.
	t.Run("cases", func(t *testing.T) {
		out, err := fr.run(t, "", "request", "send", "--file", "../../configs/examples/preservation.json")
		mustContain(t, "request send", out, err, "accepted and stored; delivering\ncase:    ", "\nmessage: ")
		caseID := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "case:", 2)[1], "\n", 2)[0])
		doc, err := os.ReadFile("../../configs/examples/preservation.json")
		if err != nil {
			t.Fatal(err)
		}
		out, err = fr.run(t, string(doc), "request", "send", "--file", "-", "--to", "de", "--json")
		var sub struct {
			CaseID string `json:"case_id"`
		}
		if err != nil || json.Unmarshal([]byte(out), &sub) != nil || sub.CaseID == "" {
			t.Fatalf("request send --json: %v\n%s", err, out)
		}
		_, err = fr.run(t, "", "request", "send")
		mustFail(t, "request send without --file", err, `required flag(s) "file" not set`)
		_, err = fr.run(t, "not json", "request", "send", "--file", "-", "--to", "DE")
		mustFail(t, "request send of a non-JSON file", err, "- is not JSON")

		out, err = fr.run(t, "", "cases")
		mustContain(t, "cases", out, err, "CASE", "ACK DUE (UTC)", caseID+"  out", sub.CaseID)
		// The list is paged by the API; the CLI says when it shows fewer.
		out, err = fr.run(t, "", "cases", "--limit", "1")
		mustContain(t, "cases --limit 1", out, err, sub.CaseID, "1 of 2 cases shown")
		if strings.Contains(out, caseID+"  out") {
			t.Fatalf("cases --limit 1 listed both cases:\n%s", out)
		}
		out, err = fr.run(t, "", "cases", "--search", sub.CaseID[:12])
		mustContain(t, "cases --search", out, err, sub.CaseID)
		if strings.Contains(out, caseID+"  out") {
			t.Fatalf("cases --search listed the other case:\n%s", out)
		}
		out, err = fr.run(t, "", "cases", "--direction", "incoming")
		mustContain(t, "cases --direction incoming", out, err, "CASE")
		if strings.Contains(out, caseID) {
			t.Fatalf("outgoing case listed as incoming:\n%s", out)
		}
		out, err = fr.run(t, "", "case", "show", caseID)
		mustContain(t, "case show", out, err, "case "+caseID, "history:", "messages:", "request:")
		out, err = fr.run(t, "", "case", "show", caseID, "--json")
		mustContain(t, "case show --json", out, err, `"id": "`+caseID+`"`)
		_, err = fr.run(t, "", "case", "show")
		mustFail(t, "case show without an ID", err, "accepts 1 arg(s)")

		// The case reaches DE, which acknowledges it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err = de.run(t, "", "cases", "--direction", "incoming", "--json")
			if err == nil && strings.Contains(out, caseID) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("case %s did not reach DE: %v\n%s", caseID, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, err = de.run(t, "", "act", caseID, "acknowledge")
		mustFail(t, "act without an operator", err, "action not taken", "operator")
		_, err = de.run(t, "", "act", caseID, "acknowledge", "operator")
		mustFail(t, "act with a bare field", err, `field "operator": want field=value`)
		_, err = de.run(t, "", "act", caseID)
		mustFail(t, "act without an action", err, "requires at least 2 arg(s)")
		out, err = de.run(t, "", "act", caseID, "acknowledge", "--operator", "A. Weber")
		mustContain(t, "act acknowledge", out, err, "acknowledge recorded; case is now acknowledged (message ")
		out, err = de.run(t, "", "alerts", "--all")
		mustContain(t, "alerts --all", out, err)
		out, err = de.run(t, "", "alerts", "--json")
		mustContain(t, "alerts --json", out, err, `"alerts"`)
		out, err = de.run(t, "", "peers")
		mustContain(t, "peers", out, err, "roster serial 1\n", "COUNTRY", "(this node)", "FR")
	})

	// The audit log.
	t.Run("audit", func(t *testing.T) {
		out, err := de.run(t, "", "audit", "verify")
		mustContain(t, "audit verify", out, err, "records: ", "\nroot:    ", "\ncheckpoints: ", "audit log intact\n")
		out, err = de.run(t, "", "audit", "verify", "--json")
		mustContain(t, "audit verify --json", out, err, `"ok": true`)
		if strings.Contains(out, "intact") {
			t.Fatalf("audit verify --json printed text:\n%s", out)
		}
		export := filepath.Join(t.TempDir(), "de-audit.jsonl")
		if out, err = de.run(t, "", "audit", "export", "--out", export); err != nil || out != "" {
			t.Fatalf("audit export --out: %v\n%s", err, out)
		}
		b, err := os.ReadFile(export)
		if err != nil || !bytes.Contains(b, []byte(`"leaf_index":0`)) {
			t.Fatalf("export file: %v\n%s", err, b)
		}
		_, err = de.run(t, "", "audit", "export", "--out", export)
		mustFail(t, "audit export over an existing file", err, "export: ", "exists")
		out, err = de.run(t, "", "audit", "export")
		mustContain(t, "audit export to stdout", out, err, `"leaf_index":0`)
	})

	// A user from creation to removal.
	t.Run("user", func(t *testing.T) {
		const pw = "correct horse battery staple"
		_, err := de.run(t, pw+"\n", "user", "add", "claire", "--password-stdin")
		mustFail(t, "user add without a role", err, `required flag(s) "role" not set`)
		out, err := de.run(t, pw+"\n", "user", "add", "--role", "auditor", "claire", "--password-stdin")
		mustContain(t, "user add", out, err, "added claire (auditor)\n")
		out, err = de.run(t, "", "user", "list")
		mustContain(t, "user list", out, err, "NAME", "LOCKED UNTIL", "claire")
		out, err = de.run(t, "", "user", "list", "--json")
		mustContain(t, "user list --json", out, err, `"claire"`)
		out, err = de.run(t, "", "user", "token", "claire", "--label", "laptop")
		mustContain(t, "user token", out, err, "for claire (shown once, store it now):\n")
		for _, sub := range []string{"disable", "enable", "unlock"} {
			out, err = de.run(t, "", "user", sub, "claire")
			mustContain(t, "user "+sub, out, err, "claire: done\n")
		}
		_, err = de.run(t, "", "user", "role", "claire")
		mustFail(t, "user role without a role", err, "usage: vigil user role NAME ROLE")
		out, err = de.run(t, "", "user", "role", "claire", "supervisor")
		mustContain(t, "user role", out, err, "claire: done\n")
		out, err = de.run(t, pw+"!\n", "user", "passwd", "claire", "--password-stdin")
		mustContain(t, "user passwd", out, err, "claire: password changed\n")
		_, err = de.run(t, "short\n", "user", "passwd", "claire", "--password-stdin")
		mustFail(t, "user passwd with a short password", err, "password not changed")
		out, err = de.run(t, "", "user", "remove", "claire")
		mustContain(t, "user remove", out, err, "claire removed\n")
		_, err = de.run(t, "", "user", "remove", "claire")
		mustFail(t, "user remove of a removed user", err)
	})

	// Drills.
	t.Run("drill", func(t *testing.T) {
		out, err := fr.run(t, "", "drill", "run")
		mustContain(t, "drill run", out, err, "COUNTRY", "REACHABLE", "reached 1 of 1 members in ")
		_, err = fr.run(t, "", "drill", "run", "--country", "DE")
		mustFail(t, "reachability drill with --country", err, "--country applies to response drills")
		_, err = fr.run(t, "", "drill", "run", "--kind", "bogus")
		mustFail(t, "drill of an unknown kind", err, `--kind "bogus": want reachability or response`)
		out, err = fr.run(t, "", "drill", "run", "--kind", "response", "--country", " de, ", "--operator", "C. Martin")
		mustContain(t, "response drill", out, err, "sent to 1 of 1 members; acknowledgement due by ", "follow it with: vigil drill report\n")
		out, err = fr.run(t, "", "drill", "run", "--json")
		mustContain(t, "drill run --json", out, err, `"results"`)
		out, err = fr.run(t, "", "drill", "report")
		mustContain(t, "drill report", out, err, "TIME TO ACK", "DE", "last drill: ")
		out, err = fr.run(t, "", "drill", "report", "--json")
		mustContain(t, "drill report --json", out, err, `"countries"`)
	})
}

// TestCLIRosterCommandsOnATestnet shows, verifies and pushes the signed
// roster of a running testnet.
func TestCLIRosterCommandsOnATestnet(t *testing.T) {
	m := startTestnet(t, 2)
	de := m.Nodes[1]
	out, err := vigil(t, "roster", "show", "--roster", m.Roster)
	mustContain(t, "roster show", out, err, "serial 1", "COUNTRY", "FR", "DE")
	out, err = vigil(t, "roster", "show", "--roster", m.Roster, "--json")
	mustContain(t, "roster show --json", out, err, `"members": [`)
	out, err = vigil(t, "roster", "verify", "--roster", m.Roster, "--config", de.Config)
	mustContain(t, "roster verify --config", out, err, ": valid; serial 1, 2 members, valid until ")
	out, err = vigil(t, "roster", "verify", "--roster", m.Roster)
	if err == nil || !strings.Contains(out, "give --authority-key or --config") {
		t.Fatalf("roster verify without a key: %v\n%s", err, out)
	}
	// The node already runs serial 1: pushing it again is refused.
	out, err = vigil(t, "roster", "push", "--roster", m.Roster, "--config", de.Config)
	if err == nil || !strings.Contains(out, "node refused roster (") {
		t.Fatalf("roster push of the roster in force: %v\n%s", err, out)
	}
}

// TestCLIREADMECommandsParse checks that every vigil command in the
// README's shell blocks names a real subcommand and takes its flags and
// arguments, so the README keeps working word for word.
func TestCLIREADMECommandsParse(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	inShell, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```"):
			inShell = !inShell && strings.HasPrefix(l, "```sh")
			continue
		case !inShell:
			continue
		}
		l = cont + strings.TrimSpace(l)
		if strings.HasSuffix(l, `\`) {
			cont = strings.TrimSuffix(l, `\`) + " "
			continue
		}
		cont = ""
		for _, prefix := range []string{"vigil ", "go run ./cmd/vigil "} {
			if strings.HasPrefix(l, prefix) {
				lines = append(lines, strings.TrimPrefix(l, prefix))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) < 25 {
		t.Fatalf("found only %d vigil commands in the README", len(lines))
	}
	for _, l := range lines {
		args := shellWords(t, l)
		root := newRootCmd()
		cmd, rest, err := root.Find(args)
		if err != nil || cmd == root {
			t.Errorf("README: vigil %s: no such command (%v)", l, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("README: vigil %s: %v", l, err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("README: vigil %s: %v", l, err)
		}
		if err := cmd.ValidateRequiredFlags(); err != nil {
			t.Errorf("README: vigil %s: %v", l, err)
		}
	}
}

// shellWords splits a README command line as sh would, for the quoting the
// README uses, and drops a trailing comment.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		quote rune
		inTok bool
	)
	r := bufio.NewReader(strings.NewReader(line))
	for {
		c, _, err := r.ReadRune()
		if err == io.EOF {
			break
		}
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '\'' || c == '"':
			quote, inTok = c, true
		case c == '#' && !inTok:
			return words
		case c == ' ' || c == '\t':
			if inTok {
				words = append(words, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(c)
			inTok = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inTok {
		words = append(words, cur.String())
	}
	return words
}
