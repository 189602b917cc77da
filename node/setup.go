package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/libp2p/go-libp2p/core/peer"

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

var configTemplate = template.Must(template.New("config").Parse(`# Vigil node configuration. Relative paths are relative to this file.
# Every setting shows its default unless noted.

# ISO 3166-1 alpha-2 code of the state this node serves. Must match the
# roster entry for this node's peer ID.
country: {{.Country}}

# Badger database directory (cases, outbox, inbox, receipts, audit log).
data_dir: data

# Ed25519 libp2p identity (the peer ID) and X25519 payload encryption key.
# Created by 'vigil init' with mode 0600; never overwritten by it.
identity_key: keys/identity.key
encryption_key: keys/encryption.key
# After rotating the encryption key, list the old key files here so
# envelopes sealed to them (queued or stored) still open.
previous_encryption_keys: []

# libp2p listen addresses: TCP and QUIC. Peers learn them from the roster,
# so they must match the addrs the authority publishes for this node.
listen:
{{- range .Listen}}
  - {{.}}
{{- end}}
# announce: []   # addresses to publish instead of the listen addresses

network:
  # Inbound connections from an IP that no roster member's address uses
  # are closed before the handshake. Set true when members' connections
  # arrive from other addresses (NAT or a load balancer rewriting sources).
  behind_nat: false
  # An inbound connection that has not finished the security handshake
  # within this time is closed (idle or slow strangers hold no resources).
  handshake_timeout: 10s

api:
  # Operator API. Loopback only by default; front it with a TLS proxy if
  # operators connect from other machines.
  listen: {{.APIListen}}
  # Bearer token for the CLI and integrations (mode 0600).
  token_file: keys/api.token

roster:
  # Signed network roster; replaced atomically when a newer one arrives.
  path: roster.json
  # The network authority's Ed25519 public key (base64). Only rosters it
  # signed are accepted. Get it from the network secretariat out of band.
  authority_key: "{{.AuthorityKey}}"
  # A roster that drops more than this share of the current members at
  # once (or drops this node) is refused and raises a critical alert,
  # unless an admin forces it (POST /api/v1/roster?force=true, 'vigil
  # roster push --force'). 0.34 lets a network of 3 revoke one member.
  max_drop_share: 0.34

store:
  # default: one national node. small: many nodes on one machine (testnets).
  profile: {{.StoreProfile}}
  # AES key file (16/24/32 raw bytes, mode 0600) for encryption at rest.
  # Empty disables it; the payloads themselves are always end-to-end encrypted.
  encryption_key_file: ""

delivery:
  # Longest wait between retries to an unreachable peer (at most 30s).
  max_backoff: 30s
  # Envelopes per peer awaiting a receipt at once.
  window: 128
  # Retry when no receipt arrives within this time.
  receipt_timeout: 30s

clock:
  # Refuse envelopes dated further in the future than this (clock error).
  max_future_skew: 5m
  # Refuse envelopes older than this (replays of ancient traffic).
  max_age: 336h

deadlines:
  # No human acknowledgement of an urgent (preservation) request within
  # this time raises an escalation on both sides.
  ack_urgent: 30m
  # The same for emergency disclosure requests (Protocol Art. 9).
  ack_emergency: 10m
  # The same for assistance queries; 0 disables.
  ack_routine: 0s
  # Alerts before a preservation expires.
  expiry_warnings: [336h, 168h, 24h]
  check_interval: 30s

alerts:
  # Each new alert is POSTed here as JSON (metadata only, never contents).
  webhook: ""
  # Or run a command with the alert as JSON on stdin, e.g. [/usr/local/bin/page-duty-officer].
  command: []
  # Hooks run on this many workers; at most hook_queue alerts wait for one.
  # Beyond that an alert is not sent to the hooks (counted in
  # vigil_alert_hooks_dropped_total); it stays in the API and console.
  hook_workers: 2
  hook_queue: 256

retention:
  # Request contents of cases closed this long ago are purged; the audit
  # metadata stays. 0s keeps them.
  purge_closed_after: 2160h

drills:
  # Reachability drill: signed pings to every member on this schedule
  # (0s disables it; POST /api/v1/drills/reachability runs one now).
  interval: 1h
  # Human-response drill: a test request not acknowledged within this time
  # counts as a miss for that country.
  ack_deadline: 30m

admission:
  # What each roster member may make this node do (issue 9). Far above real
  # traffic; over a limit the member gets a retryable refusal naming it, so
  # an honest burst is delayed, never lost. 0 turns a rate or quota off.
  # Envelopes per second per member on /vigil/deliver, and the burst.
  deliver: {per_second: {{.Admission.Deliver.PerSecond}}, burst: {{.Admission.Deliver.Burst}}}
  # Drill pings and roster exchanges per second per member.
  drill: {per_second: {{.Admission.Drill.PerSecond}}, burst: {{.Admission.Drill.Burst}}}
  roster: {per_second: {{.Admission.Roster.PerSecond}}, burst: {{.Admission.Roster.Burst}}}
  # Cases a member opened that are not yet closed (or otherwise terminal).
  open_cases: {{.Admission.OpenCases}}
  # Envelope bytes stored from one member per UTC day.
  bytes_per_day: {{.Admission.BytesPerDay}}
  # One member's messages in one case.
  messages_per_case: {{.Admission.MessagesPerCase}}
  # Largest decrypted payload per message type; other types are refused.
  max_payload: {request: {{index .Admission.MaxPayload "request"}}, action: {{index .Admission.MaxPayload "action"}}}
  # Free disk space kept for this node's own operators: members' writes
  # stop first (local-reserve) so submit, acknowledge and act keep working.
  peer_reserve_bytes: {{.Admission.PeerReserveBytes}}
  # How often a member's aggregated over-limit alert is updated.
  alert_interval: {{.Admission.AlertInterval}}

log:
  # json for production (journald, log shippers); console for development.
  format: {{.LogFormat}}
  # debug, info, warn or error.
  level: info
`))

