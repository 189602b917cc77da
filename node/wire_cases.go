package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/store"
)

// Cases is the node's write path: submit, act, accept (node/cases).
func (n *Node) Cases() *cases.Service { return n.cases }

// newCases builds the write path from the node's parts.
func (n *Node) newCases() *cases.Service {
	return cases.New(cases.Options{Store: n.store, Sealer: n.sealer, Directory: n.roster,
		Outbox: caseOutbox{n}, Publisher: casePublisher{n}, Alerts: caseAlerts{n}, Quota: n.admission,
		Now: n.now, Country: string(n.cfg.Country), Deadlines: n.cfg.Deadlines, MaxPayload: n.cfg.Admission.MaxPayload,
		IdentifierKey: n.identifierKey, Logger: n.log.Named("cases")})
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

func (p casePublisher) Case(id string) { p.n.events.Case(id) }

// caseAlerts clears the alerts a case's new state makes moot (scheduler.go).
type caseAlerts struct{ n *Node }

func (a caseAlerts) ClearFor(tx *store.Tx, c *store.Case, now time.Time) error {
	return a.n.clearAlertsFor(tx, c, now)
}
