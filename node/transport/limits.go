package transport

import (
	"fmt"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/zap"
)

// Transports and resource limits of the libp2p host.
//
// A national node runs TCP and QUIC. A test network of up to 193 nodes on
// one machine runs one of them (`transports: [tcp]`, which `vigil testnet
// init` writes): each transport costs memory and timers per connection,
// and a full mesh of 193 nodes holds 18,528 connections. See the
// "193-node testnet" section of BENCHMARKS.md for the measurements.

// transportOptions returns the libp2p options for the enabled transports.
func transportOptions(tcpOn, quicOn bool) []libp2p.Option {
	var opts []libp2p.Option
	if tcpOn {
		// No SO_REUSEPORT: a second process on the same port must fail to
		// start, not share the port (issue 9 item 10). QUIC listens with a
		// plain UDP socket, which cannot be shared.
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()))
	}
	if quicOn {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	return opts
}

// unMembers is the number of UN member states, the largest roster the
// network expects. Limits are sized for at least this many members so a
// roster that grows while a node runs does not hit them.
const unMembers = 193

// resourceManager builds a libp2p resource manager with explicit limits
// sized to the roster instead of libp2p's defaults, which scale with the
// machine's memory (1/8 of it per process: 3 GiB each for 193 test nodes on
// a 24 GiB machine). The limits are caps for accounting, not allocations.
// It returns the manager wrapped so refusals reach the gater's metric, and
// the manager's allowlist, which the gater keeps equal to the members'
// addresses (gater.go).
func resourceManager(members int, g *Gater) (network.ResourceManager, *rcmgr.Allowlist, error) {
	// The node exports its own metrics; libp2p's would trace every scope
	// change for Prometheus.
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rosterLimits(members, fdLimit())), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, nil, err
	}
	al := rcmgr.GetAllowlist(rm)
	if al == nil {
		rm.Close()
		return nil, nil, fmt.Errorf("resource manager has no allowlist")
	}
	return &countingRM{ResourceManager: rm, g: g}, al, nil
}

// countingRM reports connections the resource manager refuses (issue 9
// item 9: a full transient scope refused every member and logged nothing).
type countingRM struct {
	network.ResourceManager
	g *Gater
}

func (c *countingRM) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	s, err := c.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil && c.g != nil {
		c.g.resourcesRefused(dir, endpoint)
	}
	return s, err
}

// strangerConns is the transient (not yet authenticated) connection budget
// of addresses that are not on the allowlist (issue 9, "Transport": "connections
// from elsewhere get a small budget"). Members' addresses are allowlisted
// and have a roster-sized transient budget of their own, so strangers that
// fill this one (257 idle raw connections did in item 9) delay no member's
// handshake and none of this node's own dials.
const strangerConns = 32

// rosterLimits sizes the limits for a roster of the given size: every
// member may hold two connections (both sides dialled at once), with
// headroom for strays the gater has not refused yet; each connection a few
// streams (identify, roster exchange, ping, delivery, drill), each yamux
// stream accounting a 256 KiB window.
func rosterLimits(members, fds int) rcmgr.ConcreteLimitConfig {
	n := max(members, unMembers) + 64
	conns := 2 * n
	streams := 16 * n
	memory := int64(256<<20) + int64(n)<<20
	fd := conns + 64
	if fds > 0 && fd > fds*3/4 {
		fd = fds * 3 / 4 // leave room for Badger's files and the API
	}
	cfg := rcmgr.DefaultLimits
	cfg.SystemBaseLimit = rcmgr.BaseLimit{
		Conns: conns, ConnsInbound: conns, ConnsOutbound: conns,
		Streams: streams, StreamsInbound: streams, StreamsOutbound: streams,
		Memory: memory, FD: fd,
	}
	cfg.SystemLimitIncrease = rcmgr.BaseLimitIncrease{}
	// Connections sit in the transient scope until the handshake names the
	// peer. Strangers get a small budget; a member's connection that finds
	// it full moves to the allowlisted transient scope, sized for every
	// member handshaking at once (boot). Streams stay in the ordinary
	// transient scope until their protocol is negotiated, and only
	// members (InterceptSecured) open streams, so those keep the roster-sized
	// budget.
	cfg.TransientBaseLimit = rcmgr.BaseLimit{
		Conns: strangerConns, ConnsInbound: strangerConns, ConnsOutbound: strangerConns,
		Streams: 4 * n, StreamsInbound: 4 * n, StreamsOutbound: 4 * n,
		Memory: memory / 4, FD: min(strangerConns, fd/2),
	}
	cfg.TransientLimitIncrease = rcmgr.BaseLimitIncrease{}
	cfg.AllowlistedSystemBaseLimit, cfg.AllowlistedSystemLimitIncrease = cfg.SystemBaseLimit, rcmgr.BaseLimitIncrease{}
	cfg.AllowlistedTransientBaseLimit = rcmgr.BaseLimit{
		Conns: n, ConnsInbound: n, ConnsOutbound: n,
		Streams: 4 * n, StreamsInbound: 4 * n, StreamsOutbound: 4 * n,
		Memory: memory / 4, FD: fd / 2,
	}
	cfg.AllowlistedTransientLimitIncrease = rcmgr.BaseLimitIncrease{}
	// With memory below 128 MiB, Scale uses the base limits as they are.
	return cfg.Scale(0, fds)
}

// fdLimit is the process's open-file limit (0 if unknown). Go raises the
// soft limit to the hard one at startup (since Go 1.19), so this is the
// hard limit unless the runtime could not raise it.
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return int(min(l.Cur, 1<<30))
}

// CheckFDLimit warns when the open-file limit is too low for a full mesh
// over TCP (tcpOn): one descriptor per member connection, plus Badger and
// the API.
func CheckFDLimit(log *zap.Logger, members int, tcpOn bool) {
	need := 2*members + 256
	if have := fdLimit(); tcpOn && have > 0 && have < need {
		log.Warn("open-file limit is low for a full TCP mesh of this roster; raise LimitNOFILE",
			zap.Int("limit", have), zap.Int("members", members), zap.Int("recommended", need))
	}
}

// muxerOption is libp2p's yamux with keep-alives and round-trip probes
// (for window tuning) every period.
func muxerOption(period time.Duration) libp2p.Option {
	t := *yamux.DefaultTransport
	t.KeepAliveInterval = period
	t.MeasureRTTInterval = period
	return libp2p.Muxer(yamux.ID, &t)
}
