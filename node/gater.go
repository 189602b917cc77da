package node

import (
	"sync"

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

// partitionSet is a set of peers the gater refuses on top of the roster,
// used by drills and tests to simulate a network partition.
type partitionSet struct {
	mu    sync.RWMutex
	peers map[peer.ID]bool
}

func (p *partitionSet) has(id peer.ID) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.peers[id]
}

// Partition cuts this node off from the given members until Heal: their
// connections are closed and the gater refuses new ones. Deliveries to them
// queue as they would during a real outage.
func (n *Node) Partition(peers ...peer.ID) {
	n.partition.mu.Lock()
	if n.partition.peers == nil {
		n.partition.peers = map[peer.ID]bool{}
	}
	for _, p := range peers {
		n.partition.peers[p] = true
	}
	n.partition.mu.Unlock()
	for _, p := range peers {
		_ = n.host.Network().ClosePeer(p)
	}
}

// Heal ends every partition set with Partition.
func (n *Node) Heal() {
	n.partition.mu.Lock()
	healed := n.partition.peers
	n.partition.peers = nil
	n.partition.mu.Unlock()
	for p := range healed {
		n.engine.connected(p)
	}
}
