package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

var warnings = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

func kinds(as []*store.Alert) map[store.AlertKind]*store.Alert {
	out := map[store.AlertKind]*store.Alert{}
	for _, a := range as {
		out[a.Kind] = a
	}
	return out
}

// What a case is due at a moment: the acknowledgement deadline by urgency,
// the expiry warnings and the end of the period; nothing once the case is
// terminal, and no expiry alert while it is held for the MLA request.
func TestConditions(t *testing.T) {
	now := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	base := func() *store.Case {
		return &store.Case{ID: "c1", Direction: store.Incoming, Country: "DE", Kind: string(protocol.KindPreservation),
			State: string(protocol.StateOpen), Urgency: "urgent", AckDueAt: now.Add(-time.Minute)}
	}
	for _, tc := range []struct {
		name string
		edit func(c *store.Case)
		want map[store.AlertKind]store.Severity
	}{
		{"urgent overdue", func(*store.Case) {}, map[store.AlertKind]store.Severity{alerts.AckOverdue: alerts.Critical}},
		{"routine overdue", func(c *store.Case) { c.Urgency = "routine" }, map[store.AlertKind]store.Severity{alerts.AckOverdue: alerts.Warning}},
		{"not yet due", func(c *store.Case) { c.AckDueAt = now.Add(time.Minute) }, nil},
		{"acknowledged", func(c *store.Case) { c.AcknowledgedAt = now.Add(-2 * time.Minute) }, nil},
		{"expires in 3 days", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.ExpiresAt = now, string(protocol.StatePreserved), now.Add(72*time.Hour)
		}, map[store.AlertKind]store.Severity{alerts.ExpiryWarning(7 * 24 * time.Hour): alerts.Warning}},
		{"expires in 12 hours", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.ExpiresAt = now, string(protocol.StatePreserved), now.Add(12*time.Hour)
		}, map[store.AlertKind]store.Severity{alerts.ExpiryWarning(7 * 24 * time.Hour): alerts.Warning, alerts.ExpiryWarning(24 * time.Hour): alerts.Warning}},
		{"expired", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.ExpiresAt = now, string(protocol.StatePreserved), now.Add(-time.Hour)
		}, map[store.AlertKind]store.Severity{alerts.Expired: alerts.Critical}},
		{"held for MLA", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.ExpiresAt, c.Hold = now, string(protocol.StateMLAPending), now.Add(-time.Hour), true
		}, nil},
		{"refused", func(c *store.Case) { c.State = string(protocol.StateRefused); c.ExpiresAt = now.Add(-time.Hour) }, nil},
		{"MLA decided after the old expiry", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.ExpiresAt = now, string(protocol.StateMLADecided), now.Add(-time.Hour)
		}, nil},
		// Protocol Art. 14(5): retention under a hold is reviewed.
		{"hold review due", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.Hold = now, string(protocol.StateMLAPending), true
			c.Legal.ReviewDueAt = now.Add(-time.Hour)
		}, map[store.AlertKind]store.Severity{alerts.HoldReview: alerts.Warning}},
		{"hold review due after a withdrawal", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.Hold = now, string(protocol.StateWithdrawn), true
			c.Legal.ReviewDueAt = now.Add(-time.Hour)
		}, map[store.AlertKind]store.Severity{alerts.HoldReview: alerts.Warning}},
		{"hold review not yet due", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.Hold = now, string(protocol.StateMLAPending), true
			c.Legal.ReviewDueAt = now.Add(time.Hour)
		}, nil},
		// Budapest Art. 29(6): the requester decides after the notice.
		{"insufficiency decision overdue", func(c *store.Case) {
			c.AcknowledgedAt, c.State = now, string(protocol.StateInsufficient)
			c.Legal.DecisionDueAt = now.Add(-time.Minute)
		}, map[store.AlertKind]store.Severity{alerts.DecisionOverdue: alerts.Warning}},
		// Budapest Art. 27(5): a postponement has a date.
		{"postponement over", func(c *store.Case) {
			c.AcknowledgedAt, c.State = now, string(protocol.StatePostponed)
			c.Legal.PostponedUntil = now.Add(-time.Minute)
		}, map[store.AlertKind]store.Severity{alerts.PostponementOver: alerts.Warning}},
		// A refused action from a member alerts, even on a settled case.
		{"refused action", func(c *store.Case) {
			c.AcknowledgedAt, c.State, c.Flags = now, string(protocol.StateRefused), []string{"invalid-transition"}
		}, map[store.AlertKind]store.Severity{alerts.RefusedAction: alerts.Warning}},
		{"no treaty basis", func(c *store.Case) {
			c.Flags = []string{"no-treaty-basis"}
		}, map[store.AlertKind]store.Severity{alerts.AckOverdue: alerts.Critical, alerts.RefusedAction: alerts.Warning}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(c)
			got := kinds(alerts.Conditions(c, now, warnings))
			if len(got) != len(tc.want) {
				t.Fatalf("alerts %v, want %v", got, tc.want)
			}
			for k, sev := range tc.want {
				a := got[k]
				if a == nil || a.Severity != sev || a.ID != alerts.CaseAlertID("c1", k) || a.CaseID != "c1" || a.Country != "DE" || !a.RaisedAt.Equal(now) {
					t.Fatalf("%s: %+v, want severity %s", k, a, sev)
				}
			}
		})
	}
}

// ClearMoot resolves, in the case's own transaction, exactly the alerts its
// new state makes moot.
func TestClearMoot(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	c := &store.Case{ID: "c1", Direction: store.Incoming, Country: "DE", State: string(protocol.StatePreserved),
		Urgency: "urgent", AckDueAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
	ctx := context.Background()
	raise := func() {
		t.Helper()
		if err := st.Update(ctx, func(tx *store.Tx) error {
			for _, a := range alerts.Conditions(c, now, warnings) {
				if _, err := tx.RaiseAlert(a); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	open := func() map[store.AlertKind]bool {
		t.Helper()
		out := map[store.AlertKind]bool{}
		if err := st.View(func(tx *store.ReadTx) error {
			all, err := tx.Alerts(false)
			for _, a := range all {
				out[a.Kind] = true
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	clear := func() {
		t.Helper()
		if err := st.Update(ctx, func(tx *store.Tx) error { return alerts.ClearMoot(tx, c, now, warnings) }); err != nil {
			t.Fatal(err)
		}
	}
	raise()
	if got := open(); !got[alerts.AckOverdue] || !got[alerts.Expired] {
		t.Fatalf("raised %v", got)
	}
	c.AcknowledgedAt = now // acknowledging settles only the acknowledgement
	clear()
	if got := open(); got[alerts.AckOverdue] || !got[alerts.Expired] {
		t.Fatalf("after acknowledgement: %v", got)
	}
	c.State = string(protocol.StateReleased) // terminal: nothing is left to alert on
	clear()
	if got := open(); len(got) != 0 {
		t.Fatalf("after release: %v", got)
	}
}
