package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12: the CLI takes the API token from a file or the environment,
// so it need not be in argv; --token still works.
func TestTokenFromFileOrEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("testnet test")
	}
	m := startTestnet(t, 2, "FR")
	e := m.Nodes[0]
	run := func(args ...string) (string, error) {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		// No --config: the token must come from the flags or the environment.
		root.SetArgs(append(args, "--api", e.API, "--config", filepath.Join(t.TempDir(), "none.yaml")))
		err := root.Execute()
		return out.String(), err
	}
	tokFile := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(tokFile, []byte(e.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("alerts", "--token-file", tokFile); err != nil {
		t.Fatalf("--token-file: %v\n%s", err, out)
	}
	t.Setenv("VIGIL_TOKEN_FILE", tokFile)
	if out, err := run("alerts"); err != nil {
		t.Fatalf("VIGIL_TOKEN_FILE: %v\n%s", err, out)
	}
	t.Setenv("VIGIL_TOKEN_FILE", "")
	t.Setenv("VIGIL_TOKEN", e.Token)
	if out, err := run("alerts"); err != nil {
		t.Fatalf("VIGIL_TOKEN: %v\n%s", err, out)
	}
	t.Setenv("VIGIL_TOKEN", "")
	if out, err := run("alerts", "--token", e.Token); err != nil {
		t.Fatalf("--token: %v\n%s", err, out)
	}
	// A wrong token in the file is refused, not replaced by another.
	if err := os.WriteFile(tokFile, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_TOKEN", e.Token)
	if out, err := run("alerts", "--token-file", tokFile); err == nil || !strings.Contains(out+err.Error(), "401") && !strings.Contains(out+err.Error(), "token") {
		t.Fatalf("wrong token in --token-file: %v\n%s", err, out)
	}
	if _, err := run("alerts", "--token-file", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing token file: %v", err)
	}
}
