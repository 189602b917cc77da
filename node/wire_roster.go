package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/store"
)

// newGossip builds the roster gossip over the node's host and store.
func (n *Node) newGossip() *roster.Gossip {
	return roster.NewGossip(n.roster, n.host, roster.GossipOptions{Self: n.self, MaxDropShare: n.cfg.Roster.MaxDropShare,
		Now: n.now, Logger: n.log.Named("roster"), Store: n.store, Alerts: rosterAlerts{n},
		Admit: func(p peer.ID) bool { return n.admitStream(p, false) }, // per-member rate (admission_glue.go)
		Go:    n.goRun})
}

// rosterAlerts announces a roster alert once stored (roster.Alerts).
type rosterAlerts struct{ n *Node }

func (a rosterAlerts) Raised(al *store.Alert) {
	alerts.LogRaised(a.n.log.Named("alerts"), "alert raised", al)
	a.n.metrics.escalations.WithLabelValues(string(al.Kind)).Inc()
	a.n.events.Alert(al.ID)
	a.n.dispatchAlert(al)
}
