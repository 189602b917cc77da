package schedule_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/node/schedule"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// fakeClock is the scheduler's clock in these tests: it moves only when
// the test moves it, so no test sleeps or depends on timing.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type harness struct {
	st        *store.Store
	clock     *fakeClock
	sched     *schedule.Scheduler
	announced []*store.Alert
	failed    []string
}

func newHarness(t *testing.T, steps ...schedule.Step) *harness {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{st: st, clock: &fakeClock{now: time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)}}
	h.sched = schedule.New(schedule.Options{
		Store: st, Now: h.clock.Now, Interval: time.Minute,
		ExpiryWarnings: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
		Announce:       func(a *store.Alert) { h.announced = append(h.announced, a) },
		StepFailed:     func(s string) { h.failed = append(h.failed, s) },
		Steps:          steps,
	})
	return h
}

func (h *harness) putCases(t *testing.T, cases ...*store.Case) {
	t.Helper()
	if err := h.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, c := range cases {
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) openAlerts(t *testing.T) map[string]*store.Alert {
	t.Helper()
	out := map[string]*store.Alert{}
	if err := h.st.View(func(tx *store.ReadTx) error {
		all, err := tx.Alerts(false)
		for _, a := range all {
			out[a.ID] = a
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func incoming(id, cc string, ackDue time.Time) *store.Case {
	return &store.Case{ID: id, Direction: store.Incoming, Kind: string(protocol.KindPreservation), Country: cc,
		State: string(protocol.StateOpen), Urgency: "urgent", AckDueAt: ackDue, CreatedAt: ackDue.Add(-time.Hour)}
}

// A deadline that passes on the clock raises its alert once, in the pass
// after it passed, and announces it once.
func TestDeadlinePassesOnTheClock(t *testing.T) {
	h := newHarness(t)
	due := h.clock.Now().Add(30 * time.Minute)
	h.putCases(t, incoming("c1", "DE", due))
	ctx := context.Background()

	if err := h.sched.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.openAlerts(t); len(got) != 0 || len(h.announced) != 0 {
		t.Fatalf("before the deadline: alerts %v, announced %d", got, len(h.announced))
	}
	h.clock.Advance(31 * time.Minute)
	for range 2 { // the second pass finds the alert raised already
		if err := h.sched.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, ok := h.openAlerts(t)[alerts.CaseAlertID("c1", alerts.AckOverdue)]
	if !ok || a.Severity != alerts.Critical || !a.DueAt.Equal(due) {
		t.Fatalf("after the deadline: alert %+v", a)
	}
	if len(h.announced) != 1 || h.announced[0].ID != a.ID {
		t.Fatalf("announced %d alerts, want the one overdue case once", len(h.announced))
	}
}

// Many cases from one member in the same condition: every case keeps its
// alert, the operator is told once with a summary, again only when the
// count doubles.
func TestSummaryAnnouncedOncePerDoubling(t *testing.T) {
	h := newHarness(t)
	due := h.clock.Now().Add(time.Minute)
	var cases []*store.Case
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		cases = append(cases, incoming(id, "NL", due))
	}
	h.putCases(t, cases...)
	h.clock.Advance(2 * time.Minute)
	ctx := context.Background()
	if err := h.sched.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	open := h.openAlerts(t)
	sum := open["summary/ack_overdue/incoming/NL"]
	if sum == nil || sum.Count != 4 || len(open) != 5 {
		t.Fatalf("open alerts %d, summary %+v", len(open), sum)
	}
	if len(h.announced) != 1 || h.announced[0].ID != sum.ID {
		t.Fatalf("announced %v, want only the summary", h.announced)
	}
	h.putCases(t, incoming("a5", "NL", due)) // 5 < 2×4: updated, not announced
	if err := h.sched.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.announced) != 1 || h.openAlerts(t)[sum.ID].Count != 5 {
		t.Fatalf("after one more case: announced %d", len(h.announced))
	}
	var more []*store.Case
	for _, id := range []string{"a6", "a7", "a8"} {
		more = append(more, incoming(id, "NL", due))
	}
	h.putCases(t, more...) // 8 = 2×4: announced again
	if err := h.sched.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.announced) != 2 || h.announced[1].Count != 8 {
		t.Fatalf("after doubling: announced %d", len(h.announced))
	}
}

// A terminal case raises nothing, whatever its dates say.
func TestTerminalCaseHasNoDeadline(t *testing.T) {
	h := newHarness(t)
	c := incoming("t1", "FR", h.clock.Now().Add(-time.Hour))
	c.State = string(protocol.StateRefused)
	c.ExpiresAt = h.clock.Now().Add(-time.Hour)
	h.putCases(t, c)
	if err := h.sched.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.openAlerts(t); len(got) != 0 {
		t.Fatalf("terminal case raised %v", got)
	}
}

// A failing step is counted and reported; the steps after it still run.
func TestFailingStepDoesNotStopOthers(t *testing.T) {
	ran := 0
	h := newHarness(t,
		schedule.Step{Name: "sessions", Run: func(context.Context) error { return errors.New("disk gone") }},
		schedule.Step{Name: "checkpoint", Run: func(context.Context) error { ran++; return nil }},
	)
	h.putCases(t, incoming("c1", "DE", h.clock.Now().Add(-time.Minute)))
	err := h.sched.Pass(context.Background())
	if err == nil || ran != 1 {
		t.Fatalf("pass error %v, later step ran %d times", err, ran)
	}
	if len(h.failed) != 1 || h.failed[0] != "sessions" {
		t.Fatalf("failed steps %v", h.failed)
	}
	if _, ok := h.openAlerts(t)[alerts.CaseAlertID("c1", alerts.AckOverdue)]; !ok {
		t.Fatal("deadline alert not raised alongside a failing step")
	}
}

// The expired-roster alert is raised once the clock passes valid_until.
func TestRosterExpiryOnTheClock(t *testing.T) {
	h := newHarness(t)
	r := &protocol.Roster{Serial: 7, ValidUntil: h.clock.Now().Add(time.Hour)}
	h.sched = schedule.New(schedule.Options{Store: h.st, Now: h.clock.Now, Interval: time.Minute,
		Roster:   func() *protocol.Roster { return r },
		Announce: func(a *store.Alert) { h.announced = append(h.announced, a) }})
	ctx := context.Background()
	if err := h.sched.Pass(ctx); err != nil || len(h.announced) != 0 {
		t.Fatalf("valid roster: err %v, announced %d", err, len(h.announced))
	}
	h.clock.Advance(2 * time.Hour)
	if err := h.sched.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.announced) != 1 || h.announced[0].Kind != alerts.RosterExpired {
		t.Fatalf("expired roster: announced %v", h.announced)
	}
}
