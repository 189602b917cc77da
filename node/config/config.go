// Package config is a node's configuration: the Config struct with its
// defaults (DefaultConfig, the one place they are written down), loading
// and validation, the node's key and token files, and `vigil init`, which
// renders a commented config from those same defaults.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-network/vigil/protocol"
	"gopkg.in/yaml.v3"
)

// Config is everything a node needs to run. Relative paths are resolved
// against the directory of the config file. DefaultConfig documents every
// default; `vigil init` writes them out with comments.
type Config struct {
	// Country is this node's ISO 3166-1 alpha-2 code; it must match the
	// node's roster entry.
	Country protocol.CountryCode `yaml:"country"`
	// DataDir holds the Badger store.
	DataDir string `yaml:"data_dir"`
	// IdentityKey is the Ed25519 libp2p key file (the peer ID), mode 0600.
	IdentityKey string `yaml:"identity_key"`
	// EncryptionKey is the X25519 payload key file, mode 0600.
	EncryptionKey string `yaml:"encryption_key"`
	// PreviousEncryptionKeys are key files from before a rotation. They
	// only open envelopes (queued or stored) sealed to the old key.
	PreviousEncryptionKeys []string `yaml:"previous_encryption_keys"`
	// Listen are libp2p multiaddrs: TCP and QUIC by default.
	Listen []string `yaml:"listen"`
	// Announce, if set, replaces the listen addresses given to peers.
	Announce []string `yaml:"announce"`
	// Transports the libp2p host runs: tcp, quic or both (the default).
	// Test networks of many nodes on one machine use one (node/transport/limits.go).
	Transports []string `yaml:"transports"`
	// Network says how peers reach this node (node/transport/gater.go, issue 9 "Transport").
	Network NetworkConfig `yaml:"network"`

	API       APIConfig       `yaml:"api"`
	Metrics   MetricsConfig   `yaml:"metrics"`
	Roster    RosterConfig    `yaml:"roster"`
	Store     StoreConfig     `yaml:"store"`
	Delivery  DeliveryConfig  `yaml:"delivery"`
	Clock     ClockConfig     `yaml:"clock"`
	Deadlines DeadlineConfig  `yaml:"deadlines"`
	Alerts    AlertConfig     `yaml:"alerts"`
	Retention RetentionConfig `yaml:"retention"`
	Drills    DrillConfig     `yaml:"drills"`
	Admission AdmissionConfig `yaml:"admission"`
	Log       LogConfig       `yaml:"log"`
	// Testing holds switches for test networks only (node/faults.go).
	Testing TestingConfig `yaml:"testing"`

	dir string // directory of the config file
}

// APIConfig configures the operator HTTP API.
type APIConfig struct {
	// Listen is host:port. Keep it on loopback; put a TLS proxy in front if
	// operators work from other machines.
	Listen string `yaml:"listen"`
	// TokenFile holds the operator bearer token, mode 0600.
	TokenFile string `yaml:"token_file"`
	// ReadTimeout bounds reading one whole request, body included, so that
	// slow clients cannot hold connections (node/api/httpserver.go).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxConnections caps open API connections; more are answered 503.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress caps open API connections from one address
	// (IPv4 address or IPv6 /64). A TLS proxy in front is one address.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
}

// MetricsConfig says who may scrape GET /metrics and what it shows.
type MetricsConfig struct {
	// TokenFile, if set, holds a scrape token (mode 0600) that Prometheus
	// presents as a bearer token. The node's API token and the personal
	// tokens of users allowed to read statistics are accepted too.
	TokenFile string `yaml:"token_file"`
	// PerCountry adds series labelled by member country (outbox depth,
	// drill results). They show who is talking to whom, so they are off
	// unless asked for.
	PerCountry bool `yaml:"per_country"`
}

// RosterConfig says where the roster lives and who may sign it.
type RosterConfig struct {
	// Path of the signed roster; replaced atomically when a newer one arrives.
	Path string `yaml:"path"`
	// AuthorityKey is the network authority's Ed25519 public key (base64).
	// It is pinned: only rosters it signed are accepted.
	AuthorityKey string `yaml:"authority_key"`
	// MaxDropShare is the largest share (0 < x <= 1) of the current
	// members a new roster may drop at once; a roster dropping more, or
	// dropping this node, is refused unless an admin forces it (issue 9
	// item 8). 0.34 lets a network of 3 revoke one member; 1 turns the
	// share check off (dropping this node is still refused).
	MaxDropShare float64 `yaml:"max_drop_share"`
}

