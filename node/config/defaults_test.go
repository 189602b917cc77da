package config

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Issue 10: "Defaults live once". DefaultConfig is the only place a default
// is written down; the config 'vigil init' writes is rendered from it, and
// configs/examples/vigil.yaml is checked against it value by value. The
// checks walk Config by reflection, so a new field that the template or the
// example does not carry, or a default that drifts, fails them.

// skippedByInit are the settings the config Init writes leaves out (or
// only shows in a comment), and why. Every other setting must be written
// with its value.
var skippedByInit = map[string]string{
	"announce":   "site-specific; shown commented out",
	"transports": "shown commented out: 'vigil testnet init' appends its own transports line",
	"testing":    "test networks only: 'vigil testnet init' appends the section",
}

// exampleExtras are the settings the example sets on purpose (its
// "example" markings); every other value must be the default.
func exampleExtras(c *Config) {
	c.Country = "DE"
	c.DataDir = "/var/lib/vigil/data"
	c.Announce = []string{"/dns4/vigil.example.de/tcp/4701", "/dns4/vigil.example.de/udp/4701/quic-v1"}
	c.Roster.AuthorityKey = "/UfxyX3ibllAGmjtIH9gf9gOfPMMw4MKBZ8ozup1Xqw="
}

// setting is one leaf of Config: its dotted YAML path and field index.
type setting struct {
	path  string
	index []int
}

// settings lists every leaf setting of Config. Structs are sections;
// everything else (durations, lists, maps) is one value.
func settings(t *testing.T, typ reflect.Type, prefix string, index []int) []setting {
	t.Helper()
	var out []setting
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			t.Fatalf("%s%s has no yaml name: every setting needs one", prefix, f.Name)
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, settings(t, f.Type, prefix+name+".", idx)...)
			continue
		}
		out = append(out, setting{path: prefix + name, index: idx})
	}
	return out
}

