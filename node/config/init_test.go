package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitAgainRefusesConflicts: a second init with values that contradict
// the config it keeps is refused before anything is written; the same
// values change nothing.
func TestInitAgainRefusesConflicts(t *testing.T) {
	dir := t.TempDir()
	key := testAuthorityKey(t)
	if _, err := Init(InitOptions{Dir: dir, Country: "DE", AuthorityKey: key}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vigil.yaml")
	before, _ := os.ReadFile(cfgPath)
	pk, _, _ := ed25519.GenerateKey(rand.Reader)
	other := base64.StdEncoding.EncodeToString(pk)
	for _, tc := range []struct {
		name string
		o    InitOptions
		want string
	}{
		{"country", InitOptions{Country: "FR", AuthorityKey: key}, "--country FR conflicts"},
		{"authority key", InitOptions{Country: "DE", AuthorityKey: other}, "pins another authority key"},
		{"listen", InitOptions{Country: "DE", Listen: []string{"/ip4/0.0.0.0/tcp/9999"}}, "--listen conflicts"},
		{"api listen", InitOptions{Country: "DE", APIListen: "127.0.0.1:9999"}, "--api-listen conflicts"},
	} {
		tc.o.Dir = dir
		_, err := Init(tc.o)
		if !errors.Is(err, ErrInitConflict) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	res, err := Init(InitOptions{Dir: dir, Country: "de", AuthorityKey: key})
	if err != nil || len(res.Created) != 0 {
		t.Fatalf("same values again: created %v, err %v", res.Created, err)
	}
	// Without --authority-key the pinned one stays and is not a conflict.
	if _, err := Init(InitOptions{Dir: dir, Country: "DE"}); err != nil {
		t.Fatalf("init without --authority-key: %v", err)
	}
	if after, _ := os.ReadFile(cfgPath); !bytes.Equal(before, after) {
		t.Fatal("a refused init changed the config")
	}

	// A node made without a key cannot get one by a second init: the
	// config is never rewritten, so the key would be ignored.
	bare := t.TempDir()
	if _, err := Init(InitOptions{Dir: bare, Country: "NL"}); err != nil {
		t.Fatal(err)
	}
	_, err = Init(InitOptions{Dir: bare, Country: "NL", AuthorityKey: key})
	if !errors.Is(err, ErrInitConflict) || !strings.Contains(err.Error(), "set roster.authority_key") {
		t.Fatalf("key for a config without one: %v", err)
	}
}
