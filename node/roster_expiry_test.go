package node_test

import (
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// TestExpiredRosterAlertsAndKeepsWorking: a roster past its valid_until
// raises a critical alert on every node, /healthz says so, and the
// network keeps delivering (also across a restart) until the authority
// publishes a new one. Cutting a 24/7 network off silently because the
// authority was late would be worse than running on a stale roster.
func TestExpiredRosterAlertsAndKeepsWorking(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationWith(t, 2, func(_ string, cfg *config.Config) {
		cfg.Deadlines.CheckInterval = time.Hour // the test drives CheckDeadlines itself
	})
	r := f.pushRoster("FR", func(*protocol.Roster) {}) // valid for 24 h from now
	f.clock.Advance(25 * time.Hour)

	type health struct {
		Serial  uint64 `json:"roster_serial"`
		Expired bool   `json:"roster_expired"`
	}
	rosterAlerts := func(cc string) []store.Alert {
		t.Helper()
		if err := f.nodes[cc].Scheduler().Pass(f.ctx); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Alerts []store.Alert `json:"alerts"`
		}
		f.api(cc, "GET", "/api/v1/alerts", nil, &out)
		var got []store.Alert
		for _, a := range out.Alerts {
			if a.Kind == "roster_expired" {
				got = append(got, a)
			}
		}
		return got
	}
	for _, cc := range []string{"FR", "DE"} {
		var h health
		f.api(cc, "GET", "/healthz", nil, &h)
		if h.Serial != r.Serial || !h.Expired {
			t.Errorf("%s /healthz: %+v, want serial %d expired", cc, h, r.Serial)
		}
		a := rosterAlerts(cc)
		if len(a) != 1 || a[0].Severity != "critical" {
			t.Fatalf("%s roster alerts: %+v, want one critical roster_expired", cc, a)
		}
		if a2 := rosterAlerts(cc); len(a2) != 1 {
			t.Errorf("%s: a second check raised the alert again (%d)", cc, len(a2))
		}
	}

	// Requests still flow both ways, and after DE restarts on the expired roster.
	f.waitDelivered("FR", f.submit("FR", "DE").CaseID)
	f.stop("DE")
	f.start("DE")
	f.waitDelivered("DE", f.submit("DE", "FR").CaseID)

	// A fresh roster from the authority ends the condition.
	next := f.pushRoster("DE", func(*protocol.Roster) {})
	for _, cc := range []string{"FR", "DE"} {
		var h health
		f.api(cc, "GET", "/healthz", nil, &h)
		if h.Serial != next.Serial || h.Expired {
			t.Errorf("%s /healthz after the new roster: %+v", cc, h)
		}
	}
}
