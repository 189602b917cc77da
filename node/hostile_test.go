package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node"
	hostiledrv "github.com/vigil-network/vigil/node/bench/hostile"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// The hostile-member harness of issue 9: one roster member (NL) is
// replaced by a hostile host holding NL's own valid keys, and drives each
// runtime attack of the table against a real victim node (FR),
// while an honest member (DE) keeps working. Attacks 3, 7, 8, 10, 11 and
// 12 are tested beside the code that fixes them (scheduler, delivery,
// roster, transport, key rotation, restart tests).
//
// What every subtest asserts on the victim, per the issue:
//   - bounded store growth and heap, relative to the configured quotas
//     (never to elapsed time);
//   - honest members' requests are still delivered;
//   - the victim's operators can still submit and act;
//   - an alert is raised for the hostile peer;
//   - nothing the victim receipted is lost: every receipted message is in
//     its store, listed once in its case.

// Small limits so each attack reaches them within a modest, count-bounded
// flood (CI also runs this under -race).
const (
	hostileOpenCases       = 40
	hostileMessagesPerCase = 30
	hostileBytesPerDay     = 2 << 20 // 2 MiB
	hostileRequestCap      = 64 << 10
	// storeSlack is what Badger may add on disk for anything (WAL,
	// memtable flushes, manifest, audit records) beside the payloads a
	// quota admits.
	storeSlack = 24 << 20
	// heapSlack bounds heap growth over a flood for all in-process nodes,
	// beyond what the admitted bytes account for.
	heapSlack = 96 << 20
	// envelopeMax is the wire size of one small flooded request.
	envelopeMax = 4 << 10
)

// hostileLimits configures the victim's admission control (node/config.go
// `admission:`) to the small limits above.
func hostileLimits(cc string, cfg *config.Config) {
	if cc != "FR" {
		return
	}
	a := &cfg.Admission
	a.OpenCases, a.MessagesPerCase, a.BytesPerDay = hostileOpenCases, hostileMessagesPerCase, hostileBytesPerDay
	a.MaxPayload = map[string]int{"request": hostileRequestCap, "action": hostileRequestCap}
	a.Deliver = config.RateConfig{PerSecond: 50, Burst: 100}
	a.Drill = config.RateConfig{PerSecond: 1, Burst: 10}
}

type hostileSetup struct {
	f      *federation
	d      *hostiledrv.Driver
	victim *node.Node
	dir    string // victim's data dir
}

// newHostileSetup starts FR, DE and NL, then replaces NL by the hostile driver
// listening on NL's roster addresses.
func newHostileSetup(t *testing.T) *hostileSetup {
	t.Helper()
	if testing.Short() {
		t.Skip("hostile-member federation test")
	}
	f := newFederationWith(t, 3, hostileLimits)
	f.stop("NL")
	nl := memberOf(t, f, "NL")
	m, err := hostiledrv.LoadMember(f.entry("NL"), nl.Addrs)
	if err != nil {
		t.Fatal(err)
	}
	target, err := hostiledrv.TargetOf(memberOf(t, f, "FR"))
	if err != nil {
		t.Fatal(err)
	}
	var d *hostiledrv.Driver
	// NL's port was just released; the victim may also be dialling it.
	eventually(t, 20*time.Second, "hostile host up", func() bool {
		d, err = hostiledrv.New(f.ctx, m, target, hostiledrv.Options{Now: f.clock.Now, OutsiderIP: strangerIP})
		return err == nil
	})
	t.Cleanup(func() { d.Close() })
	cfg, err := config.LoadConfig(f.entry("FR").Config)
	if err != nil {
		t.Fatal(err)
	}
	return &hostileSetup{f: f, d: d, victim: f.nodes["FR"], dir: cfg.Path(cfg.DataDir)}
}

// footprint is the victim's disk usage and the process's live heap.
type footprint struct{ disk, heap int64 }

