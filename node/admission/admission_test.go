package admission

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for buckets, episodes and day boundaries.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTest(l Limits) (*Controller, *clock, map[string]int) {
	ck := &clock{t: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)}
	counts := map[string]int{}
	var mu sync.Mutex
	c := New(Options{Limits: l, Now: ck.now, OnRefuse: func(cc, limit string) {
		mu.Lock()
		counts[cc+"/"+limit]++
		mu.Unlock()
	}})
	return c, ck, counts
}

func TestBucketsPerMemberAndProtocol(t *testing.T) {
	c, ck, counts := newTest(Limits{Deliver: Rate{PerSecond: 1, Burst: 2}, Drill: Rate{PerSecond: 1, Burst: 1},
		MaxPayload: map[string]int{"request": 100}})
	for i := range 2 {
		if r := c.AdmitEnvelope("NL", "request", 10); r != nil {
			t.Fatalf("envelope %d: %v", i, r)
		}
	}
	r := c.AdmitEnvelope("NL", "request", 10)
	if r == nil || r.Code != CodeRateLimited || r.Permanent || r.Limit != LimitDeliverRate {
		t.Fatalf("over the burst: %+v", r)
	}
	if r := c.AdmitEnvelope("FR", "request", 10); r != nil {
		t.Fatalf("another member shares NL's bucket: %v", r)
	}
	if r := c.AdmitDrill("NL"); r != nil {
		t.Fatalf("the drill bucket is separate: %v", r)
	}
	if r := c.AdmitDrill("NL"); r == nil || r.Limit != LimitDrillRate {
		t.Fatalf("second ping: %+v", r)
	}
	if r := c.AdmitRoster("NL"); r != nil {
		t.Fatalf("roster rate 0 is off: %v", r)
	}
	ck.add(time.Second)
	if r := c.AdmitEnvelope("NL", "request", 10); r != nil {
		t.Fatalf("after a refill: %v", r)
	}
	if counts["NL/"+LimitDeliverRate] != 1 || counts["NL/"+LimitDrillRate] != 1 {
		t.Fatalf("metric counts %v", counts)
	}
}

func TestTypesCapsAndQuarantine(t *testing.T) {
	c, _, _ := newTest(Limits{MaxPayload: map[string]int{"request": 100}})
	if r := c.AdmitEnvelope("NL", "bogus", 10); r == nil || r.Code != CodeUnknownType || !r.Permanent {
		t.Fatalf("unknown type: %+v", r)
	}
	if r := c.AdmitEnvelope("NL", "request", 100+EnvelopeOverhead+1); r == nil || r.Code != CodeTooLarge || !r.Permanent {
		t.Fatalf("too large: %+v", r)
	}
	if r := c.AdmitEnvelope("NL", "request", 100+EnvelopeOverhead); r != nil {
		t.Fatalf("at the cap: %v", r)
	}
	c.Quarantine("NL", "test")
	for _, r := range []*Refusal{c.AdmitEnvelope("NL", "request", 1), c.AdmitDrill("NL"), c.AdmitRoster("NL")} {
		if r == nil || r.Code != CodeQuarantined || r.Permanent {
			t.Fatalf("quarantined: %+v", r)
		}
	}
	c.Release("NL")
	if r := c.AdmitEnvelope("NL", "request", 1); r != nil {
		t.Fatalf("released: %v", r)
	}
}

// memTx is an in-memory QuotaTx.
type memTx struct {
	counters map[string]int64
	cases    map[string]bool
	open     map[string]int64
}

func (m *memTx) Counter(n string) (int64, error)    { return m.counters[n], nil }
func (m *memTx) SetCounter(n string, v int64)       { m.counters[n] = v }
func (m *memTx) HasCase(id string) (bool, error)    { return m.cases[id], nil }
func (m *memTx) OpenCases(cc string) (int64, error) { return m.open[cc], nil }
func (m *memTx) AddCounter(n string, d int64) (int64, error) {
	m.counters[n] += d
	return m.counters[n], nil
}

