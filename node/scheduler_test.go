package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// hookRecorder is a webhook that records the alerts it is sent.
type hookRecorder struct {
	mu     sync.Mutex
	alerts []store.Alert
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a store.Alert
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &a); err == nil {
		h.mu.Lock()
		h.alerts = append(h.alerts, a)
		h.mu.Unlock()
	}
}

func (h *hookRecorder) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		out = append(out, a.ID)
	}
	return out
}

// seedCases writes cases straight into a node's store in bounded batches,
// the way a flood of accepted requests would have left them.
func seedCases(t *testing.T, n *node.Node, cases []*store.Case) {
	t.Helper()
	for start := 0; start < len(cases); start += 200 {
		batch := cases[start:min(start+200, len(cases))]
		if err := n.Store().Update(context.Background(), func(tx *store.Tx) error {
			for _, c := range batch {
				if err := tx.PutCase(c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("seed cases: %v", err)
		}
	}
}

func seedCase(id string, dir store.Direction, cc string, peerID string, now time.Time) *store.Case {
	return &store.Case{ID: id, Direction: dir, Kind: string(protocol.KindPreservation), Country: cc, Peer: peerID,
		State: string(protocol.StateOpen), Urgency: "urgent", CreatedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour)}
}

type alertCounts struct {
	perCase   map[string]int // kind → open per-case alerts
	summaries map[string]*store.Alert
}

func countAlerts(t *testing.T, n *node.Node) alertCounts {
	t.Helper()
	ac := alertCounts{perCase: map[string]int{}, summaries: map[string]*store.Alert{}}
	if err := n.Store().View(func(tx *store.ReadTx) error {
		all, err := tx.Alerts(false)
		for _, a := range all {
			if strings.HasPrefix(a.ID, "summary/") {
				ac.summaries[a.ID] = a
			} else if a.CaseID != "" {
				ac.perCase[string(a.Kind)]++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ac
}

// checkpointCoversLog reports whether the newest signed checkpoint covers
// every audit record.
func checkpointCoversLog(t *testing.T, n *node.Node) bool {
	t.Helper()
	var ok bool
	if err := n.Store().View(func(tx *store.ReadTx) error {
		size, _, err := tx.AuditRoot()
		if err != nil {
			return err
		}
		cps, err := tx.AuditCheckpoints()
		if err != nil {
			return err
		}
		ok = len(cps) > 0 && cps[len(cps)-1].Size == size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestSchedulerThousandsOverdue: a member leaving thousands of requests
// unacknowledged past their deadline once made every scheduler pass fail
// ("Txn is too big"), so no alert was raised again and checkpoints,
// purges and session pruning stopped (issue 9, item 3). Now every alert
// is raised in bounded batches, the operator is told once per member
// ("3000 requests from DE overdue"), and the other steps run, on both
// store profiles and again after a restart.
func TestSchedulerThousandsOverdue(t *testing.T) {
	for _, profile := range []string{"small", "default"} {
		t.Run(profile, func(t *testing.T) {
			hook := &hookRecorder{}
			srv := httptest.NewServer(hook)
			defer srv.Close()
			f := newFederationWith(t, 3, func(cc string, cfg *config.Config) {
				cfg.Store.Profile = profile
				cfg.Deadlines.CheckInterval = time.Hour // passes are run by the test
				if cc == "FR" {
					cfg.Alerts.Webhook = srv.URL
				}
			})
			fr := f.nodes["FR"]
			de, nl := f.nodes["DE"].PeerID().String(), f.nodes["NL"].PeerID().String()
			now := f.clock.Now().UTC()
			const overdue, expired, closed = 3000, 1200, 40
			var cases []*store.Case
			for i := range overdue {
				c := seedCase(fmt.Sprintf("a%031d", i), store.Incoming, "DE", de, now)
				c.AckDueAt = now.Add(-time.Hour)
				cases = append(cases, c)
			}
			for i := range expired {
				c := seedCase(fmt.Sprintf("b%031d", i), store.Outgoing, "DE", de, now)
				c.State, c.AcknowledgedAt, c.ExpiresAt = string(protocol.StatePreserved), now.Add(-time.Hour), now.Add(-time.Minute)
				cases = append(cases, c)
			}
			for i := range closed {
				c := seedCase(fmt.Sprintf("c%031d", i), store.Incoming, "DE", de, now)
				c.State, c.ClosedAt = string(protocol.StateClosed), now.Add(-100*24*time.Hour)
				cases = append(cases, c)
			}
			lone := seedCase(fmt.Sprintf("d%031d", 0), store.Incoming, "NL", nl, now)
			lone.AckDueAt = now.Add(-time.Minute)
			cases = append(cases, lone)
			seedCases(t, fr, cases)

			if err := fr.Scheduler().Pass(context.Background()); err != nil {
				t.Fatalf("scheduler pass: %v", err)
			}
			check := func(when string) {
				t.Helper()
				ac := countAlerts(t, fr)
				if ac.perCase["ack_overdue"] != overdue+1 || ac.perCase["expired"] != expired {
					t.Fatalf("%s: per-case alerts %v, want ack_overdue %d, expired %d", when, ac.perCase, overdue+1, expired)
				}
				ack := ac.summaries["summary/ack_overdue/incoming/DE"]
				if ack == nil || ack.Count != overdue || !strings.Contains(ack.Message, "3000 requests from DE overdue") || ack.Severity != "critical" {
					t.Fatalf("%s: summary of overdue requests from DE: %+v", when, ack)
				}
				if exp := ac.summaries["summary/expired/outgoing/DE"]; exp == nil || exp.Count != expired {
					t.Fatalf("%s: summary of expired preservations: %+v", when, exp)
				}
				if len(ac.summaries) != 2 {
					t.Fatalf("%s: summaries %v, want two (one member with one overdue case gets no summary)", when, ac.summaries)
				}
				if !checkpointCoversLog(t, fr) {
					t.Fatalf("%s: the audit checkpoint does not cover the log", when)
				}
				if err := fr.Store().View(func(tx *store.ReadTx) error {
					for i := range closed {
						c, err := tx.Case(fmt.Sprintf("c%031d", i))
						if err != nil {
							return err
						}
						if c.PurgedAt.IsZero() {
							return fmt.Errorf("case %s past retention was not purged", c.ID)
						}
					}
					return nil
				}); err != nil {
					t.Fatalf("%s: %v", when, err)
				}
			}
			check("first pass")
			// The operator is told three times: once per member and kind
			// with many cases, once for the lone NL case.
			want := []string{"summary/ack_overdue/incoming/DE", "summary/expired/outgoing/DE", lone.ID + "/ack_overdue"}
			eventually(t, 10*time.Second, "three hook calls", func() bool { return len(hook.ids()) >= len(want) })

			f.stop("FR")
			fr = f.start("FR")
			if err := fr.Scheduler().Pass(context.Background()); err != nil {
				t.Fatalf("scheduler pass after restart: %v", err)
			}
			check("after restart")
			got := hook.ids()
			if len(got) != len(want) {
				t.Fatalf("hook calls %v, want exactly %v (nothing announced again after restart)", got, want)
			}
			for _, w := range want {
				if !contains(got, w) {
					t.Fatalf("hook calls %v, want %s among them", got, w)
				}
			}
		})
	}
}

// TestSchedulerStepFailureDoesNotStopOthers: a case whose purge fails (its
// message record is missing) is reported, and the pass still raises
// alerts, purges the other cases and signs the checkpoint.
func TestSchedulerStepFailureDoesNotStopOthers(t *testing.T) {
	f := newFederationWith(t, 2, func(_ string, cfg *config.Config) { cfg.Deadlines.CheckInterval = time.Hour })
	fr := f.nodes["FR"]
	de := f.nodes["DE"].PeerID().String()
	now := f.clock.Now().UTC()
	broken := seedCase(fmt.Sprintf("e%031d", 0), store.Incoming, "DE", de, now)
	broken.State, broken.ClosedAt, broken.MessageIDs = string(protocol.StateClosed), now.Add(-100*24*time.Hour), []string{"missing-message"}
	fine := seedCase(fmt.Sprintf("e%031d", 1), store.Incoming, "DE", de, now)
	fine.State, fine.ClosedAt = string(protocol.StateClosed), now.Add(-100*24*time.Hour)
	late := seedCase(fmt.Sprintf("e%031d", 2), store.Incoming, "DE", de, now)
	late.AckDueAt = now.Add(-time.Minute)
	seedCases(t, fr, []*store.Case{broken, fine, late})

	err := fr.Scheduler().Pass(context.Background())
	if err == nil || !strings.Contains(err.Error(), "purge") || !strings.Contains(err.Error(), broken.ID) {
		t.Fatalf("pass error %v, want the failed purge of %s", err, broken.ID)
	}
	if ac := countAlerts(t, fr); ac.perCase["ack_overdue"] != 1 {
		t.Fatalf("alerts %v: the overdue case was not alerted", ac.perCase)
	}
	if !checkpointCoversLog(t, fr) {
		t.Fatal("the checkpoint was skipped after a failed purge")
	}
	if err := fr.Store().View(func(tx *store.ReadTx) error {
		c, err := tx.Case(fine.ID)
		if err == nil && c.PurgedAt.IsZero() {
			err = fmt.Errorf("case %s was not purged", c.ID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v := f.metricValue("FR", "vigil_scheduler_step_failures_total", `step="purge"`); v != 1 {
		t.Fatalf("failed purge steps counted %v, want 1", v)
	}
}

// TestOpenCasesMetricExcludesTerminal: vigil_open_cases counts only cases
// that are open; refused, withdrawn, released, answered and decided
// emergency cases are settled and no longer count (they once counted as
// open for ever). The terminal set is protocol's, the one the scheduler
// uses.
func TestOpenCasesMetricExcludesTerminal(t *testing.T) {
	f := newFederationWith(t, 2, func(_ string, cfg *config.Config) { cfg.Deadlines.CheckInterval = time.Hour })
	fr := f.nodes["FR"]
	de := f.nodes["DE"].PeerID().String()
	now := f.clock.Now().UTC()
	open := map[protocol.State]int{protocol.StateOpen: 2, protocol.StateAcknowledged: 1, protocol.StatePreserved: 1, protocol.StateMLAPending: 1}
	settled := []protocol.State{protocol.StateRefused, protocol.StateWithdrawn, protocol.StateReleased, protocol.StateAnswered,
		protocol.StateDataProvided, protocol.StateClosed}
	var cases []*store.Case
	i := 0
	add := func(s protocol.State) {
		c := seedCase(fmt.Sprintf("m%031d", i), store.Incoming, "DE", de, now)
		c.State = string(s)
		cases = append(cases, c)
		i++
	}
	for s, n := range open {
		for range n {
			add(s)
		}
	}
	for _, s := range settled {
		if !protocol.Terminal(s) {
			t.Fatalf("%s is not terminal in protocol", s)
		}
		add(s)
	}
	seedCases(t, fr, cases)

	for s, n := range open {
		if v := f.metricValue("FR", "vigil_open_cases", fmt.Sprintf("state=%q", s)); v != float64(n) {
			t.Errorf("vigil_open_cases{state=%q} = %v, want %d", s, v, n)
		}
	}
	text := f.metricsText("FR")
	for _, s := range settled {
		if strings.Contains(text, fmt.Sprintf("vigil_open_cases{state=%q}", s)) {
			t.Errorf("a %s case counts as open", s)
		}
	}
}
