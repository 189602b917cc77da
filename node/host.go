package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
)

// newHost builds the libp2p host: TCP and/or QUIC (transports), Noise or
// TLS, the roster gater, a connection manager that never trims roster
// members and resource limits sized to the roster (p2plimits.go).
// sharedMachine is testing.shared_machine (mesh.go).
func newHost(key crypto.PrivKey, listen, announce, transports []string, gater *rosterGater, members int, sharedMachine bool) (host.Host, *connmgr.BasicConnMgr, error) {
	// The default 160/192 watermarks would trim a 193-member mesh; roster
	// peers are also protected explicitly, so the watermarks only bound
	// strays and duplicates.
	low := members + 16
	cm, err := connmgr.NewConnManager(low, low+64)
	if err != nil {
		return nil, nil, fmt.Errorf("connection manager: %w", err)
	}
	rm, err := resourceManager(members) // p2plimits.go
	if err != nil {
		cm.Close()
		return nil, nil, fmt.Errorf("resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.ChainOptions(transportOptions(transports)...),
		muxerOption(members, sharedMachine),
		libp2p.ResourceManager(rm),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ConnectionGater(gater),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("vigil/1"),
	}
	if len(announce) > 0 {
		addrs := make([]ma.Multiaddr, 0, len(announce))
		for _, a := range announce {
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
	return h, cm, nil
}