func quota(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Limit
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestQuotas(t *testing.T) {
	c, ck, _ := newTest(Limits{OpenCases: 1, BytesPerDay: 220, MessagesPerCase: 2, MaxPayload: map[string]int{"request": 100, "action": 50}})
	tx := &memTx{counters: map[string]int64{}, cases: map[string]bool{}, open: map[string]int64{}}
	in := func(caseID, typ string, payload int) Incoming {
		return Incoming{Country: "NL", CaseID: caseID, Type: typ, Payload: payload, EnvelopeLen: payload, Now: ck.now()}
	}
	if q := quota(c.ChargeStore(tx, in("a", "action", 51))); q != LimitTooLarge {
		t.Fatalf("plaintext over the action cap: %q", q)
	}
	if q := quota(c.ChargeStore(tx, in("a", "request", 100))); q != "" {
		t.Fatal(q)
	}
	tx.cases["a"], tx.open["NL"] = true, 1
	if q := quota(c.ChargeStore(tx, in("b", "request", 10))); q != QuotaOpenCases {
		t.Fatalf("second open case: %q", q)
	}
	if q := quota(c.ChargeStore(tx, in("a", "action", 50))); q != "" {
		t.Fatal(q)
	}
	if q := quota(c.ChargeStore(tx, in("a", "action", 10))); q != QuotaMessagesPerCase {
		t.Fatalf("third message in a: %q", q)
	}
	tx.cases["c"] = true // e.g. our own outgoing case: a reply opens nothing
	if q := quota(c.ChargeStore(tx, in("c", "action", 50))); q != "" {
		t.Fatal(q)
	}
	if q := quota(c.ChargeStore(tx, in("c", "action", 50))); q != QuotaBytesPerDay {
		t.Fatalf("over 220 bytes today: %q", q)
	}
	ck.add(time.Hour) // 00:00 UTC: a new day
	if q := quota(c.ChargeStore(tx, in("c", "action", 50))); q != "" {
		t.Fatalf("next UTC day: %q", q)
	}
	if tx.counters[bytesName("NL")] != 50 {
		t.Fatalf("bytes today %d, want 50", tx.counters[bytesName("NL")])
	}
}

type recorder struct {
	mu      sync.Mutex
	over    []Alarm
	cleared int
	fail    bool
}

func (r *recorder) OverLimit(_ context.Context, a Alarm) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("store down")
	}
	r.over = append(r.over, a)
	return nil
}

func (r *recorder) Cleared(context.Context, string, Alarm) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleared++
	return nil
}

// One alarm per member and flush, however many refusals; a failed report
// is retried; a quiet member's episode ends.
func TestAggregatedAlarms(t *testing.T) {
	c, ck, _ := newTest(Limits{Deliver: Rate{PerSecond: 0.001, Burst: 1}, MaxPayload: map[string]int{"request": 1}})
	rec := &recorder{fail: true}
	for range 100 {
		c.AdmitEnvelope("NL", "request", 1)
	}
	c.report(context.Background(), rec, nil)
	rec.fail = false
	c.report(context.Background(), rec, nil)
	c.report(context.Background(), rec, nil) // nothing new: no report
	if len(rec.over) != 1 || rec.over[0].Count != 99 || !strings.Contains(rec.over[0].Message(), "NL over limit rate-limited: 99 refused") {
		t.Fatalf("alarms %+v", rec.over)
	}
	c.AdmitEnvelope("NL", "request", 1)
	c.report(context.Background(), rec, nil)
	if len(rec.over) != 2 || rec.over[1].Count != 100 {
		t.Fatalf("update %+v", rec.over)
	}
	ck.add(11 * time.Minute)
	c.report(context.Background(), rec, nil)
	if rec.cleared != 1 {
		t.Fatalf("cleared %d times", rec.cleared)
	}
	c.AdmitEnvelope("NL", "request", 1)
	c.report(context.Background(), rec, nil)
	if len(rec.over) != 3 || rec.over[2].Count != 1 {
		t.Fatalf("new episode %+v", rec.over)
	}
}

func TestSampler(t *testing.T) {
	s := NewSampler(time.Minute, 2)
	t0 := time.Now()
	if ok, _ := s.Allow("a", t0); !ok {
		t.Fatal("first line held back")
	}
	for i := range 10 {
		if ok, _ := s.Allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("line within the minute let through")
		}
	}
	if ok, n := s.Allow("a", t0.Add(time.Minute)); !ok || n != 10 {
		t.Fatalf("after a minute: %v, %d held", ok, n)
	}
	s.Allow("b", t0)
	s.Allow("c", t0.Add(3*time.Minute)) // over maxKeys: prunes
	if len(s.keys) > 2 {
		t.Fatalf("%d keys kept, max 2", len(s.keys))
	}
}
