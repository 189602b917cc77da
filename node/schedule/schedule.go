// Package schedule runs a node's periodic work: one pass raises alerts for
// missed acknowledgement deadlines and expiring preservations (with one
// summary per member when many cases share a condition), flags an expired
// roster, purges contents past retention and runs the periodic steps other
// parts hand in (session pruning, the audit checkpoint). The steps are
// independent: a failing one is counted and reported, and the others still
// run. It reads time from the clock it is given, so tests drive a pass on a
// fake clock.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Step is periodic work another part owns.
type Step struct {
	Name string
	Run  func(ctx context.Context) error
}

// Options is what a Scheduler needs.
type Options struct {
	Store *store.Store
	// Now is the node's clock.
	Now func() time.Time
	// Interval between passes (deadlines.check_interval).
	Interval time.Duration
	// ExpiryWarnings are how long before expiry a warning is raised.
	ExpiryWarnings []time.Duration
	// PurgeClosedAfter removes contents of cases closed that long ago;
	// 0 keeps them.
	PurgeClosedAfter time.Duration
	// Roster returns the roster in force, for the expired-roster alert.
	Roster func() *protocol.Roster
	// Announce tells operators about a stored alert (console, hooks).
	Announce func(*store.Alert)
	// Escalated counts a raised alert by kind; StepFailed a failed step.
	Escalated  func(store.AlertKind)
	StepFailed func(step string)
	// Steps run after the scheduler's own, in order, each pass.
	Steps []Step
	Log   *zap.Logger
}

// Scheduler runs passes. Build it with New.
type Scheduler struct {
	o   Options
	log *zap.Logger
}

// New builds a Scheduler; nil funcs in o do nothing.
func New(o Options) *Scheduler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Announce == nil {
		o.Announce = func(*store.Alert) {}
	}
	if o.Escalated == nil {
		o.Escalated = func(store.AlertKind) {}
	}
	if o.StepFailed == nil {
		o.StepFailed = func(string) {}
	}
	return &Scheduler{o: o, log: o.Log}
}

// Run makes a pass every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		if err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("deadline check failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// alertBatch bounds the alerts raised in one store transaction. One
// transaction for a whole pass failed with Badger's ErrTxnTooBig once a
// member left about 1,600 requests overdue (806 on the small profile), and
// then no alert was raised again (issue 9, item 3).
const alertBatch = 200