func (h *hostileSetup) footprint(t *testing.T) footprint {
	t.Helper()
	du, err := hostiledrv.DiskUsage(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{disk: du, heap: int64(ms.HeapAlloc)}
}

// checkBounded asserts store and heap growth are bounded by what the
// quotas can admit (quota bytes: the largest payload total the victim's
// limits let one peer store) plus fixed slack.
func (h *hostileSetup) checkBounded(t *testing.T, before footprint, admitted int64) {
	t.Helper()
	after := h.footprint(t)
	// Each admitted byte is stored about three times (envelope, audit
	// hash chain and indexes, LSM rewrite before compaction).
	if grow := after.disk - before.disk; grow > 3*admitted+storeSlack {
		t.Errorf("victim store grew %d bytes for %d admitted (bound %d)", grow, admitted, 3*admitted+storeSlack)
	}
	if grow := after.heap - before.heap; grow > 2*admitted+heapSlack {
		t.Errorf("heap grew %d bytes for %d admitted (bound %d)", grow, admitted, 2*admitted+heapSlack)
	}
}

// checkServing asserts the honest member still delivers to the victim and
// the victim's operators can still submit and act.
func (h *hostileSetup) checkServing(t *testing.T) {
	t.Helper()
	f := h.f
	in := f.submit("DE", "FR")
	f.waitDelivered("DE", in.CaseID)
	out := f.submit("FR", "DE")
	f.waitDelivered("FR", out.CaseID)
	if code := f.act("FR", in.CaseID, op("acknowledge")); code != http.StatusCreated {
		t.Errorf("victim's operator cannot acknowledge an honest request: HTTP %d", code)
	}
	f.waitState(in.CaseID, "acknowledged", "FR", "DE")
}

// checkAlert asserts the victim raised an alert naming the hostile peer.
func (h *hostileSetup) checkAlert(t *testing.T) {
	t.Helper()
	eventually(t, 15*time.Second, "an alert about NL", func() bool {
		var out struct {
			Alerts []store.Alert `json:"alerts"`
		}
		h.f.api("FR", "GET", "/api/v1/alerts", nil, &out)
		for _, a := range out.Alerts {
			if a.CaseID == "" && (a.Country == "NL" || strings.Contains(a.Message, "NL")) {
				return true
			}
		}
		return false
	})
}

// checkKept asserts every receipted message is in the victim's store and
// listed once in its case (or kept apart, flagged, outside it).
func (h *hostileSetup) checkKept(t *testing.T, acc []hostiledrv.Accepted) {
	t.Helper()
	err := h.victim.Store().View(func(tx *store.ReadTx) error {
		cases := map[string]*store.Case{}
		for _, a := range acc {
			m, err := tx.Message(a.MessageID)
			if err != nil {
				t.Errorf("receipted message %s not in the victim's store: %v", a.MessageID, err)
				continue
			}
			c, ok := cases[m.CaseID]
			if !ok {
				if c, err = tx.Case(m.CaseID); err != nil {
					if hasFlagT(m.Flags, "foreign-case") || hasFlagT(m.Flags, "case-id-reused") {
						continue
					}
					t.Errorf("case %s of receipted message %s: %v", m.CaseID, a.MessageID, err)
					continue
				}
				cases[m.CaseID] = c
			}
			if n := count(c.MessageIDs, a.MessageID); n > 1 {
				t.Errorf("message %s listed %d times in case %s", a.MessageID, n, c.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hasFlagT(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// checkRefusals asserts that what was refused for a limit was refused
// retryably (an honest burst is delayed, never lost), and names a limit.
func checkRefusals(t *testing.T, r *hostiledrv.Result, want ...string) {
	t.Helper()
	for _, code := range []string{"rate-limited", "quota-exceeded", "quarantined", "local-reserve"} {
		if n := r.Rejected[code]; n > 0 && r.Retryable < n {
			t.Errorf("%d %s refusals but only %d retryable", n, code, r.Retryable)
		}
	}
	for _, code := range want {
		if r.Rejected[code] == 0 {
			t.Errorf("no %q refusal: %s", code, r)
		}
	}
}

func TestHostileMember(t *testing.T) {
	ctx := context.Background()

	// 1: valid small emergency requests pipelined on 8 streams.
	t.Run("request flood", func(t *testing.T) {
		h := newHostileSetup(t)
		before := h.footprint(t)
		r, err := h.d.Flood(ctx, hostiledrv.FloodOptions{Count: 2000, Streams: 8, Make: h.d.Requests(0)})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(r)
		if r.Receipted > hostileOpenCases {
			t.Errorf("victim accepted %d requests from one peer, open-case quota %d", r.Receipted, hostileOpenCases)
		}
		checkRefusals(t, r)
		if r.Rejected["rate-limited"]+r.Rejected["quota-exceeded"] == 0 {
			t.Errorf("no rate-limited or quota-exceeded refusal: %s", r)
		}
		h.checkBounded(t, before, hostileOpenCases*envelopeMax)
		h.checkKept(t, r.Accepted)
		h.checkServing(t)
		h.checkAlert(t)
		// The case list stays usable: it does not carry every flooded case
		// unbounded (what the console re-fetched on each event).
		var list struct {
			Cases []json.RawMessage `json:"cases"`
		}
		if code := h.f.api("FR", "GET", "/api/v1/cases", nil, &list); code != http.StatusOK {
			t.Fatalf("GET cases: HTTP %d", code)
		}
	})

	// 2: large requests into the data dir.
	t.Run("large requests", func(t *testing.T) {
		h := newHostileSetup(t)
		before := h.footprint(t)
		// Over the per-type cap: refused permanently, nothing stored.
		big, err := h.d.Flood(ctx, hostiledrv.FloodOptions{Count: 24, Streams: 4, Make: h.d.Requests(900 << 10)})
		if err != nil {
			t.Fatal(err)
		}
		t.Log("900 KiB:", big)
		if big.Receipted != 0 {
			t.Errorf("victim stored %d requests of 900 KiB (cap %d)", big.Receipted, hostileRequestCap)
		}
		if big.Rejected["too-large"] == 0 {
			t.Errorf("900 KiB requests not refused as too-large: %s", big)
		}
		// Under the cap but many: the bytes-per-day quota stops them.
		mid, err := h.d.Flood(ctx, hostiledrv.FloodOptions{Count: 200, Streams: 4, Make: h.d.Requests(30 << 10)})
		if err != nil {
			t.Fatal(err)
		}
		t.Log("30 KiB:", mid)
		if mid.AcceptedBytes > hostileBytesPerDay+hostileRequestCap {
			t.Errorf("victim accepted %d bytes in a day from one peer, quota %d", mid.AcceptedBytes, hostileBytesPerDay)
		}
		checkRefusals(t, mid)
		h.checkBounded(t, before, hostileBytesPerDay+hostileRequestCap)
		h.checkKept(t, mid.Accepted)
		h.checkServing(t)
		h.checkAlert(t)
	})

	// 4: a request reusing the case ID of one of the victim's own
	// outgoing cases.
	t.Run("case rewrite", func(t *testing.T) {
		h := newHostileSetup(t)
		sub := h.f.submit("FR", "NL")
		h.f.waitDelivered("FR", sub.CaseID)
		was, _ := h.f.caseView("FR", sub.CaseID)
		doc, err := hostiledrv.EmergencyRequest("FR", "REWRITE", 0)
		if err != nil {
			t.Fatal(err)
		}
		env, err := h.d.Seal(protocol.TypeRequest, sub.CaseID, doc)
		if err != nil {
			t.Fatal(err)
		}
		a := h.d.Send(ctx, env.Raw)
		if a.Err != nil {
			t.Fatalf("no answer to the rewriting request: %v", a.Err)
		}
		now, code := h.f.caseView("FR", sub.CaseID)
		if code != http.StatusOK || now.Kind != was.Kind || now.Direction != "outgoing" || now.State != was.State ||
			!bytes.Equal(now.Request, was.Request) || !equalTimes(now.ExpiresAt, was.ExpiresAt) {
			t.Fatalf("victim's own case rewritten:\nwas %+v\nnow %+v", was.CaseSummary, now.CaseSummary)
		}
		if a.Receipted {
			h.checkKept(t, []hostiledrv.Accepted{{MessageID: env.MessageID, CaseID: env.CaseID}})
			if contains(caseMessageIDs(t, h.victim, sub.CaseID), env.MessageID) {
				t.Errorf("rewriting request merged into the victim's case")
			}
		}
		h.checkServing(t)
	})

	// 5: many actions on one case.
	t.Run("many actions on one case", func(t *testing.T) {
		h := newHostileSetup(t)
		doc, err := hostiledrv.EmergencyRequest("FR", "ACTIONS", 0)
		if err != nil {
			t.Fatal(err)
		}
		env, err := h.d.Seal(protocol.TypeRequest, "", doc)
		if err != nil {
			t.Fatal(err)
		}
		if a := h.d.Send(ctx, env.Raw); !a.Receipted {
			t.Fatalf("opening request not receipted: %+v", a)
		}
		before := h.footprint(t)
		r, err := h.d.Flood(ctx, hostiledrv.FloodOptions{Count: 200, Streams: 4, Make: h.d.Actions(env.CaseID, 1, 8<<10)})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(r)
		if r.Receipted >= hostileMessagesPerCase {
			t.Errorf("victim accepted %d actions on one case, quota %d messages", r.Receipted, hostileMessagesPerCase)
		}
		checkRefusals(t, r, "quota-exceeded")
		if reason := r.Reasons["quota-exceeded"]; !strings.Contains(reason, "messages_per_case") {
			t.Errorf("quota refusal does not name messages_per_case: %q", reason)
		}
		h.checkBounded(t, before, hostileMessagesPerCase*(8<<10+envelopeMax))
		h.checkKept(t, append(r.Accepted, hostiledrv.Accepted{MessageID: env.MessageID}))
		h.checkServing(t)
		h.checkAlert(t)
	})

	// 6: drill ping flood, then envelopes with bad signatures.
	t.Run("ping flood and bad signatures", func(t *testing.T) {
		h := newHostileSetup(t)
		before := h.footprint(t)
		p, err := h.d.PingFlood(ctx, hostiledrv.PingOptions{Count: 2000, Streams: 32})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pings: %+v", p)
		// A token bucket answers its burst plus its rate over the flood;
		// a drill needs one ping per interval, so most must be refused.
		if p.Pongs > p.Sent/4 {
			t.Errorf("victim answered %d of %d flooded pings", p.Pongs, p.Sent)
		}
		bad, err := h.d.Flood(ctx, hostiledrv.FloodOptions{Count: 2000, Streams: 8, Make: h.d.BadSignatures()})
		if err != nil {
			t.Fatal(err)
		}
		t.Log("bad signatures:", bad)
		if bad.Receipted != 0 {
			t.Fatalf("victim receipted %d envelopes with bad signatures", bad.Receipted)
		}
		if bad.Rejected["bad-signature"] > bad.Sent/2 {
			t.Errorf("victim verified and refused %d of %d bad envelopes one by one: not rate-limited",
				bad.Rejected["bad-signature"], bad.Sent)
		}
		h.checkBounded(t, before, 0)
		h.checkServing(t)
		h.checkAlert(t)
		// The victim's own drill still reaches the honest member.
		if _, err := h.victim.Drills().Ping(ctx, "DE"); err != nil {
			t.Errorf("victim's drill ping to DE: %v", err)
		}
	})

	// 9: an outsider with no key holds raw TCP connections open, from an
	// address no member uses (strangerIP, transport_test.go).
	t.Run("idle raw connections", func(t *testing.T) {
		h := newHostileSetup(t)
		open, err := h.d.HoldIdle(ctx, 300, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d idle raw connections open", open)
		// As in the issue, the outsider refills what the victim closes
		// (bounded: at most 3,000 dials, every 100 ms).
		if err := h.d.KeepIdle(300, 3000, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// DE must connect afresh while the connections are held.
		h.f.stop("DE")
		h.f.start("DE")
		h.checkServing(t)
		h.d.StopRefill()
		// The victim times the handshakes out instead of holding them.
		eventually(t, 45*time.Second, "victim closes idle raw connections", func() bool {
			return h.d.IdleOpen() == 0
		})
	})
}

func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func caseMessageIDs(t *testing.T, n *node.Node, caseID string) []string {
	t.Helper()
	var ids []string
	err := n.Store().View(func(tx *store.ReadTx) error {
		c, err := tx.Case(caseID)
		if err != nil {
			return err
		}
		ids = c.MessageIDs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
