package node

import (
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/zap"
)

// rosterGater admits only current roster members. The check that matters
// is InterceptSecured: it runs after the security handshake has proven the
// remote's peer ID and before any protocol, so a stranger never reaches a
// stream handler.
type rosterGater struct {
	roster *rosterState
	log    *zap.Logger
	// extraDeny lets a test harness partition members (nil in production).
	extraDeny func(peer.ID) bool
}

func (g *rosterGater) allowed(p peer.ID) bool {
	if g.extraDeny != nil && g.extraDeny(p) {
		return false
	}
	return g.roster.isMember(p)
}

func (g *rosterGater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p) }

func (g *rosterGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

func (g *rosterGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *rosterGater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.allowed(p) {
		return true
	}
	g.log.Warn("refused connection from non-member",
		zap.Stringer("peer", p), zap.Stringer("direction", dir),
		zap.Stringer("remote_addr", addrs.RemoteMultiaddr()))
	return false
}

func (g *rosterGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
