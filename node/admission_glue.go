package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/store"
)

// Glue between the node and its per-member admission control
// (node/admission, issue 9 "Admission control per peer").

// refusalLogEvery is how often one line per member and limit (or per peer
// and rejection code) is logged while refusals continue.
const refusalLogEvery = time.Minute

func (n *Node) newAdmission() {
	a := n.cfg.Admission
	n.admission = admission.New(admission.Options{
		Limits: admission.Limits{
			Deliver:         admission.Rate{PerSecond: a.Deliver.PerSecond, Burst: a.Deliver.Burst},
			Drill:           admission.Rate{PerSecond: a.Drill.PerSecond, Burst: a.Drill.Burst},
			Roster:          admission.Rate{PerSecond: a.Roster.PerSecond, Burst: a.Roster.Burst},
			OpenCases:       a.OpenCases,
			BytesPerDay:     a.BytesPerDay,
			MessagesPerCase: a.MessagesPerCase,
			MaxPayload:      a.MaxPayload,
		},
		Now:   n.now,
		Flush: a.AlertInterval,
		OnRefuse: func(country, limit string) {
			n.metrics.admissionRefusals.WithLabelValues(country, limit).Inc()
		},
	})
	n.refusalLog = admission.NewSampler(refusalLogEvery, 4096)
}

// openCaseForQuota is what counts against a member's open-cases quota: a
// case it opened that is not in a terminal state.
func openCaseForQuota(c *store.Case) bool {
	return c.Direction == store.Incoming && !terminal(c.State)
}

// startAdmission restores quarantines from the store and starts the
// aggregated-alert reporter.
func (n *Node) startAdmission() error {
	var qs []*store.Quarantine
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		qs, err = tx.Quarantines()
		return err
	}); err != nil {
		return fmt.Errorf("load quarantines: %w", err)
	}
	for _, q := range qs {
		n.admission.Quarantine(q.Country, q.Reason)
	}
	log := n.log.Named("admission")
	n.goRun("admission-alerts", func(ctx context.Context) {
		n.admission.Run(ctx, admissionReporter{n}, func(err error) {
			if ctx.Err() == nil {
				log.Error("over-limit alert not stored; retrying at the next flush", zap.Error(err))
			}
		})
	})
	return nil
}

// logRefusal logs a refusal at most once a minute per key, with the count
// of the lines held back (issue 9, item 6: a flood once wrote 13 MB of log
// in 20 s).
func (n *Node) logRefusal(log *zap.Logger, key, msg string, fields ...zap.Field) {
	ok, held := n.refusalLog.Allow(key, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		fields = append(fields, zap.Int64("similar_since_last_line", held))
	}
	log.Warn(msg, fields...)
}

// admitStream is the check for a drill ping or a roster exchange: false
// means refuse it (the caller resets the stream). Non-members are left to
// the handler's own checks.
func (n *Node) admitStream(remote peer.ID, drill bool) bool {
	m, ok := n.roster.MemberByPeer(remote)
	if !ok {
		return true
	}
	var r *admission.Refusal
	if drill {
		r = n.admission.AdmitDrill(string(m.Country))
	} else {
		r = n.admission.AdmitRoster(string(m.Country))
	}
	if r == nil {
		return true
	}
	n.logRefusal(n.log.Named("admission"), string(m.Country)+"/"+r.Limit, "refused stream over an admission limit",
		zap.Stringer("country", m.Country), zap.String("code", r.Code), zap.String("limit", r.Limit))
	return false
}

// admissionReporter keeps one alert per member over a limit.
type admissionReporter struct{ n *Node }

func admissionAlertID(country string) string { return "admission/" + country }

func (ar admissionReporter) OverLimit(ctx context.Context, a admission.Alarm) error {
	n := ar.n
	now := n.now().UTC()
	al := &store.Alert{ID: admissionAlertID(a.Country), Kind: "peer_over_limit", Severity: "warning", Country: a.Country,
		RaisedAt: a.Since.UTC(), Message: a.Message()}
	var fresh bool
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if fresh, err = tx.UpsertAlert(al); err != nil || !fresh {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.raised",
			Detail: fmt.Sprintf("%s %s %s", al.Kind, a.Country, a.Code)})
	})
	if err != nil {
		return fmt.Errorf("store over-limit alert for %s: %w", a.Country, err)
	}
	n.events.Alert(al.ID)
	if fresh {
		n.metrics.escalations.WithLabelValues(string(al.Kind)).Inc()
		n.dispatchAlert(al)
		n.log.Named("admission").Warn("member over an admission limit", zap.String("country", a.Country),
			zap.String("code", a.Code), zap.String("limit", a.Limit), zap.Int64("refused", a.Count))
	}
	return nil
}

func (ar admissionReporter) Cleared(ctx context.Context, country string, a admission.Alarm) error {
	n := ar.n
	now := n.now().UTC()
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.ClearAlert(admissionAlertID(country), now); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "alert.cleared",
			Detail: fmt.Sprintf("peer_over_limit %s: %d refused in all, quiet since %s", country, a.Count, a.Last.UTC().Format(time.RFC3339))})
	})
	if err != nil {
		return fmt.Errorf("clear over-limit alert for %s: %w", country, err)
	}
	return nil
}