// skipped reports whether path or one of its sections is in skip.
func skipped(path string, skip map[string]string) bool {
	for p := path; ; {
		if _, ok := skip[p]; ok {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// hasKey reports whether the YAML mapping m holds the dotted path.
func hasKey(m map[string]any, path string) bool {
	head, rest, nested := strings.Cut(path, ".")
	v, ok := m[head]
	if !ok || !nested {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasKey(sub, rest)
}

// sameSetting compares two values of one setting; an empty list or map is
// the same as none.
func sameSetting(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Slice, reflect.Map:
		if a.Len() == 0 && b.Len() == 0 {
			return true
		}
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// checkConfigFile checks that the YAML document doc sets every setting of
// Config not in skip, to the value want has, and sets none of those in skip.
// name labels the failures.
func checkConfigFile(t *testing.T, name string, doc []byte, want Config, skip map[string]string) {
	t.Helper()
	var keys map[string]any
	if err := yaml.Unmarshal(doc, &keys); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// Decoded over a zero Config, not the defaults, so a setting is only
	// right if the file itself says it. Unknown keys are errors.
	var got Config
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for _, s := range settings(t, reflect.TypeFor[Config](), "", nil) {
		if skipped(s.path, skip) {
			if hasKey(keys, s.path) {
				t.Errorf("%s sets %s, which it should leave out (%s)", name, s.path, skip[s.path])
			}
			continue
		}
		if !hasKey(keys, s.path) {
			t.Errorf("%s does not set %s (want %v)", name, s.path, wv.FieldByIndex(s.index))
			continue
		}
		if g, w := gv.FieldByIndex(s.index), wv.FieldByIndex(s.index); !sameSetting(g, w) {
			t.Errorf("%s sets %s to %v, want %v", name, s.path, g, w)
		}
	}
}

// TestInitWritesEveryDefault: the config Init writes sets every setting
// (but the skipped ones) to DefaultConfig's value, given only the country
// and the authority key.
func TestInitWritesEveryDefault(t *testing.T) {
	auth := testAuthorityKey(t)
	res, err := Init(InitOptions{Dir: t.TempDir(), Country: "DE", AuthorityKey: auth})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Country, want.Roster.AuthorityKey = "DE", auth
	checkConfigFile(t, "the config vigil init writes", doc, want, skippedByInit)
}

// TestConfigExampleMatchesDefaults: configs/examples/vigil.yaml sets every
// setting Init writes to its default, except where it is marked "example".
func TestConfigExampleMatchesDefaults(t *testing.T) {
	doc, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	exampleExtras(&want)
	skip := map[string]string{}
	for k, why := range skippedByInit {
		if k != "announce" { // the example shows a NAT deployment's announce
			skip[k] = why
		}
	}
	checkConfigFile(t, exampleConfig, doc, want, skip)
}

// TestRenderConfigRoundTrips renders a config whose every setting differs
// from the default, with values YAML could misread (a country that YAML
// 1.1 reads as false, flow indicators, a colon, fractions), and reads back
// the same config: Init's options and a changed default always reach the
// file intact.
func TestRenderConfigRoundTrips(t *testing.T) {
	c := Config{
		Country: "NO", DataDir: "/srv/vigil data", IdentityKey: "k/id #1.key", EncryptionKey: "k/enc.key",
		PreviousEncryptionKeys: []string{"old/enc-2024.key", "old/a, b.key"},
		Listen:                 []string{"/ip4/192.0.2.1/tcp/4801"},
		Announce:               []string{"/dns4/vigil.example.no/tcp/4801"},
		Transports:             []string{TransportTCP},
		Network:                NetworkConfig{BehindNAT: true, HandshakeTimeout: 1500 * time.Millisecond},
		API: APIConfig{Listen: "[::1]:9470", TokenFile: "tokens/api: token", ReadTimeout: 90 * time.Second,
			MaxConnections: 64, MaxConnectionsPerAddress: 8},
		Metrics:  MetricsConfig{TokenFile: "keys/scrape: token", PerCountry: true},
		Roster:   RosterConfig{Path: "roster-no.json", AuthorityKey: "/UfxyX3ibllAGmjtIH9gf9gOfPMMw4MKBZ8ozup1Xqw=", MaxDropShare: 1},
		Store:    StoreConfig{Profile: "small", EncryptionKeyFile: "keys/store.key", Durability: "badger"},
		Delivery: DeliveryConfig{MaxBackoff: 7 * time.Second, Window: 4096, ReceiptTimeout: 90 * time.Second},
		Clock:    ClockConfig{MaxFutureSkew: 90 * time.Second, MaxAge: 36*time.Hour + 30*time.Minute},
		Deadlines: DeadlineConfig{AckUrgent: time.Hour, AckEmergency: 5 * time.Minute, AckRoutine: 48 * time.Hour,
			ExpiryWarnings: []time.Duration{90 * time.Minute}, CheckInterval: 2 * time.Second,
			InsufficiencyDecision: 24 * time.Hour, HoldReview: 14 * 24 * time.Hour},
		Alerts:    AlertConfig{Webhook: "https://alerts.example/hook?a=1#x", Command: []string{"/usr/local/bin/page", "--to", "{duty}"}, HookWorkers: 8, HookQueue: 4},
		Retention: RetentionConfig{PurgeClosedAfter: 0},
		Drills:    DrillConfig{Interval: 0, AckDeadline: 2 * time.Hour},
		Admission: AdmissionConfig{
			Deliver: RateConfig{PerSecond: 1e5, Burst: 100000}, Drill: RateConfig{PerSecond: 0.001, Burst: 1},
			Roster: RateConfig{PerSecond: 1.5, Burst: 3}, OpenCases: 10_000_000, BytesPerDay: 1 << 40,
			MessagesPerCase: 0, MaxPayload: map[string]int{"request": 1 << 20}, PeerReserveBytes: 0,
			AlertInterval: 90 * time.Second,
		},
		Log: LogConfig{Format: "console", Level: "debug"},
	}
	// Every rendered setting must differ from its default, or this test
	// would not show that the value comes from the config.
	def, cv := reflect.ValueOf(DefaultConfig()), reflect.ValueOf(c)
	for _, s := range settings(t, reflect.TypeFor[Config](), "", nil) {
		if !skipped(s.path, skippedByInit) && sameSetting(cv.FieldByIndex(s.index), def.FieldByIndex(s.index)) {
			t.Errorf("%s has its default value here; give it another one", s.path)
		}
	}
	doc, err := renderConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	checkConfigFile(t, "the rendered config", doc, c, skippedByInit)
}

func TestYAMLDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 5 * time.Minute: "5m", 336 * time.Hour: "336h",
		time.Hour + 30*time.Minute: "1h30m", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s",
		2*time.Hour + 5*time.Second: "2h0m5s",
	} {
		if got := yamlDuration(d); got != want {
			t.Errorf("yamlDuration(%v) = %q, want %q", d, got, want)
		} else if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q parses back to %v (%v), want %v", got, back, err, d)
		}
	}
}
