package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/protocol"
)

// Drills is the node's drill service (node/drills).
func (n *Node) Drills() *drills.Service { return n.drills }

// newDrills builds the drill service over the node's parts.
func (n *Node) newDrills() *drills.Service {
	return drills.New(drills.Options{Host: n.host, Key: n.key, Country: protocol.CountryCode(protocol.CountryCode(protocol.CountryCode(string(n.cfg.Country)))), Drills: n.cfg.Drills,
		CheckInterval: n.cfg.Deadlines.CheckInterval, Now: n.now, Store: n.store,
		Roster: drillRoster{n}, Admission: drillAdmission{n}, Peers: drillPeers{n}, Submit: drillSubmitter{n},
		Gauges: drills.Gauges{Reachable: n.metrics.drillReachable, RTT: n.metrics.drillRTT,
			Ack: n.metrics.drillAck, Misses: n.metrics.drillMisses},
		Log: n.log.Named("drill")})
}

type drillRoster struct{ n *Node }

func (r drillRoster) Current() *protocol.Roster {
	cur, _ := r.n.roster.Current()
	return cur
}
func (r drillRoster) IsMember(id peer.ID) bool { return r.n.roster.IsMember(id) }
func (r drillRoster) ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool) {
	return r.n.roster.ByCountry(cc)
}

type drillAdmission struct{ n *Node }

func (a drillAdmission) AdmitDrill(id peer.ID) bool { return a.n.admitStream(id, true) }
func (a drillAdmission) LogRefusal(log *zap.Logger, key, msg string, fields ...zap.Field) {
	a.n.logRefusal(log, key, msg, fields...)
}

type drillPeers struct{ n *Node }

func (p drillPeers) AddMemberAddrs(m protocol.Member) { p.n.mesh.AddMemberAddrs(m) }
func (p drillPeers) Answered(id peer.ID, rtt time.Duration, at time.Time) {
	p.n.peers.SetRTT(id, rtt)
	p.n.peers.Seen(id, at)
}

type drillSubmitter struct{ n *Node }

func (s drillSubmitter) SubmitDrill(ctx context.Context, actor string, doc []byte) (string, error) {
	sub, err := s.n.cases.Submit(ctx, actor, doc)
	if err != nil {
		return "", err
	}
	return sub.CaseID, nil
}
