package transport

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	libp2ptransport "github.com/libp2p/go-libp2p/core/transport"
	bconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
)

// HostOptions describe the libp2p host NewHost builds.
type HostOptions struct {
	Key crypto.PrivKey
	// Listen are the multiaddrs to listen on, each opened on its own so a
	// port in use is an error naming it.
	Listen []string
	// Announce, if set, replaces the listen addresses given to peers.
	Announce []string
	// TCP and QUIC are the transports to run; at least one.
	TCP, QUIC bool
	// Members is the roster size the limits and watermarks are sized for
	// (at least the UN's 193 members).
	Members int
	// KeepAlive is yamux's keep-alive and round-trip probe period.
	KeepAlive time.Duration
}

// NewHost builds the libp2p host: TCP and/or QUIC, Noise or TLS, the
// gater, a connection manager that never trims roster members (the caller
// protects them) and resource limits sized to the roster (limits.go). The
// gater gets the resource manager's allowlist, and its handshake timeout
// bounds every inbound upgrade.
func NewHost(o HostOptions, gater *Gater) (host.Host, *bconnmgr.BasicConnMgr, error) {
	if !o.TCP && !o.QUIC {
		return nil, nil, fmt.Errorf("libp2p host: no transport enabled (tcp, quic)")
	}
	if o.KeepAlive <= 0 {
		return nil, nil, fmt.Errorf("libp2p host: keep-alive period %v must be positive", o.KeepAlive)
	}
	// The default 160/192 watermarks would trim a 193-member mesh; roster
	// peers are also protected explicitly, so the watermarks only bound
	// strays and duplicates.
	low := o.Members + 16
	cm, err := bconnmgr.NewConnManager(low, low+64)
	if err != nil {
		return nil, nil, fmt.Errorf("connection manager: %w", err)
	}
	rm, allowlist, err := resourceManager(o.Members, gater) // limits.go
	if err != nil {
		cm.Close()
		return nil, nil, fmt.Errorf("resource manager: %w", err)
	}
	gater.attachAllowlist(allowlist)
	listenAddrs := make([]ma.Multiaddr, 0, len(o.Listen))
	for _, a := range o.Listen {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			cm.Close()
			rm.Close()
			return nil, nil, fmt.Errorf("listen address %q: %w", a, err)
		}
		listenAddrs = append(listenAddrs, m)
	}
	opts := []libp2p.Option{
		libp2p.Identity(o.Key),
		// Listen addresses are opened one by one below, so a port in use
		// is an error naming it rather than a host that silently runs on
		// its other transport (issue 9 item 10).
		libp2p.NoListenAddrs,
		libp2p.ChainOptions(transportOptions(o.TCP, o.QUIC)...),
		handshakeTimeoutOption(gater.handshakeTimeout),
		muxerOption(o.KeepAlive),
		libp2p.ResourceManager(rm),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ConnectionGater(gater),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("vigil/1"),
	}
	if len(o.Announce) > 0 {
		addrs := make([]ma.Multiaddr, 0, len(o.Announce))
		for _, a := range o.Announce {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return nil, nil, fmt.Errorf("announce address %q: %w", a, err)
			}
			addrs = append(addrs, m)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return addrs }))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("start libp2p host: %w", err)
	}
	for i, m := range listenAddrs {
		if err := h.Network().Listen(m); err != nil {
			h.Close()
			return nil, nil, fmt.Errorf("libp2p listen on %s: %w (is another node running on this port?)", o.Listen[i], err)
		}
	}
	return h, cm, nil
}

// handshakeTimeoutOption bounds an inbound connection's upgrade (security
// and muxer negotiation) to d instead of libp2p's 15 s: a stranger holding
// connections open without a word keeps each for d at most (issue 9 item
// 9). go-libp2p has no host option for it, so the upgrader is rebuilt with
// the same parts and upgrader.WithAcceptTimeout. QUIC handshakes have their
// own bound (quic-go's HandshakeIdleTimeout, 5 s).
func handshakeTimeoutOption(d time.Duration) libp2p.Option {
	return libp2p.WithFxOption(fx.Decorate(fx.Annotate(
		func(secs []sec.SecureTransport, muxers []tptu.StreamMuxer, psk pnet.PSK, rm network.ResourceManager,
			cg connmgr.ConnectionGater) (libp2ptransport.Upgrader, error) {
			return tptu.New(secs, muxers, psk, rm, cg, tptu.WithAcceptTimeout(d))
		},
		fx.ParamTags(`name:"security"`),
	)))
}
