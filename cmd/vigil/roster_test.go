package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// TestRosterSignRefusesMissingOrEmptyDraft: 'vigil roster sign' never signs
// the empty roster a missing draft used to become, nor creates a draft as
// a side effect, and refuses an empty draft and a previous encryption key
// without previous_key_until (issue 9 items 8 and 11).
func TestRosterSignRefusesMissingOrEmptyDraft(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "authority")
	if out, err := vigil(t, "roster", "authority-init", "--dir", auth); err != nil {
		t.Fatalf("authority-init: %v\n%s", err, out)
	}
	key := filepath.Join(auth, "authority.key")
	signed := filepath.Join(dir, "roster.json")
	sign := func(draft string) (string, error) {
		return vigil(t, "roster", "sign", "--draft", draft, "--key", key, "--out", signed)
	}
	noFile := func(what, path string) {
		t.Helper()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s: %s exists after a refused sign (err %v)", what, path, err)
		}
	}

	missing := filepath.Join(dir, "missing.draft.json")
	out, err := sign(missing)
	if err == nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("missing draft: err %v, output:\n%s", err, out)
	}
	noFile("missing draft", missing)
	noFile("missing draft", signed)

	empty := filepath.Join(dir, "empty.draft.json")
	if err := os.WriteFile(empty, []byte(`{"network": "vigil", "serial": 3, "members": []}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = sign(empty)
	if err == nil || !strings.Contains(out, "no members") {
		t.Fatalf("empty draft: err %v, output:\n%s", err, out)
	}
	noFile("empty draft", signed)
	if b, _ := os.ReadFile(empty); !strings.Contains(string(b), `"serial": 3`) {
		t.Fatalf("refused sign rewrote the draft:\n%s", b)
	}

	// A member with a previous key but no end date.
	nd := filepath.Join(dir, "de")
	pub, _ := os.ReadFile(filepath.Join(auth, "authority.pub"))
	if out, err := vigil(t, "init", "--dir", nd, "--country", "DE", "--authority-key", strings.TrimSpace(string(pub))); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	draft := filepath.Join(dir, "roster.draft.json")
	if out, err := vigil(t, "roster", "add", "--draft", draft, "--member", filepath.Join(nd, "member.json"),
		"--organisation", "BKA", "--time-zone", "Europe/Berlin", "--office-hours", "24/7"); err != nil {
		t.Fatalf("roster add: %v\n%s", err, out)
	}
	b, err := os.ReadFile(draft)
	if err != nil {
		t.Fatal(err)
	}
	var r protocol.Roster
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	old, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	r.Members[0].PreviousEncryptionKey = protocol.EncodeKey(old.Public)
	b, _ = json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(draft, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = sign(draft)
	if err == nil || !strings.Contains(out, "previous_key_until is required") {
		t.Fatalf("previous key without until: err %v, output:\n%s", err, out)
	}
	noFile("previous key without until", signed)

	// The same draft with an end date signs.
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r.Members[0].PreviousKeyUntil = &until
	b, _ = json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(draft, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sign(draft); err != nil || !strings.Contains(out, "1 members") {
		t.Fatalf("valid draft: err %v, output:\n%s", err, out)
	}
}