// StoreConfig configures the Badger store.
type StoreConfig struct {
	// Profile is "default" (one national node) or "small" (many nodes per
	// machine, as in test networks).
	Profile string `yaml:"profile"`
	// EncryptionKeyFile, if set, enables encryption at rest with the AES key
	// (16, 24 or 32 raw bytes) in that file.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// Durability is how a commit is made durable before it is
	// acknowledged: "journal" (default) appends it to the store's own
	// group-committed journal with one fdatasync and lets Badger catch up
	// unsynced; "badger" has Badger sync its WAL on every commit, the
	// mechanics before the journal (kept for comparison in `vigil bench`).
	// BENCHMARKS.md has the measurements behind the default.
	Durability string `yaml:"durability"`
}

// DeliveryConfig tunes the outbox workers.
type DeliveryConfig struct {
	// MaxBackoff caps the wait between retries to an unreachable peer.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Window is how many envelopes may await a receipt per peer at once.
	Window int `yaml:"window"`
	// ReceiptTimeout is how long to wait for a receipt before retrying.
	ReceiptTimeout time.Duration `yaml:"receipt_timeout"`
}

// NetworkConfig tunes who may open a connection to the libp2p host
// (node/transport: gater.go, limits.go; issue 9 "Transport").
type NetworkConfig struct {
	// BehindNAT turns off the source-address check: by default an inbound
	// connection from an IP that no roster member's address uses is closed
	// before the handshake. Set it when members' connections arrive from
	// addresses other than their roster addresses (this node or they sit
	// behind NAT or a load balancer that rewrites source addresses).
	BehindNAT bool `yaml:"behind_nat"`
	// HandshakeTimeout bounds an inbound connection's security and muxer
	// negotiation; a connection that sends nothing is closed after it.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
}

// ClockConfig bounds the timestamps accepted on incoming envelopes.
type ClockConfig struct {
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	MaxAge        time.Duration `yaml:"max_age"`
}

// DeadlineConfig sets the service levels the scheduler enforces.
type DeadlineConfig struct {
	// AckUrgent: an urgent request (preservation) with no human
	// acknowledgement within this time escalates.
	AckUrgent time.Duration `yaml:"ack_urgent"`
	// AckEmergency: the same for emergency disclosure requests.
	AckEmergency time.Duration `yaml:"ack_emergency"`
	// AckRoutine: the same for assistance queries; 0 disables.
	AckRoutine time.Duration `yaml:"ack_routine"`
	// ExpiryWarnings: alerts this long before a preservation expires.
	ExpiryWarnings []time.Duration `yaml:"expiry_warnings"`
	// CheckInterval is how often deadlines are checked.
	CheckInterval time.Duration `yaml:"check_interval"`
	// InsufficiencyDecision is the requester's time to decide after an
	// Art. 29(6) notice, when the operator gives no date.
	InsufficiencyDecision time.Duration `yaml:"insufficiency_decision"`
	// HoldReview is how often retention under an MLA hold is reviewed
	// (Protocol Art. 14(5)), when the operator gives no date.
	HoldReview time.Duration `yaml:"hold_review"`
}

// AlertConfig says where escalations go besides the API and console.
type AlertConfig struct {
	// Webhook receives each new alert as a JSON POST (metadata only).
	Webhook string `yaml:"webhook"`
	// Command is run with the alert as JSON on standard input.
	Command []string `yaml:"command"`
	// HookWorkers is how many webhook or command calls run at once.
	HookWorkers int `yaml:"hook_workers"`
	// HookQueue is how many alerts may wait for a hook worker; when it is
	// full an alert skips the hooks (counted), never the scheduler.
	HookQueue int `yaml:"hook_queue"`
}

// RetentionConfig limits how long personal data is kept.
type RetentionConfig struct {
	// PurgeClosedAfter removes request contents of cases closed this long
	// ago; the audit metadata stays. 0 keeps contents forever.
	PurgeClosedAfter time.Duration `yaml:"purge_closed_after"`
}

// DrillConfig schedules network drills (see node/drill.go).
type DrillConfig struct {
	// Interval between reachability drills (signed pings to every
	// member); 0 disables the schedule. Drills can still be run on demand.
	Interval time.Duration `yaml:"interval"`
	// AckDeadline: a human-response drill request not acknowledged within
	// this time counts as a miss for that country.
	AckDeadline time.Duration `yaml:"ack_deadline"`
}

