package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v3"
)

const exampleConfig = "../../configs/examples/vigil.yaml"

func testAuthorityKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pub)
}

func TestConfigExampleLoads(t *testing.T) {
	cfg, err := LoadConfig(exampleConfig)
	if err != nil {
		t.Fatalf("LoadConfig(%s): %v", exampleConfig, err)
	}
	dir, err := filepath.Abs(filepath.Dir(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Country != "DE" || cfg.Store.Profile != "default" || cfg.Log.Format != "json" {
		t.Errorf("country %q, store.profile %q, log.format %q", cfg.Country, cfg.Store.Profile, cfg.Log.Format)
	}
	if got, want := cfg.Path(cfg.IdentityKey), filepath.Join(dir, "keys", "identity.key"); got != want {
		t.Errorf("identity key resolves to %s, want %s", got, want)
	}
	if got := cfg.Path(cfg.DataDir); got != "/var/lib/vigil/data" {
		t.Errorf("data_dir resolves to %s, want the absolute /var/lib/vigil/data", got)
	}
	if cfg.Delivery.MaxBackoff != 30*time.Second || cfg.Clock.MaxAge != 14*24*time.Hour || len(cfg.Announce) != 2 {
		t.Errorf("delivery %+v, clock %+v, announce %v", cfg.Delivery, cfg.Clock, cfg.Announce)
	}
}

// yamlKeys lists the dotted key paths of a YAML mapping.
func yamlKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			out = append(out, prefix+k)
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	sort.Strings(out)
	return out
}

// TestConfigExampleMatchesInit keeps the example a copy of what 'vigil
// init' writes: the same settings (announce, commented out by init, aside).
func TestConfigExampleMatchesInit(t *testing.T) {
	res, err := Init(InitOptions{Dir: t.TempDir(), Country: "DE", AuthorityKey: testAuthorityKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := yamlKeys(t, written)
	got := slices.DeleteFunc(yamlKeys(t, example), func(k string) bool { return k == "announce" })
	if !slices.Equal(got, want) {
		t.Errorf("%s has settings %v;\nvigil init writes %v", exampleConfig, got, want)
	}
}

func TestInitConfigLoads(t *testing.T) {
	dir := t.TempDir()
	auth := testAuthorityKey(t)
	res, err := Init(InitOptions{Dir: dir, Country: "fr", AuthorityKey: auth})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 4 {
		t.Errorf("first Init created %v, want the three key files and the config", res.Created)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatalf("LoadConfig of the config Init wrote: %v", err)
	}
	if cfg.Country != "FR" || cfg.Roster.AuthorityKey != auth {
		t.Errorf("country %q (want FR, upper-cased), authority key %q", cfg.Country, cfg.Roster.AuthorityKey)
	}
	if cfg.API.Listen != "127.0.0.1:8470" || !slices.Equal(cfg.Listen, DefaultConfig().Listen) {
		t.Errorf("api.listen %q, listen %v: want the defaults", cfg.API.Listen, cfg.Listen)
	}
	// The paths in the config resolve to the files Init made.
	key, err := LoadIdentityKey(cfg.Path(cfg.IdentityKey))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := peer.IDFromPrivateKey(key); err != nil || id != res.PeerID {
		t.Errorf("identity key gives peer %s (%v), Init reported %s", id, err, res.PeerID)
	}
	enc, err := LoadEncryptionKey(cfg.Path(cfg.EncryptionKey))
	if err != nil {
		t.Fatal(err)
	}
	if res.Member.EncryptionKey != base64.StdEncoding.EncodeToString(enc.Public[:]) || res.Member.PeerID != res.PeerID.String() {
		t.Errorf("member entry %+v does not match the keys", res.Member)
	}
	tok, err := os.ReadFile(cfg.Path(cfg.API.TokenFile))
	if err != nil || strings.TrimSpace(string(tok)) != res.Token || !strings.HasPrefix(res.Token, "vgl_") {
		t.Errorf("token file %q (%v), Init reported %q", tok, err, res.Token)
	}

	// Without an authority key the config is written but does not load
	// until the operator pins one.
	res2, err := Init(InitOptions{Dir: t.TempDir(), Country: "NL"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(res2.ConfigPath); err == nil || !strings.Contains(err.Error(), "roster.authority_key") {
		t.Errorf("config without authority key: err = %v, want one naming roster.authority_key", err)
	}
}

func TestInitTwiceKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	auth := testAuthorityKey(t)
	first, err := Init(InitOptions{Dir: dir, Country: "DE", AuthorityKey: auth})
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"keys/identity.key", "keys/encryption.key", "keys/api.token", "vigil.yaml"}
	before := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = b
	}
	// A second run with the same options changes nothing (other values
	// are refused: TestInitAgainRefusesConflicts).
	second, err := Init(InitOptions{Dir: dir, Country: "DE", AuthorityKey: auth})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Created) != 0 {
		t.Errorf("second Init created %v", second.Created)
	}
	if second.PeerID != first.PeerID || second.Token != first.Token || second.Member.EncryptionKey != first.Member.EncryptionKey {
		t.Error("second Init reports a different identity, token or encryption key")
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(before[f]) {
			t.Errorf("%s changed on the second Init", f)
		}
	}
	for _, f := range files[:3] {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 0600", f, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys directory: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	auth := testAuthorityKey(t)
	base := "country: FR\nroster:\n  authority_key: \"" + auth + "\"\n"
	write := func(t *testing.T, body string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "vigil.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadConfig(write(t, base)); err != nil {
		t.Fatalf("minimal config (country and authority key over the defaults) refused: %v", err)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string // every string must appear in the error
	}{
		{"unknown field", base + "colour: red\n", []string{"colour", "not found"}},
		{"unknown nested field", base + "api:\n  lisen: 127.0.0.1:8470\n", []string{"lisen"}},
		{"lower-case country", strings.Replace(base, "FR", "fr", 1), []string{"country", `"fr"`}},
		{"long country", strings.Replace(base, "FR", "FRA", 1), []string{"country", `"FRA"`}},
		{"api.listen without port", base + "api:\n  listen: localhost\n", []string{"api.listen", `"localhost"`}},
		{"max_backoff over 30s", base + "delivery:\n  max_backoff: 60s\n", []string{"delivery.max_backoff"}},
		{"api.read_timeout under 1s", base + "api:\n  read_timeout: 100ms\n", []string{"api.read_timeout"}},
		{"api.max_connections too few", base + "api:\n  max_connections: 8\n", []string{"api.max_connections"}},
		{"per-address cap over the total", base + "api:\n  max_connections: 64\n  max_connections_per_address: 65\n",
			[]string{"api.max_connections_per_address"}},
		{"bad authority key", "country: FR\nroster:\n  authority_key: \"bm9wZQ==\"\n", []string{"roster.authority_key"}},
		{"bad listen multiaddr", base + "listen: [\"tcp://0.0.0.0:4701\"]\n", []string{"listen", "tcp://0.0.0.0:4701"}},
		{"bad store profile", base + "store:\n  profile: huge\n", []string{"store.profile", "huge"}},
		{"every error at once", "country: xx\napi:\n  listen: nope\ndelivery:\n  window: 0\n",
			[]string{"country", "api.listen", "roster.authority_key", "delivery.window"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.yaml)
			_, err := LoadConfig(p)
			if err == nil {
				t.Fatalf("LoadConfig accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestConfigReadSecretRefusesOpenModes(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(InitOptions{Dir: dir, Country: "DE", AuthorityKey: testAuthorityKey(t)}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "keys", "identity.key")
	if _, err := ReadSecret(p); err != nil {
		t.Fatalf("0600 key refused: %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadSecret(p)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), p) {
			t.Errorf("mode %o: ReadSecret err = %v, want a refusal naming the file and the fix", mode, err)
		}
		if _, err := LoadIdentityKey(p); err == nil {
			t.Errorf("mode %o: LoadIdentityKey accepted the key", mode)
		}
	}
	if _, err := ReadSecret(filepath.Join(dir, "keys", "nope.key")); err == nil {
		t.Error("ReadSecret of a missing file succeeded")
	}
}
