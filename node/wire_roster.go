package node

import (
	"context"
	"crypto/ed25519"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Forwarders to node/roster, so the rest of package node compiles until
// the coordinator switches it to the roster package's names.

// ProtoRoster is the roster exchange's stream protocol.
const ProtoRoster = roster.ProtocolID

var (
	// ErrRosterDrops marks a roster the drop guard refuses (roster.ErrDrops).
	ErrRosterDrops      = roster.ErrDrops
	errRosterUnrecorded = roster.ErrUnrecorded
)

// rosterState is the roster in force (roster.State) under the names
// package node still calls it by.
type rosterState struct{ *roster.State }

func newRosterState(path string, authority ed25519.PublicKey) *rosterState {
	return &rosterState{roster.NewState(path, authority)}
}

func (rs *rosterState) isMember(id peer.ID) bool            { return rs.IsMember(id) }
func (rs *rosterState) current() (*protocol.Roster, []byte) { return rs.Current() }
func (rs *rosterState) serial() uint64                      { return rs.Serial() }
func (rs *rosterState) byCountryCode(cc string) (peer.ID, protocol.Member, bool) {
	return rs.ByCountry(cc)
}

// newGossip builds the roster gossip over the node's host and store.
func (n *Node) newGossip() *roster.Gossip {
	return roster.NewGossip(n.roster.State, n.host, roster.GossipOptions{Self: n.self, MaxDropShare: n.cfg.Roster.MaxDropShare,
		Now: n.now, Logger: n.log.Named("roster"), Store: n.store, Alerts: rosterAlerts{n},
		Admit: func(p peer.ID) bool { return n.admitStream(p, false) }, // per-member rate (admission_glue.go)
		Go:    n.goRun})
}

// rosterAlerts announces a roster alert once stored (roster.Alerts).
type rosterAlerts struct{ n *Node }

func (a rosterAlerts) Raised(al *store.Alert) {
	a.n.log.Named("alerts").Warn("alert raised", zap.String("kind", string(al.Kind)), zap.String("severity", string(al.Severity)))
	a.n.metrics.escalations.WithLabelValues(string(al.Kind)).Inc()
	a.n.publishAlert(al)
	a.n.dispatchAlert(al)
}

// ApplyRosterForced installs a newer signed roster even if it drops this
// node or more than roster.max_drop_share of the members (an operator's
// explicit decision; a critical alert records it). Only the API calls it,
// for an admin; a roster from a peer can never be forced.
func (n *Node) ApplyRosterForced(doc []byte, source string) error {
	return n.gossip.Apply(context.Background(), doc, roster.Source(source), true)
}

// applyRoster installs a roster from the API without force.
func (n *Node) applyRoster(doc []byte, source string) error {
	return n.gossip.Apply(context.Background(), doc, roster.Source(source), false)
}
