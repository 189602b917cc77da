package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/mesh"
	"github.com/vigil-network/vigil/protocol"
)

// Forwarders to node/mesh, so the rest of package node compiles until the
// coordinator switches it to the mesh package's names.

var meshPeriod = mesh.KeepAlivePeriod

// peerTracker is what the mesh knows of each member (mesh.Peers) under the
// names package node still calls it by.
type peerTracker struct{ *mesh.Peers }

func (t *peerTracker) get(p peer.ID) (time.Time, time.Duration) { return t.Get(p) }
func (t *peerTracker) setRTT(p peer.ID, d time.Duration)        { t.SetRTT(p, d) }
func (t *peerTracker) seen(p peer.ID, at time.Time)             { t.Seen(p, at) }

func (n *Node) addMemberAddrs(m protocol.Member) { n.mesh.AddMemberAddrs(m) }

// newMesh builds the mesh over the node's host and roster.
func (n *Node) newMesh() *mesh.Mesh {
	return mesh.New(n.host, n.roster.State, mesh.Options{Self: n.self, Now: n.now, SharedMachine: n.cfg.Testing.SharedMachine,
		MaxBackoff: n.cfg.Delivery.MaxBackoff, Observer: meshEvents{n}, Logger: n.log, Go: n.goRun})
}

// meshEvents fans what the mesh sees out to delivery and roster gossip
// (mesh.Observer).
type meshEvents struct{ n *Node }

// Round runs roster anti-entropy on the connector's rounds.
func (e meshEvents) Round(round int) { e.n.gossip.AntiEntropy(round) }

// MemberConnected: an immediate delivery retry and a roster exchange.
func (e meshEvents) MemberConnected(p peer.ID) {
	e.n.engine.connected(p)
	e.n.gossip.Connected(p)
}

// PeerDisconnected: the peer may come back with another roster.
func (e meshEvents) PeerDisconnected(p peer.ID) { e.n.gossip.Disconnected(p) }
