package node

import (
	"context"

	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/store"
)

// Outbox is the node's delivery workers (node/deliver); nil before Start.
func (n *Node) Outbox() *deliver.Outbox { return n.engine }

// newOutbox builds the delivery workers; they live as long as ctx.
func (n *Node) newOutbox(ctx context.Context) *deliver.Outbox {
	return deliver.NewOutbox(ctx, deliver.OutboxOptions{Store: n.store, Dialer: n.mesh.Dialer(deliver.ID, deliver.ServiceName),
		Members: n.roster, Self: n.self, Gate: n.gater, Publisher: casePublisher{n},
		Delivery: n.cfg.Delivery, Now: n.now, Logger: n.log.Named("delivery"), OnDelivered: n.opts.OnDelivered,
		ObserveLatency: n.metrics.deliveryLatency.Observe})
}

// newInbox builds the /vigil/deliver handler; ctx bounds its store writes.
func (n *Node) newInbox(ctx context.Context) *deliver.Inbox {
	return deliver.NewInbox(ctx, deliver.InboxOptions{Opener: n.sealer, Directory: n.roster, Acceptor: n.cases,
		Admission: n.admission, Key: n.key, Clock: n.clock, Now: n.now, RefusalLog: n.refusalLog,
		Logger: n.log.Named("receive"), OnReceived: n.opts.OnReceived, CaseMeta: n.caseMeta,
		CountRejected: func(code string) { n.metrics.rejected.WithLabelValues(code).Inc() },
		CountReceived: n.metrics.received.Inc})
}

// caseMeta reads a case for a log line; nil if it cannot be read.
func (n *Node) caseMeta(id string) *store.Case {
	var c *store.Case
	if n.store.View(func(r *store.ReadTx) error {
		var err error
		c, err = r.Case(id)
		return err
	}) != nil {
		return nil
	}
	return c
}
