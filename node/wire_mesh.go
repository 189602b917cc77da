package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/mesh"
)

// newMesh builds the mesh over the node's host and roster.
func (n *Node) newMesh() *mesh.Mesh {
	return mesh.New(n.host, n.roster, mesh.Options{Self: n.self, Now: n.now, SharedMachine: n.cfg.Testing.SharedMachine,
		MaxBackoff: n.cfg.Delivery.MaxBackoff, Observer: meshEvents{n}, Logger: n.log, Go: n.goRun})
}

// meshEvents fans what the mesh sees out to delivery and roster gossip
// (mesh.Observer).
type meshEvents struct{ n *Node }

// Round runs roster anti-entropy on the connector's rounds.
func (e meshEvents) Round(round int) { e.n.gossip.AntiEntropy(round) }

// MemberConnected: an immediate delivery retry and a roster exchange.
func (e meshEvents) MemberConnected(p peer.ID) {
	e.n.engine.Connected(p)
	e.n.gossip.Connected(p)
}

// PeerDisconnected: the peer may come back with another roster.
func (e meshEvents) PeerDisconnected(p peer.ID) { e.n.gossip.Disconnected(p) }