// Init creates a node directory: keys (never overwritten), API token and a
// commented config (kept if present). Running it twice changes nothing.
func Init(o InitOptions) (*InitResult, error) {
	if o.Country = strings.ToUpper(o.Country); !countryCode.MatchString(o.Country) {
		return nil, fmt.Errorf("init: country %q must be an ISO 3166-1 alpha-2 code", o.Country)
	}
	if o.AuthorityKey != "" {
		if _, err := protocol.ParseAuthorityKey(o.AuthorityKey); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	def := DefaultConfig()
	if len(o.Listen) == 0 {
		o.Listen = def.Listen
	}
	if o.APIListen == "" {
		o.APIListen = def.API.Listen
	}
	if o.StoreProfile == "" {
		o.StoreProfile = "default"
	}
	if o.LogFormat == "" {
		o.LogFormat = "json"
	}
	if o.Admission == nil {
		o.Admission = &def.Admission
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("init %s: %w", o.Dir, err)
	}
	res := &InitResult{ConfigPath: filepath.Join(o.Dir, "vigil.yaml")}
	idPath := filepath.Join(o.Dir, def.IdentityKey)
	if created, err := EnsureIdentityKey(idPath); err != nil {
		return nil, err
	} else if created {
		res.Created = append(res.Created, idPath)
	}
	encPath := filepath.Join(o.Dir, def.EncryptionKey)
	if created, err := EnsureEncryptionKey(encPath); err != nil {
		return nil, err
	} else if created {
		res.Created = append(res.Created, encPath)
	}
	tokPath := filepath.Join(o.Dir, def.API.TokenFile)
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
		var buf bytes.Buffer
		if err := configTemplate.Execute(&buf, o); err != nil {
			return nil, fmt.Errorf("init: render config: %w", err)
		}
		if err := WriteFileAtomic(res.ConfigPath, buf.Bytes(), 0o644); err != nil {
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
	res.Member = protocol.Member{Country: o.Country, PeerID: res.PeerID.String(),
		Addrs: dialable(o.Listen), EncryptionKey: protocol.EncodeKey(enc.Public)}
	return res, nil
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