// AdmissionConfig bounds what each roster member may make this node do
// (node/admission; issue 9). The defaults sit far above real traffic (a
// state sends a few hundred urgent requests a year; a drill is one ping per
// interval), so only a broken or hostile member meets them. Over a limit
// the member gets a retryable refusal, so an honest burst is delayed, not
// lost. A quota or rate of 0 is off.
type AdmissionConfig struct {
	// Deliver: envelopes per second per member, and the burst (one
	// sender's delivery window, so a backlog drains window by window; a
	// larger burst let a flooding member's first burst cost honest
	// members' p99, see BENCHMARKS.md).
	Deliver RateConfig `yaml:"deliver"`
	// Drill: drill pings per second per member.
	Drill RateConfig `yaml:"drill"`
	// Roster: roster exchanges per second per member.
	Roster RateConfig `yaml:"roster"`
	// OpenCases: cases a member opened that are not yet terminal.
	OpenCases int64 `yaml:"open_cases"`
	// BytesPerDay: envelope bytes stored from one member per UTC day.
	BytesPerDay int64 `yaml:"bytes_per_day"`
	// MessagesPerCase: one member's messages in one case.
	MessagesPerCase int64 `yaml:"messages_per_case"`
	// MaxPayload caps the decrypted payload per message type (request,
	// action); the envelope is checked against it before it is opened.
	MaxPayload map[string]int `yaml:"max_payload"`
	// PeerReserveBytes is free disk space kept for this node's own
	// operators: writes for members stop (local-reserve, retryable) when
	// less than this is free above the store's own minimum.
	PeerReserveBytes int64 `yaml:"peer_reserve_bytes"`
	// AlertInterval: how often a member's aggregated over-limit alert is
	// updated while refusals continue.
	AlertInterval time.Duration `yaml:"alert_interval"`
}

// RateConfig is a token bucket.
type RateConfig struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `yaml:"format"` // json (production) or console (development)
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// TestingConfig holds switches for test networks. Never enable them on a
// production node; `vigil testnet init` appends them to the config that
// Init wrote.
type TestingConfig struct {
	// FaultInjection enables POST /api/v1/testing/{partition,heal,clock}.
	FaultInjection bool `yaml:"fault_injection"`
	// SharedMachine says the whole network runs on this one machine:
	// keep-alives and pings then slow down with the roster size
	// (node/mesh), so 193 nodes fit on two cores.
	SharedMachine bool `yaml:"shared_machine"`
}

// DefaultConfig returns a config with every default filled in. It is the
// only place defaults are written down: Init renders the commented config
// from it, and the tests check configs/examples/vigil.yaml against it.
func DefaultConfig() Config {
	return Config{
		DataDir:       "data",
		IdentityKey:   "keys/identity.key",
		EncryptionKey: "keys/encryption.key",
		Listen:        []string{"/ip4/0.0.0.0/tcp/4701", "/ip4/0.0.0.0/udp/4701/quic-v1"},
		Transports:    []string{TransportTCP, TransportQUIC},
		Network:       NetworkConfig{HandshakeTimeout: 10 * time.Second},
		API: APIConfig{Listen: "127.0.0.1:8470", TokenFile: "keys/api.token", ReadTimeout: 30 * time.Second,
			MaxConnections: 1024, MaxConnectionsPerAddress: 128},
		Roster:   RosterConfig{Path: "roster.json", MaxDropShare: 0.34},
		Store:    StoreConfig{Profile: "default", Durability: "journal"},
		Delivery: DeliveryConfig{MaxBackoff: 30 * time.Second, Window: 128, ReceiptTimeout: 30 * time.Second},
		Clock:    ClockConfig{MaxFutureSkew: 5 * time.Minute, MaxAge: 14 * 24 * time.Hour},
		Deadlines: DeadlineConfig{AckUrgent: 30 * time.Minute, AckEmergency: 10 * time.Minute,
			ExpiryWarnings: []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour}, CheckInterval: 30 * time.Second,
			InsufficiencyDecision: 72 * time.Hour, HoldReview: 30 * 24 * time.Hour},
		Alerts:    AlertConfig{HookWorkers: 2, HookQueue: 256},
		Retention: RetentionConfig{PurgeClosedAfter: 90 * 24 * time.Hour},
		Drills:    DrillConfig{Interval: time.Hour, AckDeadline: 30 * time.Minute},
		Admission: DefaultAdmission(),
		Log:       LogConfig{Format: "json", Level: "info"},
	}
}

// DefaultAdmission is the production admission profile (AdmissionConfig).
func DefaultAdmission() AdmissionConfig {
	return AdmissionConfig{
		Deliver:          RateConfig{PerSecond: 20, Burst: 128},
		Drill:            RateConfig{PerSecond: 0.2, Burst: 20},
		Roster:           RateConfig{PerSecond: 0.2, Burst: 20},
		OpenCases:        1000,
		BytesPerDay:      64 << 20,
		MessagesPerCase:  500,
		MaxPayload:       map[string]int{"request": 64 << 10, "action": 64 << 10},
		PeerReserveBytes: 512 << 20,
		AlertInterval:    time.Minute,
	}
}

// LoadConfig reads a YAML config over the defaults and validates it.
func LoadConfig(path string) (*Config, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// readConfig reads a YAML config over the defaults without validating it
// (init compares a config that does not pin an authority key yet).
func readConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.dir = filepath.Dir(abs)
	return &cfg, nil
}

// Path resolves a configured path against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// SetDir sets the directory relative paths resolve against (for configs
// built in code rather than loaded from a file).
func (c *Config) SetDir(dir string) { c.dir = dir }
