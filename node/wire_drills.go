package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// ProtoDrill is the drill protocol's ID (tests open drill streams by it).
const ProtoDrill = drills.ID

// DrillReport and DrillCountry are the drill report's types.
type (
	DrillReport  = drills.Report
	DrillCountry = drills.Country
)

// newDrills builds the drill service over the node's parts.
func (n *Node) newDrills() *drills.Service {
	return drills.New(drills.Options{Host: n.host, Key: n.key, Country: n.cfg.Country, Drills: n.cfg.Drills,
		CheckInterval: n.cfg.Deadlines.CheckInterval, Now: n.now, Store: n.store,
		Roster: drillRoster{n}, Admission: drillAdmission{n}, Peers: drillPeers{n}, Submit: drillSubmitter{n},
		Gauges: drills.Gauges{Reachable: n.metrics.drillReachable, RTT: n.metrics.drillRTT,
			Ack: n.metrics.drillAck, Misses: n.metrics.drillMisses},
		Log: n.log.Named("drill")})
}

type drillRoster struct{ n *Node }

func (r drillRoster) Current() *protocol.Roster {
	cur, _ := r.n.roster.current()
	return cur
}
func (r drillRoster) IsMember(id peer.ID) bool { return r.n.roster.isMember(id) }
func (r drillRoster) ByCountry(cc string) (peer.ID, protocol.Member, bool) {
	return r.n.roster.byCountryCode(cc)
}

type drillAdmission struct{ n *Node }

func (a drillAdmission) AdmitDrill(id peer.ID) bool { return a.n.admitStream(id, true) }
func (a drillAdmission) LogRefusal(log *zap.Logger, key, msg string, fields ...zap.Field) {
	a.n.logRefusal(log, key, msg, fields...)
}

type drillPeers struct{ n *Node }

func (p drillPeers) AddMemberAddrs(m protocol.Member) { p.n.addMemberAddrs(m) }
func (p drillPeers) Answered(id peer.ID, rtt time.Duration, at time.Time) {
	p.n.peers.setRTT(id, rtt)
	p.n.peers.seen(id, at)
}

type drillSubmitter struct{ n *Node }

func (s drillSubmitter) SubmitDrill(ctx context.Context, actor string, doc []byte) (string, error) {
	sub, err := s.n.SubmitRequest(ctx, actor, doc)
	if err != nil {
		return "", err
	}
	return sub.CaseID, nil
}

// Ping sends the member of country one drill ping and returns the round trip.
func (n *Node) Ping(ctx context.Context, country string) (time.Duration, error) {
	return n.drills.Ping(ctx, country)
}

// RunReachabilityDrill pings every member and stores the run.
func (n *Node) RunReachabilityDrill(ctx context.Context, actor string) (*store.DrillRun, error) {
	return n.drills.RunReachabilityDrill(ctx, actor)
}

// RunResponseDrill sends drill requests and stores the run.
func (n *Node) RunResponseDrill(ctx context.Context, actor, operator string, countries []string) (*store.DrillRun, error) {
	return n.drills.RunResponseDrill(ctx, actor, operator, countries)
}

// CheckDrills resolves response drills at the node clock's now.
func (n *Node) CheckDrills(ctx context.Context) error { return n.drills.CheckDrills(ctx) }

// DrillReport sums up the stored drill runs per member.
func (n *Node) DrillReport() (*DrillReport, error) { return n.drills.Report() }

// ResponseDrillRequest is the body of POST /api/v1/drills/response.
type ResponseDrillRequest = types.ResponseDrillRequest
