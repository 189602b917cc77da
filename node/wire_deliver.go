package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/deliver"
)

// ProtoDeliver is the delivery stream protocol (deliver.ID), kept for tests
// and the hostile-member bench.
const ProtoDeliver = deliver.ID

// DeliveryAttempts is the number of delivery sessions this node's worker for p has
// started (0 without a worker): tests assert that a worker backs off.
func (n *Node) DeliveryAttempts(p peer.ID) int64 { return n.engine.Attempts(p) }

// newOutbox builds the delivery workers; they live as long as ctx.
func (n *Node) newOutbox(ctx context.Context) *deliver.Outbox {
	return deliver.NewOutbox(ctx, deliver.OutboxOptions{Store: n.store, Dialer: n.mesh.Dialer(deliver.ID, deliver.ServiceName),
		Members: rosterMembers{n.roster}, Self: n.self, Gate: n.gater, Publisher: casePublisher{n},
		Delivery: n.cfg.Delivery, Now: n.now, Logger: n.log.Named("delivery"), OnDelivered: n.opts.OnDelivered,
		ObserveLatency: n.metrics.deliveryLatency.Observe})
}

// newInbox builds the /vigil/deliver handler; ctx bounds its store writes.
func (n *Node) newInbox(ctx context.Context) *deliver.Inbox {
	return deliver.NewInbox(ctx, deliver.InboxOptions{Opener: n.sealer, Directory: n.roster, Acceptor: n.cases,
		Admission: n.admission, Key: n.key, Clock: n.clock, Now: n.now, RefusalLog: n.refusalLog,
		Logger: n.log.Named("receive"), OnReceived: n.opts.OnReceived,
		CountRejected: func(code string) { n.metrics.rejected.WithLabelValues(code).Inc() },
		CountReceived: n.metrics.received.Inc})
}
