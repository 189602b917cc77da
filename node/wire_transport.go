package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/mesh"
	"github.com/vigil-network/vigil/node/transport"
)

// newGater builds the connection gater from the config and gives it the
// member addresses of the roster in force.
func (n *Node) newGater() (*transport.Gater, error) {
	timeout := n.cfg.Network.HandshakeTimeout
	if timeout <= 0 { // a config built in code rather than loaded
		timeout = config.DefaultConfig().Network.HandshakeTimeout
	}
	g, err := transport.NewGater(n.roster, transport.GaterOptions{Self: n.self,
		BehindNAT: n.cfg.Network.BehindNAT, HandshakeTimeout: timeout, Logger: n.log.Named("gater")})
	if err != nil {
		return nil, err
	}
	if r, _ := n.roster.Current(); r != nil {
		g.SetMembers(r)
	}
	return g, nil
}

// newHost builds the libp2p host for a roster of members.
func (n *Node) newHost(members int) error {
	tcp, quic := n.cfg.TransportsEnabled()
	transport.CheckFDLimit(n.log, members, tcp)
	var err error
	n.host, n.cm, err = transport.NewHost(transport.HostOptions{Key: n.key, Listen: n.cfg.Listen, Announce: n.cfg.Announce,
		TCP: tcp, QUIC: quic, Members: members, KeepAlive: mesh.KeepAlivePeriod(members, n.cfg.Testing.SharedMachine)}, n.gater)
	return err
}

// Partition cuts this node off from the given members until Heal: their
// connections are closed and the gater refuses new ones. Deliveries to them
// queue as they would during a real outage.
func (n *Node) Partition(peers ...peer.ID) {
	n.gater.Partition(peers...)
	for _, p := range peers {
		_ = n.host.Network().ClosePeer(p)
	}
}

// Heal ends every partition set with Partition.
func (n *Node) Heal() { n.heal() }

// heal ends the partitions, wakes the delivery workers of the peers it
// let back in and returns them.
func (n *Node) heal() []peer.ID {
	healed := n.gater.Heal()
	for _, p := range healed {
		n.engine.Connected(p)
	}
	return healed
}
