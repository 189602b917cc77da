package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// The scheduler raises alerts for missed acknowledgement deadlines and
// expiring preservations, purges contents past retention, and flags an
// expired roster. It reads time from the node's clock, so tests and drills
// drive it with a fake one through CheckDeadlines.

func (n *Node) schedulerLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Deadlines.CheckInterval)
	defer t.Stop()
	for {
		if err := n.CheckDeadlines(ctx); err != nil && ctx.Err() == nil {
			n.log.Named("scheduler").Error("deadline check failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// terminal states need no deadlines.
func terminal(s string) bool {
	switch protocol.State(s) {
	case protocol.StateClosed, protocol.StateRefused, protocol.StateWithdrawn, protocol.StateReleased,
		protocol.StateAnswered, protocol.StateConditionsAccepted, protocol.StateConditionsRejected:
		return true
	}
	return false
}

// CheckDeadlines runs one pass of the scheduler at the node clock's now.
func (n *Node) CheckDeadlines(ctx context.Context) error {
	now := n.now().UTC()
	var cases []*store.Case
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		cases, err = tx.Cases(0)
		return err
	}); err != nil {
		return err
	}
	var fresh []*store.Alert
	var purge []string
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		fresh = fresh[:0]
		raise := func(a *store.Alert) error {
			isNew, err := tx.RaiseAlert(a)
			if err == nil && isNew {
				fresh = append(fresh, a)
				err = tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised", CaseID: a.CaseID, Detail: a.Kind})
			}
			return err
		}
		for _, c := range cases {
			if !c.PurgedAt.IsZero() {
				continue
			}
			if !c.ClosedAt.IsZero() && n.cfg.Retention.PurgeClosedAfter > 0 && now.Sub(c.ClosedAt) >= n.cfg.Retention.PurgeClosedAfter {
				purge = append(purge, c.ID)
			}
			if terminal(c.State) {
				continue
			}
			if !c.AckDueAt.IsZero() && c.AcknowledgedAt.IsZero() && !now.Before(c.AckDueAt) {
				who := "this node"
				if c.Direction == store.Outgoing {
					who = c.Country
				}
				sev := "critical"
				if c.Urgency == "routine" {
					sev = "warning"
				}
				if err := raise(&store.Alert{ID: c.ID + "/ack_overdue", CaseID: c.ID, Kind: "ack_overdue", Severity: sev,
					Country: c.Country, DueAt: c.AckDueAt, RaisedAt: now,
					Message: fmt.Sprintf("%s %s request not acknowledged by %s within its deadline", c.Urgency, c.Kind, who)}); err != nil {
					return err
				}
			}
			if c.ExpiresAt.IsZero() || c.Hold {
				continue
			}
			if !now.Before(c.ExpiresAt) {
				if err := raise(&store.Alert{ID: c.ID + "/expired", CaseID: c.ID, Kind: "expired", Severity: "critical",
					Country: c.Country, DueAt: c.ExpiresAt, RaisedAt: now,
					Message: "preservation period has ended; data may be deleted"}); err != nil {
					return err
				}
				continue
			}
			for _, w := range n.cfg.Deadlines.ExpiryWarnings {
				if now.Before(c.ExpiresAt.Add(-w)) {
					continue
				}
				kind := fmt.Sprintf("expiry_%dd", int(w.Hours()/24))
				if w < 24*time.Hour {
					kind = fmt.Sprintf("expiry_%s", w)
				}
				if err := raise(&store.Alert{ID: c.ID + "/" + kind, CaseID: c.ID, Kind: kind, Severity: "warning",
					Country: c.Country, DueAt: c.ExpiresAt, RaisedAt: now,
					Message: fmt.Sprintf("preservation expires %s: extend it or submit the MLA request", c.ExpiresAt.Format(time.DateOnly))}); err != nil {
					return err
				}
			}
		}
		if r, _ := n.roster.current(); r != nil && !r.ValidUntil.After(now) {
			if err := raise(&store.Alert{ID: fmt.Sprintf("roster/expired/%d", r.Serial), Kind: "roster_expired", Severity: "critical",
				DueAt: r.ValidUntil, RaisedAt: now,
				Message: fmt.Sprintf("roster serial %d expired; still in use. Ask the network authority for a new one", r.Serial)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range fresh {
		n.log.Named("alerts").Warn("alert raised", zap.String("kind", a.Kind), zap.String("case_id", a.CaseID),
			zap.String("severity", a.Severity), zap.String("country", a.Country))
		n.metrics.escalations.WithLabelValues(a.Kind).Inc()
		n.publishAlert(a)
		n.dispatchAlert(a)
	}
	for _, id := range purge {
		if err := n.purgeCase(ctx, id, now); err != nil {
			return err
		}
	}
	n.pruneSessions(ctx)
	// A signed tree head each pass pins the log's history: a later
	// rewrite of earlier records no longer matches it.
	if _, err := n.SignAuditCheckpoint(ctx); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return nil
}

// clearAlertsFor resolves alerts a case's new state makes moot.
func (n *Node) clearAlertsFor(tx *store.Tx, c *store.Case, now time.Time) error {
	if !c.AcknowledgedAt.IsZero() || terminal(c.State) {
		if err := tx.ClearAlert(c.ID+"/ack_overdue", now); err != nil {
			return err
		}
	}
	if c.Hold || terminal(c.State) {
		for _, w := range n.cfg.Deadlines.ExpiryWarnings {
			kind := fmt.Sprintf("expiry_%dd", int(w.Hours()/24))
			if w < 24*time.Hour {
				kind = fmt.Sprintf("expiry_%s", w)
			}
			if err := tx.ClearAlert(c.ID+"/"+kind, now); err != nil {
				return err
			}
		}
		return tx.ClearAlert(c.ID+"/expired", now)
	}
	return nil
}

// dispatchAlert sends a new alert to the configured webhook and command.
// Both get metadata only. Failures are logged; the alert stays in the API.
func (n *Node) dispatchAlert(a *store.Alert) {
	body, _ := json.Marshal(a)
	log := n.log.Named("alerts")
	if n.cfg.Alerts.Webhook != "" {
		n.goRun("alert-webhook", func(ctx context.Context) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(cctx, http.MethodPost, n.cfg.Alerts.Webhook, bytes.NewReader(body))
			if err != nil {
				log.Error("alert webhook", zap.Error(err))
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				log.Error("alert webhook", zap.Error(err))
				return
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				log.Error("alert webhook refused", zap.Int("status", resp.StatusCode))
			}
		})
	}
	if len(n.cfg.Alerts.Command) > 0 {
		n.goRun("alert-command", func(ctx context.Context) {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, n.cfg.Alerts.Command[0], n.cfg.Alerts.Command[1:]...)
			cmd.Stdin = bytes.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil {
				log.Error("alert command failed", zap.Error(err), zap.ByteString("output", out))
			}
		})
	}
}

// purgeCase removes the contents (envelopes) of a closed case past
// retention. Metadata, receipts and the audit trail stay.
func (n *Node) purgeCase(ctx context.Context, id string, now time.Time) error {
	return n.store.Update(ctx, func(tx *store.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		if !c.PurgedAt.IsZero() {
			return nil
		}
		for _, mid := range c.MessageIDs {
			m, err := tx.Message(mid)
			if err != nil {
				return err
			}
			if m.State == store.StateQueued {
				continue // never purge what is still to be delivered
			}
			m.Envelope, m.Purged = nil, true
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		c.PurgedAt = now
		c.Flags = store.AddFlag(c.Flags, "purged")
		if err := tx.PutCase(c); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "case.purged", CaseID: id,
			Detail: fmt.Sprintf("contents removed after retention; closed %s", c.ClosedAt.Format(time.RFC3339))})
	})
}
