package node

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
)

// applyMembership brings the node's parts in line with the roster in
// force: the gater's addresses and allowlist, member addresses and
// connection protection, delivery workers; members that left lose their
// connections at once. It runs at start and after every roster change
// (roster.State.OnChange), one change at a time.
func (n *Node) applyMembership(old *protocol.Roster) {
	r, _ := n.roster.Current()
	// Address check and resource-manager allowlist follow the roster
	// (node/transport/gater.go, issue 9 "Transport").
	n.gater.SetMembers(r)
	keep := map[peer.ID]bool{}
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil || id == n.self {
			continue
		}
		keep[id] = true
		if old != nil {
			if prev, ok := old.MemberByPeer(id); ok {
				// Drop stale addresses when a member moves.
				if pa, _ := prev.Multiaddrs(); len(pa) > 0 {
					n.host.Peerstore().ClearAddrs(id)
				}
			}
		}
		n.mesh.AddMemberAddrs(m)
		n.cm.Protect(id, "roster")
		n.engine.Ensure(id)
	}
	if old != nil {
		for _, m := range old.Members {
			id, err := m.ID()
			if err != nil || keep[id] || id == n.self {
				continue
			}
			n.cm.Unprotect(id, "roster")
			n.engine.Stop(id)
			if err := n.host.Network().ClosePeer(id); err == nil {
				n.log.Warn("member left the roster; connections closed", zap.Stringer("country", m.Country), zap.Stringer("peer", id))
			}
		}
	}
	// Also drop any connection the gater admitted under an older roster.
	for _, p := range n.host.Network().Peers() {
		if !n.gater.Allowed(p) {
			_ = n.host.Network().ClosePeer(p)
		}
	}
	// Workers paused because this node was not a member resume when the
	// roster lists it again (delivery.go run).
	n.engine.RosterChanged()
}
