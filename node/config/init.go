package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v3"

	"github.com/vigil-network/vigil/protocol"
)

// InitOptions describes a node to create with Init.
type InitOptions struct {
	Dir          string
	Country      string
	AuthorityKey string   // base64 Ed25519 public key of the network authority
	Listen       []string // libp2p listen multiaddrs; defaults if empty
	APIListen    string   // defaults to 127.0.0.1:8470
	StoreProfile string   // default or small
	LogFormat    string   // json or console
	// Admission, if set, replaces the default admission limits written
	// to the config (test networks raise them for benchmarks).
	Admission *AdmissionConfig
}

// InitResult says what Init made and what the authority needs to add this
// node to the roster.
type InitResult struct {
	ConfigPath string
	Created    []string // files created this run; empty when all existed
	PeerID     peer.ID
	Token      string
	Member     protocol.Member // roster entry skeleton for the authority
}

// configTemplate is the commented config Init writes. Every value in it
// comes from the Config it is rendered with (DefaultConfig with the
// InitOptions applied), so no default is written down twice.
//
//go:embed vigil.yaml.tmpl
var configTemplateText string

var configTemplate = template.Must(template.New("vigil.yaml").Funcs(template.FuncMap{
	"str": yamlString, "list": yamlList, "dur": yamlDuration, "durs": yamlDurations, "ints": yamlIntMap,
}).Parse(configTemplateText))

// renderConfig writes c as the commented config file.
func renderConfig(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, c); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlString is s as a YAML scalar: plain when YAML reads it back as the
// same string, double-quoted otherwise (empty, "NO", "1.0", newlines).
func yamlString(s string) string {
	b, err := yaml.Marshal(s)
	if out := strings.TrimSuffix(string(b), "\n"); err == nil && !strings.Contains(out, "\n") {
		return out
	}
	return strconv.Quote(s)
}

// flowString is s as a scalar inside a flow collection ([a, b] or {k: v}),
// where the flow indicators need quotes too.
func flowString(s string) string {
	if out := yamlString(s); out == s && !strings.ContainsAny(s, ",[]{}") {
		return out
	}
	return strconv.Quote(s)
}

func yamlList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = flowString(s)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// yamlDuration writes d as time.ParseDuration reads it, without the zero
// units String adds: 336h rather than 336h0m0s.
func yamlDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func yamlDurations(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = yamlDuration(d)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// yamlIntMap writes m as a flow mapping, keys sorted.
func yamlIntMap(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = flowString(k) + ": " + strconv.Itoa(m[k])
	}
	return "{" + strings.Join(out, ", ") + "}"
}

// Init creates a node directory: keys (never overwritten), API token and a
// commented config (kept if present). Running it twice changes nothing.
func Init(o InitOptions) (*InitResult, error) {
	country, err := protocol.ParseCountryCode(o.Country)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	o.Country = string(country)
	if o.AuthorityKey != "" {
		if _, err := protocol.ParseAuthorityKey(o.AuthorityKey); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	cfg := DefaultConfig()
	cfg.Country, cfg.Roster.AuthorityKey = country, o.AuthorityKey
	if len(o.Listen) > 0 {
		cfg.Listen = o.Listen
	}
	if o.APIListen != "" {
		cfg.API.Listen = o.APIListen
	}
	if o.StoreProfile != "" {
		cfg.Store.Profile = o.StoreProfile
	}
	if o.LogFormat != "" {
		cfg.Log.Format = o.LogFormat
	}
	if o.Admission != nil {
		cfg.Admission = *o.Admission
	}
	res := &InitResult{ConfigPath: filepath.Join(o.Dir, "vigil.yaml")}
	if _, err := os.Stat(res.ConfigPath); err == nil {
		// The config is kept, so what the node will run with is what it
		// says: a flag that contradicts it is refused, not ignored.
		existing, err := readConfig(res.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		if err := initConflicts(res.ConfigPath, existing, o); err != nil {
			return nil, err
		}
		cfg.Listen = existing.Listen // for member.json's addresses
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", o.Dir, err)
	}
	idPath := filepath.Join(o.Dir, cfg.IdentityKey)
	if created, err := EnsureIdentityKey(idPath); err != nil {
		return nil, err
	} else if created {
		res.Created = append(res.Created, idPath)
	}
	encPath := filepath.Join(o.Dir, cfg.EncryptionKey)
	if created, err := EnsureEncryptionKey(encPath); err != nil {
		return nil, err
	} else if created {
		res.Created = append(res.Created, encPath)
	}
	tokPath := filepath.Join(o.Dir, cfg.API.TokenFile)
	_, statErr := os.Stat(tokPath)
	tok, err := EnsureToken(tokPath)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		res.Created = append(res.Created, tokPath)
	}
	res.Token = tok
	if _, err := os.Stat(res.ConfigPath); errors.Is(err, fs.ErrNotExist) {
		doc, err := renderConfig(&cfg)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		if err := WriteFileAtomic(res.ConfigPath, doc, 0o644); err != nil {
			return nil, err
		}
		res.Created = append(res.Created, res.ConfigPath)
	}
	key, err := LoadIdentityKey(idPath)
	if err != nil {
		return nil, err
	}
	if res.PeerID, err = peer.IDFromPrivateKey(key); err != nil {
		return nil, err
	}
	enc, err := LoadEncryptionKey(encPath)
	if err != nil {
		return nil, err
	}
	res.Member = protocol.Member{Country: country, PeerID: res.PeerID.String(),
		Addrs: dialable(cfg.Listen), EncryptionKey: protocol.EncodeKey(enc.Public)}
	return res, nil
}

// ErrInitConflict is returned when Init is run again on a node directory
// with a value that contradicts the config it keeps.
var ErrInitConflict = errors.New("conflicts with the existing config")

// initConflicts refuses options that differ from the config already in
// path, naming how to make the change instead.
func initConflicts(path string, cfg *Config, o InitOptions) error {
	if string(cfg.Country) != o.Country {
		return fmt.Errorf("init: --country %s %w: %s is the node of %s; a node's keys are its identity in the roster, so create the %s node in another --dir",
			o.Country, ErrInitConflict, path, cfg.Country, o.Country)
	}
	switch {
	case o.AuthorityKey == "" || o.AuthorityKey == cfg.Roster.AuthorityKey:
	case cfg.Roster.AuthorityKey == "":
		return fmt.Errorf("init: --authority-key %w: %s pins no authority key yet and init never rewrites a config; set roster.authority_key in it",
			ErrInitConflict, path)
	default:
		return fmt.Errorf("init: --authority-key %w: %s pins another authority key (%s); to change it, edit roster.authority_key in that file",
			ErrInitConflict, path, cfg.Roster.AuthorityKey)
	}
	if len(o.Listen) > 0 && !slices.Equal(o.Listen, cfg.Listen) {
		return fmt.Errorf("init: --listen %w: %s listens on %s; edit listen in that file", ErrInitConflict, path, strings.Join(cfg.Listen, ", "))
	}
	if o.APIListen != "" && o.APIListen != cfg.API.Listen {
		return fmt.Errorf("init: --api-listen %w: %s has api.listen %s; edit it in that file", ErrInitConflict, path, cfg.API.Listen)
	}
	return nil
}

// dialable turns wildcard listen addresses into loopback ones as a starting
// point for the roster entry; the operator replaces them with public ones.
func dialable(listen []string) []string {
	out := make([]string, len(listen))
	for i, a := range listen {
		out[i] = strings.Replace(a, "/ip4/0.0.0.0/", "/ip4/127.0.0.1/", 1)
	}
	return out
}
