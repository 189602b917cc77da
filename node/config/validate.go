package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/vigil-network/vigil/protocol"
)

// Validate reports every invalid setting at once.
func (c *Config) Validate() error {
	var errs []string
	if !c.Country.Valid() {
		errs = append(errs, fmt.Sprintf("country %q must be an ISO 3166-1 alpha-2 code like FR", c.Country))
	}
	for _, a := range c.Listen {
		if _, err := ma.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Sprintf("listen %q: %v", a, err))
		}
	}
	for _, a := range c.Announce {
		if _, err := ma.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Sprintf("announce %q: %v", a, err))
		}
	}
	if len(c.Listen) == 0 {
		errs = append(errs, "listen needs at least one address")
	}
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		errs = append(errs, fmt.Sprintf("api.listen %q: %v", c.API.Listen, err))
	}
	if c.API.ReadTimeout < time.Second || c.API.ReadTimeout > 10*time.Minute {
		errs = append(errs, "api.read_timeout must be between 1s and 10m")
	}
	if c.API.MaxConnections < 16 || c.API.MaxConnections > 65536 {
		errs = append(errs, "api.max_connections must be between 16 and 65536")
	}
	if c.API.MaxConnectionsPerAddress < 4 || c.API.MaxConnectionsPerAddress > c.API.MaxConnections {
		errs = append(errs, "api.max_connections_per_address must be at least 4 and at most api.max_connections")
	}
	if _, err := protocol.ParseAuthorityKey(c.Roster.AuthorityKey); err != nil {
		errs = append(errs, "roster.authority_key: "+err.Error())
	}
	if !(c.Roster.MaxDropShare > 0 && c.Roster.MaxDropShare <= 1) {
		errs = append(errs, "roster.max_drop_share must be above 0 and at most 1")
	}
	switch c.Store.Profile {
	case "default", "small":
	default:
		errs = append(errs, fmt.Sprintf("store.profile %q must be default or small", c.Store.Profile))
	}
	switch c.Store.Durability {
	case "journal", "badger":
	default:
		errs = append(errs, fmt.Sprintf("store.durability %q must be journal or badger", c.Store.Durability))
	}
	if c.Delivery.MaxBackoff <= 0 || c.Delivery.MaxBackoff > 30*time.Second {
		errs = append(errs, "delivery.max_backoff must be between 0 and 30s")
	}
	if c.Delivery.Window < 1 || c.Delivery.Window > 4096 {
		errs = append(errs, "delivery.window must be between 1 and 4096")
	}
	if c.Delivery.ReceiptTimeout < time.Second {
		errs = append(errs, "delivery.receipt_timeout must be at least 1s")
	}
	if c.Deadlines.AckUrgent <= 0 || c.Deadlines.AckEmergency <= 0 || c.Deadlines.AckRoutine < 0 {
		errs = append(errs, "deadlines.ack_urgent and ack_emergency must be positive, ack_routine 0 or positive")
	}
	if c.Deadlines.InsufficiencyDecision < time.Hour || c.Deadlines.HoldReview < 24*time.Hour {
		errs = append(errs, "deadlines.insufficiency_decision must be at least 1h and hold_review at least 24h")
	}
	if c.Deadlines.CheckInterval < time.Second {
		errs = append(errs, "deadlines.check_interval must be at least 1s")
	}
	if c.Alerts.HookWorkers < 1 || c.Alerts.HookWorkers > 64 {
		errs = append(errs, "alerts.hook_workers must be between 1 and 64")
	}
	if c.Alerts.HookQueue < 1 || c.Alerts.HookQueue > 65536 {
		errs = append(errs, "alerts.hook_queue must be between 1 and 65536")
	}
	if c.Retention.PurgeClosedAfter < 0 {
		errs = append(errs, "retention.purge_closed_after must not be negative")
	}
	if c.Drills.Interval != 0 && c.Drills.Interval < time.Minute {
		errs = append(errs, "drills.interval must be 0 (off) or at least 1m")
	}
	if c.Drills.AckDeadline < time.Minute {
		errs = append(errs, "drills.ack_deadline must be at least 1m")
	}
	errs = append(errs, c.Admission.validate()...)
	errs = append(errs, c.validateTransports()...)
	if c.Network.HandshakeTimeout < time.Second || c.Network.HandshakeTimeout > time.Minute {
		errs = append(errs, "network.handshake_timeout must be between 1s and 1m")
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Sprintf("log.format %q must be json or console", c.Log.Format))
	}
	for _, p := range []struct{ name, v string }{
		{"data_dir", c.DataDir}, {"identity_key", c.IdentityKey}, {"encryption_key", c.EncryptionKey},
		{"api.token_file", c.API.TokenFile}, {"roster.path", c.Roster.Path},
	} {
		if p.v == "" {
			errs = append(errs, p.name+" is required")
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (a *AdmissionConfig) validate() []string {
	var errs []string
	for _, r := range []struct {
		name string
		r    RateConfig
	}{{"deliver", a.Deliver}, {"drill", a.Drill}, {"roster", a.Roster}} {
		if r.r.PerSecond < 0 || (r.r.PerSecond > 0 && r.r.Burst < 1) {
			errs = append(errs, fmt.Sprintf("admission.%s: per_second must be 0 (off) or positive with a burst of at least 1", r.name))
		}
	}
	if a.OpenCases < 0 || a.BytesPerDay < 0 || a.MessagesPerCase < 0 || a.PeerReserveBytes < 0 {
		errs = append(errs, "admission.open_cases, bytes_per_day, messages_per_case and peer_reserve_bytes must not be negative")
	}
	for t, v := range a.MaxPayload {
		switch protocol.MessageType(t) {
		case protocol.TypeRequest, protocol.TypeAction:
		default:
			errs = append(errs, fmt.Sprintf("admission.max_payload: %q is not a message type (request, action)", t))
		}
		if v < 1 || v > protocol.MaxFrameSize {
			errs = append(errs, fmt.Sprintf("admission.max_payload.%s must be between 1 and %d", t, protocol.MaxFrameSize))
		} else if a.BytesPerDay > 0 && int64(v) > a.BytesPerDay {
			errs = append(errs, fmt.Sprintf("admission.max_payload.%s is above bytes_per_day: such a message could never be stored", t))
		}
	}
	if a.AlertInterval < time.Second {
		errs = append(errs, "admission.alert_interval must be at least 1s")
	}
	return errs
}

// Names of the libp2p transports a node can run (Config.Transports).
const (
	TransportTCP  = "tcp"
	TransportQUIC = "quic"
)

// TransportsEnabled says which libp2p transports the node runs. An empty
// list (a config built in code rather than loaded) means both.
func (c *Config) TransportsEnabled() (tcp, quic bool) {
	if len(c.Transports) == 0 {
		return true, true
	}
	for _, t := range c.Transports {
		tcp = tcp || strings.EqualFold(t, TransportTCP)
		quic = quic || strings.EqualFold(t, TransportQUIC)
	}
	return tcp, quic
}

// validateTransports checks the transports setting against the listen
// addresses: every listen address needs its transport enabled.
func (c *Config) validateTransports() []string {
	var errs []string
	if len(c.Transports) == 0 {
		return []string{"transports needs at least one of tcp, quic"}
	}
	enabled := map[string]bool{}
	for _, t := range c.Transports {
		switch t {
		case TransportTCP, TransportQUIC:
			enabled[t] = true
		default:
			errs = append(errs, fmt.Sprintf("transports: %q must be tcp or quic", t))
		}
	}
	for _, a := range c.Listen {
		if t := addrTransport(a); t != "" && !enabled[t] {
			errs = append(errs, fmt.Sprintf("listen %q needs transport %s, which transports does not enable", a, t))
		}
	}
	return errs
}

// addrTransport names the transport a multiaddr uses ("" if neither).
func addrTransport(a string) string {
	m, err := ma.NewMultiaddr(a)
	if err != nil {
		return ""
	}
	if _, err := m.ValueForProtocol(ma.P_QUIC_V1); err == nil {
		return TransportQUIC
	}
	if _, err := m.ValueForProtocol(ma.P_TCP); err == nil {
		return TransportTCP
	}
	return ""
}