// Pass runs one pass at the clock's now. Its steps are independent: a
// failing one is counted, logged and reported in the joined error, and the
// others still run, so deadline alerts, roster expiry, retention purges,
// session pruning and the audit checkpoint never stop each other.
func (s *Scheduler) Pass(ctx context.Context) error {
	now := s.o.Now().UTC()
	var errs []error
	step := func(name string, fn func() error) {
		if err := fn(); err != nil {
			s.o.StepFailed(name)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	var purge []string
	step("deadlines", func() (err error) {
		purge, err = s.raiseDeadlineAlerts(ctx, now)
		return err
	})
	step("roster", func() error { return s.checkRosterExpiry(ctx, now) })
	step("purge", func() error {
		var perrs []error
		for _, id := range purge {
			if err := s.purgeCase(ctx, id, now); err != nil {
				perrs = append(perrs, fmt.Errorf("case %s: %w", id, err))
			}
		}
		return errors.Join(perrs...)
	})
	for _, st := range s.o.Steps {
		step(st.Name, func() error { return st.Run(ctx) })
	}
	return errors.Join(errs...)
}

// dueAlert is a condition the scheduler found on one case.
type dueAlert struct {
	alert     *store.Alert
	direction store.Direction
}

// dueAlerts lists the alert conditions of every case at now, and the
// closed cases whose contents are past retention. It only reads.
func (s *Scheduler) dueAlerts(now time.Time) (due []dueAlert, purge []string, err error) {
	err = s.o.Store.View(func(tx *store.ReadTx) error {
		return tx.EachCase(func(c *store.Case) error {
			if !c.PurgedAt.IsZero() {
				return nil
			}
			if !c.ClosedAt.IsZero() && s.o.PurgeClosedAfter > 0 && now.Sub(c.ClosedAt) >= s.o.PurgeClosedAfter {
				purge = append(purge, c.ID)
			}
			for _, a := range alerts.Conditions(c, now, s.o.ExpiryWarnings) {
				due = append(due, dueAlert{alert: a, direction: c.Direction})
			}
			return nil
		})
	})
	return due, purge, err
}

// summaryGroup is what one summary alert stands for: the cases of one
// member, one direction and one alert kind.
type summaryGroup struct {
	kind      store.AlertKind
	country   string
	direction store.Direction
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
func (s *Scheduler) raiseDeadlineAlerts(ctx context.Context, now time.Time) ([]string, error) {
	due, purge, err := s.dueAlerts(now)
	if err != nil {
		return nil, fmt.Errorf("scan cases: %w", err)
	}
	var errs []error
	fresh := map[summaryGroup][]*store.Alert{}
	active := map[summaryGroup]int{}
	severity := map[summaryGroup]store.Severity{}
	for _, d := range due {
		g := summaryGroup{kind: d.alert.Kind, country: d.alert.Country, direction: d.direction}
		active[g]++
		if d.alert.Severity == alerts.Critical || severity[g] == "" {
			severity[g] = d.alert.Severity
		}
	}
	for start := 0; start < len(due); start += alertBatch {
		batch := due[start:min(start+alertBatch, len(due))]
		var raised []dueAlert
		err := s.o.Store.Update(ctx, func(tx *store.Tx) error {
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
					CaseID: d.alert.CaseID, Detail: string(d.alert.Kind)}); err != nil {
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
			s.o.Escalated(d.alert.Kind)
		}
	}
	announce, err := s.updateSummaries(ctx, now, active, severity)
	if err != nil {
		errs = append(errs, err)
	}
	log := s.log
	for g, raised := range fresh {
		if active[g] < 2 {
			for _, a := range raised {
				alerts.LogRaised(log, "alert raised", a, zap.String("case_id", a.CaseID), zap.String("country", a.Country))
				s.o.Announce(a)
			}
		}
	}
	for _, sum := range announce {
		alerts.LogRaised(log, "alerts raised", sum, zap.Int("cases", sum.Count), zap.String("country", sum.Country))
		s.o.Announce(sum)
	}
	return purge, errors.Join(errs...)
}

// updateSummaries brings the summary alerts in line with the active
// per-case counts: raised or updated for groups of two or more, cleared for
// the rest. It returns the summaries to announce.
func (s *Scheduler) updateSummaries(ctx context.Context, now time.Time, active map[summaryGroup]int, severity map[summaryGroup]store.Severity) ([]*store.Alert, error) {
	var announce []*store.Alert
	err := s.o.Store.Update(ctx, func(tx *store.Tx) error {
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
			sum := &store.Alert{ID: g.id(), Kind: g.kind, Severity: severity[g], Country: g.country, Count: count,
				RaisedAt: now, Message: summaryMessage(g, count)}
			old, err := tx.PutAlert(sum)
			if err != nil {
				return err
			}
			if old != nil && !old.Cleared && count < 2*old.Announced {
				// Updated for the alert list, not announced again.
				sum.RaisedAt, sum.Announced = old.RaisedAt, old.Announced
				if _, err := tx.PutAlert(sum); err != nil {
					return err
				}
				continue
			}
			sum.Announced = count
			if _, err := tx.PutAlert(sum); err != nil {
				return err
			}
			announce = append(announce, sum)
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
	case g.kind == alerts.AckOverdue && g.direction == store.Outgoing:
		return fmt.Sprintf("%d requests to %s not acknowledged by %s within their deadline", count, g.country, g.country)
	case g.kind == alerts.AckOverdue:
		return fmt.Sprintf("%d requests from %s overdue: not acknowledged by this node within their deadline", count, g.country)
	case g.kind == alerts.Expired:
		return fmt.Sprintf("%d preservations %s %s have ended; data may be deleted", count, from, g.country)
	default:
		return fmt.Sprintf("%d preservations %s %s expire soon (%s): extend them or submit the MLA requests", count, from, g.country, g.kind)
	}
}

// checkRosterExpiry raises the expired-roster alert.
func (s *Scheduler) checkRosterExpiry(ctx context.Context, now time.Time) error {
	if s.o.Roster == nil {
		return nil
	}
	r := s.o.Roster()
	if r == nil || r.ValidUntil.After(now) {
		return nil
	}
	a := &store.Alert{ID: fmt.Sprintf("roster/expired/%d", r.Serial), Kind: alerts.RosterExpired, Severity: alerts.Critical,
		DueAt: r.ValidUntil, RaisedAt: now,
		Message: fmt.Sprintf("roster serial %d expired; still in use. Ask the network authority for a new one", r.Serial)}
	isNew := false
	if err := s.o.Store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if isNew, err = tx.RaiseAlert(a); err != nil || !isNew {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised", Detail: string(a.Kind)})
	}); err != nil {
		return err
	}
	if isNew {
		alerts.LogRaised(s.log, "alert raised", a)
		s.o.Escalated(a.Kind)
		s.o.Announce(a)
	}
	return nil
}

// purgeCase removes the contents (envelopes) of a closed case past
// retention. Metadata, receipts and the audit trail stay.
func (s *Scheduler) purgeCase(ctx context.Context, id string, now time.Time) error {
	return s.o.Store.Update(ctx, func(tx *store.Tx) error {
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
