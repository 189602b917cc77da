package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Forwarders to node/cases for code that still calls the node.

type (
	Submission = cases.Submission
	ActResult  = cases.ActResult
)

// ErrNoCase means the case does not exist on this node.
var ErrNoCase = cases.ErrNoCase

// SubmitRequest validates, seals and queues a request (cases.Service.Submit).
func (n *Node) SubmitRequest(ctx context.Context, actor string, doc []byte) (*Submission, error) {
	return n.cases.Submit(ctx, actor, doc)
}

// Act takes one lifecycle action on a case (cases.Service.Act).
func (n *Node) Act(ctx context.Context, actor, caseID string, doc []byte) (*ActResult, error) {
	return n.cases.Act(ctx, actor, caseID, doc)
}

func roleOf(c *store.Case) protocol.Role { return cases.RoleOf(c) }

func (n *Node) caseEvents(c *store.Case, msgs []*store.Message) []protocol.Event {
	return n.cases.Events(c, msgs)
}

// newCases builds the write path from the node's parts.
func (n *Node) newCases() *cases.Service {
	return cases.New(cases.Options{Store: n.store, Sealer: n.sealer, Directory: caseDirectory{n.roster},
		Outbox: caseOutbox{n}, Publisher: casePublisher{n}, Alerts: caseAlerts{n}, Quota: n.admission,
		Now: n.now, Country: n.cfg.Country, Deadlines: n.cfg.Deadlines, MaxPayload: n.cfg.Admission.MaxPayload,
		Logger: n.log.Named("cases")})
}

// caseDirectory is the roster in force as cases.Directory.
type caseDirectory struct{ rs *rosterState }

func (d caseDirectory) MemberByPeer(p peer.ID) (protocol.Member, bool) { return d.rs.MemberByPeer(p) }
func (d caseDirectory) ByCountry(cc string) (peer.ID, protocol.Member, bool) {
	return d.rs.byCountryCode(cc)
}

// caseOutbox hands new outgoing messages to the delivery workers, which
// exist once the node has started.
type caseOutbox struct{ n *Node }

func (o caseOutbox) Notify(p peer.ID, m *store.Message) {
	if o.n.engine != nil {
		o.n.engine.Notify(p, m)
	}
}

// casePublisher tells consoles which case changed (events.go renders it).
type casePublisher struct{ n *Node }

func (p casePublisher) Case(id string) { p.n.publishCase(id) }

// caseAlerts clears the alerts a case's new state makes moot (scheduler.go).
type caseAlerts struct{ n *Node }

func (a caseAlerts) ClearFor(tx *store.Tx, c *store.Case, now time.Time) error {
	return a.n.clearAlertsFor(tx, c, now)
}
