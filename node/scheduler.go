package node

import (
	"context"
	"errors"
	"fmt"
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

// alertBatch bounds the alerts raised in one store transaction. One
// transaction for a whole pass failed with Badger's ErrTxnTooBig once a
// member left about 1,600 requests overdue (806 on the small profile), and
// then no alert was raised again (issue 9, item 3).
const alertBatch = 200

// CheckDeadlines runs one pass of the scheduler at the node clock's now.
// Its steps are independent: a failing one is counted, logged and
// reported in the joined error, and the others still run, so deadline
// alerts, roster expiry, retention purges, session pruning and the audit
// checkpoint never stop each other.
func (n *Node) CheckDeadlines(ctx context.Context) error {
	now := n.now().UTC()
	var errs []error
	step := func(name string, fn func() error) {
		if err := fn(); err != nil {
			n.metrics.schedulerFailures.WithLabelValues(name).Inc()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	var purge []string
	step("deadlines", func() (err error) {
		purge, err = n.raiseDeadlineAlerts(ctx, now)
		return err
	})
	step("roster", func() error { return n.checkRosterExpiry(ctx, now) })
	step("purge", func() error {
		var perrs []error
		for _, id := range purge {
			if err := n.purgeCase(ctx, id, now); err != nil {
				perrs = append(perrs, fmt.Errorf("case %s: %w", id, err))
			}
		}
		return errors.Join(perrs...)
	})
	step("sessions", func() error {
		_, err := n.accounts.PruneSessions(ctx)
		return err
	})
	// A signed tree head each pass pins the log's history: a later
	// rewrite of earlier records no longer matches it.
	step("checkpoint", func() error {
		_, err := n.SignAuditCheckpoint(ctx)
		return err
	})
	return errors.Join(errs...)
}

// dueAlert is a condition the scheduler found on one case.
type dueAlert struct {
	alert     *store.Alert
	direction store.Direction
	urgency   string
}

// dueAlerts lists the alert conditions of every case at now, and the
// closed cases whose contents are past retention. It only reads.
func (n *Node) dueAlerts(now time.Time) (due []dueAlert, purge []string, err error) {
	err = n.store.View(func(tx *store.ReadTx) error {
		return tx.EachCase(func(c *store.Case) error {
			if !c.PurgedAt.IsZero() {
				return nil
			}
			if !c.ClosedAt.IsZero() && n.cfg.Retention.PurgeClosedAfter > 0 && now.Sub(c.ClosedAt) >= n.cfg.Retention.PurgeClosedAfter {
				purge = append(purge, c.ID)
			}
			if terminal(c.State) {
				return nil
			}
			add := func(a *store.Alert) {
				a.CaseID, a.Country, a.RaisedAt = c.ID, c.Country, now
				a.ID = c.ID + "/" + a.Kind
				due = append(due, dueAlert{alert: a, direction: c.Direction, urgency: c.Urgency})
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
				add(&store.Alert{Kind: "ack_overdue", Severity: sev, DueAt: c.AckDueAt,
					Message: fmt.Sprintf("%s %s request not acknowledged by %s within its deadline", c.Urgency, c.Kind, who)})
			}
			if c.ExpiresAt.IsZero() || c.Hold {
				return nil
			}
			if !now.Before(c.ExpiresAt) {
				add(&store.Alert{Kind: "expired", Severity: "critical", DueAt: c.ExpiresAt,
					Message: "preservation period has ended; data may be deleted"})
				return nil
			}
			for _, w := range n.cfg.Deadlines.ExpiryWarnings {
				if now.Before(c.ExpiresAt.Add(-w)) {
					continue
				}
				add(&store.Alert{Kind: expiryKind(w), Severity: "warning", DueAt: c.ExpiresAt,
					Message: fmt.Sprintf("preservation expires %s: extend it or submit the MLA request", c.ExpiresAt.Format(time.DateOnly))})
			}
			return nil
		})
	})
	return due, purge, err
}

func expiryKind(w time.Duration) string {
	if w < 24*time.Hour {
		return fmt.Sprintf("expiry_%s", w)
	}
	return fmt.Sprintf("expiry_%dd", int(w.Hours()/24))
}

// summaryGroup is what one summary alert stands for: the cases of one
// member, one direction and one alert kind.
type summaryGroup struct {
	kind, country string
	direction     store.Direction
}

func (g summaryGroup) id() string {
	return fmt.Sprintf("summary/%s/%s/%s", g.kind, g.direction, g.country)
}

// raiseDeadlineAlerts stores every due per-case alert, in batches of
// alertBatch, and keeps one summary alert per member, direction and kind.
//
// The per-case alert stays for the case page. What reaches the operator
// (log line, console event, webhook, command) is aggregated: a member with
// one overdue case gets that case's alert; a member with many gets one
// summary ("37 requests from NL overdue"), raised again only when the
// count has doubled since it was last announced, so a flood from one
// member costs the operator a few notifications, not thousands.
func (n *Node) raiseDeadlineAlerts(ctx context.Context, now time.Time) ([]string, error) {
	due, purge, err := n.dueAlerts(now)
	if err != nil {
		return nil, fmt.Errorf("scan cases: %w", err)
	}
	var errs []error
	fresh := map[summaryGroup][]*store.Alert{}
	active := map[summaryGroup]int{}
	severity := map[summaryGroup]string{}
	for _, d := range due {
		g := summaryGroup{kind: d.alert.Kind, country: d.alert.Country, direction: d.direction}
		active[g]++
		if d.alert.Severity == "critical" || severity[g] == "" {
			severity[g] = d.alert.Severity
		}
	}
	for start := 0; start < len(due); start += alertBatch {
		batch := due[start:min(start+alertBatch, len(due))]
		var raised []dueAlert
		err := n.store.Update(ctx, func(tx *store.Tx) error {
			raised = raised[:0]
			for _, d := range batch {
				isNew, err := tx.RaiseAlert(d.alert)
				if err != nil {
					return err
				}
				if !isNew {
					continue
				}
				raised = append(raised, d)
				if err := tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised",
					CaseID: d.alert.CaseID, Detail: d.alert.Kind}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			// The next batches still run; this one is retried next pass.
			errs = append(errs, fmt.Errorf("raise alerts %d-%d of %d: %w", start, start+len(batch), len(due), err))
			continue
		}
		for _, d := range raised {
			g := summaryGroup{kind: d.alert.Kind, country: d.alert.Country, direction: d.direction}
			fresh[g] = append(fresh[g], d.alert)
			n.metrics.escalations.WithLabelValues(d.alert.Kind).Inc()
		}
	}
	announce, err := n.updateSummaries(ctx, now, active, severity)
	if err != nil {
		errs = append(errs, err)
	}
	log := n.log.Named("alerts")
	for g, alerts := range fresh {
		if active[g] < 2 {
			for _, a := range alerts {
				log.Warn("alert raised", zap.String("kind", a.Kind), zap.String("case_id", a.CaseID),
					zap.String("severity", a.Severity), zap.String("country", a.Country))
				n.notifyAlert(a)
			}
		}
	}
	for _, s := range announce {
		log.Warn("alerts raised", zap.String("kind", s.Kind), zap.Int("cases", s.Count),
			zap.String("severity", s.Severity), zap.String("country", s.Country))
		n.notifyAlert(s)
	}
	return purge, errors.Join(errs...)
}

// updateSummaries brings the summary alerts in line with the active
// per-case counts: raised or updated for groups of two or more, cleared for
// the rest. It returns the summaries to announce.
func (n *Node) updateSummaries(ctx context.Context, now time.Time, active map[summaryGroup]int, severity map[summaryGroup]string) ([]*store.Alert, error) {
	var announce []*store.Alert
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		announce = announce[:0]
		open, err := tx.OpenAlertsWithPrefix("summary/")
		if err != nil {
			return err
		}
		ids := map[string]int{}
		for g, count := range active {
			ids[g.id()] = count
		}
		for _, old := range open {
			if ids[old.ID] < 2 {
				if err := tx.ClearAlert(old.ID, now); err != nil {
					return err
				}
			}
		}
		for g, count := range active {
			if count < 2 {
				continue
			}
			s := &store.Alert{ID: g.id(), Kind: g.kind, Severity: severity[g], Country: g.country, Count: count,
				RaisedAt: now, Message: summaryMessage(g, count)}
			old, err := tx.PutAlert(s)
			if err != nil {
				return err
			}
			if old != nil && !old.Cleared && count < 2*old.Announced {
				// Updated for the alert list, not announced again.
				s.RaisedAt, s.Announced = old.RaisedAt, old.Announced
				if _, err := tx.PutAlert(s); err != nil {
					return err
				}
				continue
			}
			s.Announced = count
			if _, err := tx.PutAlert(s); err != nil {
				return err
			}
			announce = append(announce, s)
			if err := tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised",
				Detail: fmt.Sprintf("%s country=%s cases=%d", g.kind, g.country, count)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("summary alerts: %w", err)
	}
	return announce, nil
}

func summaryMessage(g summaryGroup, count int) string {
	from := "from"
	if g.direction == store.Outgoing {
		from = "to"
	}
	switch {
	case g.kind == "ack_overdue" && g.direction == store.Outgoing:
		return fmt.Sprintf("%d requests to %s not acknowledged by %s within their deadline", count, g.country, g.country)
	case g.kind == "ack_overdue":
		return fmt.Sprintf("%d requests from %s overdue: not acknowledged by this node within their deadline", count, g.country)
	case g.kind == "expired":
		return fmt.Sprintf("%d preservations %s %s have ended; data may be deleted", count, from, g.country)
	default:
		return fmt.Sprintf("%d preservations %s %s expire soon (%s): extend them or submit the MLA requests", count, from, g.country, g.kind)
	}
}

// notifyAlert announces a stored alert: metric-free (callers count),
// console event and hooks.
func (n *Node) notifyAlert(a *store.Alert) {
	n.publishAlert(a)
	n.dispatchAlert(a)
}

// checkRosterExpiry raises the expired-roster alert.
func (n *Node) checkRosterExpiry(ctx context.Context, now time.Time) error {
	r, _ := n.roster.current()
	if r == nil || r.ValidUntil.After(now) {
		return nil
	}
	a := &store.Alert{ID: fmt.Sprintf("roster/expired/%d", r.Serial), Kind: "roster_expired", Severity: "critical",
		DueAt: r.ValidUntil, RaisedAt: now,
		Message: fmt.Sprintf("roster serial %d expired; still in use. Ask the network authority for a new one", r.Serial)}
	isNew := false
	if err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if isNew, err = tx.RaiseAlert(a); err != nil || !isNew {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised", Detail: a.Kind})
	}); err != nil {
		return err
	}
	if isNew {
		n.log.Named("alerts").Warn("alert raised", zap.String("kind", a.Kind), zap.String("severity", a.Severity))
		n.metrics.escalations.WithLabelValues(a.Kind).Inc()
		n.notifyAlert(a)
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
			if err := tx.ClearAlert(c.ID+"/"+expiryKind(w), now); err != nil {
				return err
			}
		}
		return tx.ClearAlert(c.ID+"/expired", now)
	}
	return nil
}

// dispatchAlert hands a new alert to the webhook and command hooks
// (alerthooks.go); it never blocks.
func (n *Node) dispatchAlert(a *store.Alert) { n.hooks.dispatch(a) }

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
