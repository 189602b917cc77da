package node

import (
	"context"
	"time"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/node/schedule"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// newScheduler builds the scheduler over the node's store, clock and
// roster; session pruning, the idempotency-key sweep and the audit
// checkpoint are its extra steps.
func (n *Node) newScheduler() *schedule.Scheduler {
	return schedule.New(schedule.Options{
		Store: n.store, Now: n.now, Interval: n.cfg.Deadlines.CheckInterval,
		ExpiryWarnings: n.cfg.Deadlines.ExpiryWarnings, PurgeClosedAfter: n.cfg.Retention.PurgeClosedAfter,
		Roster: func() *protocol.Roster {
			r, _ := n.roster.Current()
			return r
		},
		Announce:   n.notifyAlert,
		Escalated:  func(k store.AlertKind) { n.metrics.escalations.WithLabelValues(string(k)).Inc() },
		StepFailed: func(step string) { n.metrics.schedulerFailures.WithLabelValues(step).Inc() },
		Steps: []schedule.Step{
			{Name: "sessions", Run: func(ctx context.Context) error {
				_, err := n.accounts.PruneSessions(ctx)
				return err
			}},
			// Idempotency keys are remembered for cases.IdempotencyWindow
			// (24 h); the sweep keeps the store from holding them longer.
			{Name: "idempotency", Run: func(ctx context.Context) error {
				_, err := n.cases.PruneIdempotency(ctx)
				return err
			}},
			// A signed tree head each pass pins the log's history: a later
			// rewrite of earlier records no longer matches it.
			{Name: "checkpoint", Run: func(ctx context.Context) error {
				_, err := n.SignAuditCheckpoint(ctx)
				return err
			}},
		},
		Log: n.log.Named("alerts"),
	})
}

// Scheduler runs the node's periodic work (node/schedule); tests drive a
// pass with Scheduler().Pass on the node's clock.
func (n *Node) Scheduler() *schedule.Scheduler { return n.sched }

// notifyAlert announces a stored alert: console event and hooks (callers
// count it).
func (n *Node) notifyAlert(a *store.Alert) {
	n.events.Alert(a.ID)
	n.dispatchAlert(a)
}

// dispatchAlert hands a new alert to the webhook and command hooks; it
// never blocks.
func (n *Node) dispatchAlert(a *store.Alert) { n.hooks.Dispatch(a) }

// clearAlertsFor resolves alerts a case's new state makes moot.
func (n *Node) clearAlertsFor(tx *store.Tx, c *store.Case, now time.Time) error {
	return alerts.ClearMoot(tx, c, now, n.cfg.Deadlines.ExpiryWarnings)
}

// terminal reports whether a case in state s is over (protocol.Terminal).
func terminal(s string) bool { return protocol.Terminal(protocol.State(s)) }
