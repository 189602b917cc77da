package node_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Admission control per member (issue 9): a member holding its own valid
// keys (sealerFor) drives each limit against a real node.

// hostile seals envelopes from one member of f to another with the
// member's real keys, as a broken or hostile node would.
type hostile struct {
	t      *testing.T
	f      *federation
	from   string
	to     string
	sealer *protocol.Sealer
	encKey [32]byte
}

func newHostile(t *testing.T, f *federation, from, to string) *hostile {
	t.Helper()
	k, err := memberOf(t, f, to).EncryptionPublic()
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.nodes[from], f.nodes[to]
	eventually(t, 20*time.Second, from+" and "+to+" connected", func() bool {
		return a.Host().Network().Connectedness(b.PeerID()) == network.Connected &&
			b.Host().Network().Connectedness(a.PeerID()) == network.Connected
	})
	return &hostile{t: t, f: f, from: from, to: to, sealer: sealerFor(t, f.entry(from)), encKey: k}
}

func (h *hostile) seal(typ protocol.MessageType, caseID string, payload []byte) *protocol.Envelope {
	h.t.Helper()
	now := h.f.clock.Now()
	if caseID == "" {
		caseID = protocol.NewID(now)
	}
	env, err := h.sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: caseID, Type: typ,
		Recipient: h.f.nodes[h.to].PeerID(), CreatedAt: now}, h.encKey, payload)
	if err != nil {
		h.t.Fatal(err)
	}
	return env
}

// request seals a valid request opening a new case.
func (h *hostile) request() *protocol.Envelope {
	return h.seal(protocol.TypeRequest, "", exampleRequest(h.t, h.to))
}

// send delivers one envelope on its own stream and returns the rejection,
// or nil for a receipt.
func (h *hostile) send(env *protocol.Envelope) *protocol.Reject {
	h.t.Helper()
	ft, body := sendRaw(h.t, h.f.nodes[h.from], h.f.nodes[h.to], protocol.FrameEnvelope, env.Raw)
	return answer(h.t, ft, body)
}

func answer(t *testing.T, ft protocol.FrameType, body []byte) *protocol.Reject {
	t.Helper()
	switch ft {
	case protocol.FrameReceipt:
		return nil
	case protocol.FrameReject:
		rj, err := protocol.ParseReject(body)
		if err != nil {
			t.Fatalf("bad reject: %v", err)
		}
		return &rj
	}
	t.Fatalf("unexpected answer frame %d", ft)
	return nil
}

// flood pipelines envelopes on one delivery stream, as a flooding member
// does, and returns the answers.
func (h *hostile) flood(envs []*protocol.Envelope) (receipts int, rejects []*protocol.Reject) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	from, to := h.f.nodes[h.from], h.f.nodes[h.to]
	s, err := from.Host().NewStream(ctx, to.PeerID(), deliver.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		for _, e := range envs {
			if protocol.WriteFrame(s, protocol.FrameEnvelope, e.Raw) != nil {
				return
			}
		}
	}()
	for range envs {
		ft, body, err := protocol.ReadFrame(s, protocol.MaxFrameSize)
		if err != nil {
			h.t.Fatalf("read answer: %v", err)
		}
		if rj := answer(h.t, ft, body); rj != nil {
			rejects = append(rejects, rj)
		} else {
			receipts++
		}
	}
	return receipts, rejects
}

func wantReject(t *testing.T, rj *protocol.Reject, code, reason string, permanent bool) {
	t.Helper()
	if rj == nil {
		t.Fatalf("accepted, want a %s rejection", code)
	}
	if rj.Code != code || rj.Permanent != permanent || !strings.Contains(rj.Reason, reason) {
		t.Fatalf("rejection %+v, want code %s (permanent %v) naming %q", rj, code, permanent, reason)
	}
}

func stored(t *testing.T, n *node.Node, env *protocol.Envelope) (msg, cs bool) {
	t.Helper()
	err := n.Store().View(func(tx *store.ReadTx) error {
		_, merr := tx.Message(env.MessageID)
		_, cerr := tx.Case(env.CaseID)
		msg, cs = merr == nil, cerr == nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg, cs
}

// metricValue reads one sample of the node's Prometheus text output.
func metricValue(f *federation, cc, series string) float64 {
	f.t.Helper()
	re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(f.metricsText(cc))
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func admissionAlerts(f *federation, cc string) []store.Alert {
	f.t.Helper()
	var out struct {
		Alerts []store.Alert `json:"alerts"`
	}
	f.api(cc, "GET", "/api/v1/alerts", nil, &out)
	var as []store.Alert
	for _, a := range out.Alerts {
		if a.Kind == "peer_over_limit" {
			as = append(as, a)
		}
	}
	return as
}

// limitsOn applies mod to the admission config of node cc only.
func limitsOn(cc string, mod func(a *config.AdmissionConfig)) func(string, *config.Config) {
	return func(c string, cfg *config.Config) {
		if c == cc {
			mod(&cfg.Admission)
		}
	}
}

// A member flooding envelopes beyond its rate gets retryable
// "rate-limited" rejections; another member's requests are still
// delivered; the operator gets one alert for the flooder and the metric
// counts the refusals.
func TestAdmissionRateLimit(t *testing.T) {
	const burst = 5
	f := newFederationWith(t, 3, limitsOn("DE", func(a *config.AdmissionConfig) {
		a.Deliver = config.RateConfig{PerSecond: 0.001, Burst: burst} // no refill within the test
		a.AlertInterval = time.Second
	}))
	h := newHostile(t, f, "FR", "DE")
	envs := make([]*protocol.Envelope, 40)
	for i := range envs {
		envs[i] = h.request()
	}
	receipts, rejects := h.flood(envs)
	if receipts != burst || len(rejects) != len(envs)-burst {
		t.Fatalf("%d receipts, %d rejections; want %d and %d", receipts, len(rejects), burst, len(envs)-burst)
	}
	for _, rj := range rejects {
		wantReject(t, rj, "rate-limited", "", false)
	}
	// A second flood on a new stream is refused too: the bucket is per
	// member, not per stream.
	wantReject(t, h.send(h.request()), "rate-limited", "", false)

	// The honest member is not affected.
	sub := f.submit("NL", "DE")
	f.waitDelivered("NL", sub.CaseID)

	eventually(t, 20*time.Second, "one over-limit alert for FR", func() bool {
		as := admissionAlerts(f, "DE")
		return len(as) == 1 && as[0].ID == "admission/FR" && strings.Contains(as[0].Message, "rate-limited")
	})
	if got := metricValue(f, "DE", `vigil_admission_refusals_total{country="FR",limit="deliver_rate"}`); got != float64(len(rejects)+1) {
		t.Fatalf("refusal metric %v, want %d", got, len(rejects)+1)
	}
	if got := metricValue(f, "DE", `vigil_admission_refusals_total{country="NL",limit="deliver_rate"}`); got != 0 {
		t.Fatalf("NL refused %v times", got)
	}
	// More refusals update the same alert, never add one.
	h.flood(envs[:10])
	eventually(t, 20*time.Second, "the alert to count the new refusals", func() bool {
		as := admissionAlerts(f, "DE")
		return len(as) == 1 && strings.Contains(as[0].Message, fmt.Sprintf(": %d refused", len(rejects)+11))
	})
}

// A retryable rejection delays an honest burst; nothing is lost: every
// request submitted through the API is delivered once the bucket refills.
func TestAdmissionBurstDelayedNotLost(t *testing.T) {
	f := newFederationWith(t, 2, limitsOn("DE", func(a *config.AdmissionConfig) {
		a.Deliver = config.RateConfig{PerSecond: 4, Burst: 2}
	}))
	var subs []types.Submission
	for range 12 {
		subs = append(subs, f.submit("FR", "DE"))
	}
	for _, s := range subs {
		f.waitDelivered("FR", s.CaseID)
		if c, m := countIncoming(t, f.nodes["DE"], s.CaseID); c != 1 || m != 1 {
			t.Fatalf("DE holds %d cases / %d messages for %s, want 1/1", c, m, s.CaseID)
		}
	}
	if got := metricValue(f, "DE", `vigil_admission_refusals_total{country="FR",limit="deliver_rate"}`); got == 0 {
		t.Fatal("the burst never met the limit: the test proves nothing")
	}
}

// Open cases per member: at the quota a new case is refused (retryable,
// naming open_cases), also after a restart; once the operator refuses one
// of them (a terminal state), the member may open another. Messages on an
// existing case are not new cases.
func TestAdmissionOpenCasesQuota(t *testing.T) {
	f := newFederationWith(t, 2, limitsOn("DE", func(a *config.AdmissionConfig) { a.OpenCases = 2 }))
	h := newHostile(t, f, "FR", "DE")
	first := h.request()
	for _, e := range []*protocol.Envelope{first, h.request()} {
		if rj := h.send(e); rj != nil {
			t.Fatalf("under quota: %+v", rj)
		}
	}
	over := h.request()
	wantReject(t, h.send(over), "quota-exceeded", "open_cases", false)
	if msg, cs := stored(t, f.nodes["DE"], over); msg || cs {
		t.Fatal("refused request was stored")
	}
	// An action on an open case is still accepted.
	if rj := h.send(h.seal(protocol.TypeAction, first.CaseID, []byte(`{"action":"withdraw","seq":1}`))); rj != nil {
		t.Fatalf("action on an existing case: %+v", rj)
	}

	f.stop("DE")
	f.start("DE")
	wantReject(t, h.send(h.request()), "quota-exceeded", "open_cases", false)

	f.mustAct("DE", h.secondCase(first), op("refuse", "ground", "essential_interests", "reasons", "quota test"))
	if rj := h.send(over); rj != nil {
		t.Fatalf("after a case was refused: %+v", rj)
	}
}

// secondCase returns an open incoming case of DE other than skip's.
func (h *hostile) secondCase(skip *protocol.Envelope) string {
	h.t.Helper()
	var id string
	h.f.nodes[h.to].Store().View(func(tx *store.ReadTx) error {
		cs, err := tx.Cases(0)
		for _, c := range cs {
			if c.ID != skip.CaseID && c.State == string(protocol.StateOpen) {
				id = c.ID
			}
		}
		return err
	})
	if id == "" {
		h.t.Fatal("no second open case")
	}
	return id
}

// Messages per case and stored bytes per UTC day, both retryable and
// naming the quota; the day quota frees when the UTC day turns.
func TestAdmissionCaseAndDayQuotas(t *testing.T) {
	f := newFederationWith(t, 2, limitsOn("DE", func(a *config.AdmissionConfig) {
		a.MessagesPerCase = 3
		a.BytesPerDay = 64 << 10
		a.MaxPayload = map[string]int{"request": 16 << 10, "action": 16 << 10}
	}))
	h := newHostile(t, f, "FR", "DE")

	t.Run("messages per case", func(t *testing.T) {
		req := h.request()
		if rj := h.send(req); rj != nil {
			t.Fatal(rj)
		}
		for i := range 2 {
			if rj := h.send(h.seal(protocol.TypeAction, req.CaseID, []byte(fmt.Sprintf(`{"action":"withdraw","seq":%d}`, i+1)))); rj != nil {
				t.Fatalf("action %d: %+v", i, rj)
			}
		}
		extra := h.seal(protocol.TypeAction, req.CaseID, []byte(`{"action":"withdraw","seq":3}`))
		wantReject(t, h.send(extra), "quota-exceeded", "messages_per_case", false)
		if msg, _ := stored(t, f.nodes["DE"], extra); msg {
			t.Fatal("refused action was stored")
		}
	})

	t.Run("bytes per day", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 15<<10) // an (incomplete) request, flagged but stored
		accepted := 0
		var rj *protocol.Reject
		for range 10 {
			if rj = h.send(h.seal(protocol.TypeRequest, "", big)); rj != nil {
				break
			}
			accepted++
		}
		wantReject(t, rj, "quota-exceeded", "bytes_per_day", false)
		if accepted < 2 || accepted > 4 {
			t.Fatalf("%d requests of 15 KiB accepted under a 64 KiB day quota", accepted)
		}
		f.clock.Advance(24 * time.Hour) // the UTC day turns on every node
		if rj := h.send(h.seal(protocol.TypeRequest, "", big)); rj != nil {
			t.Fatalf("next day: %+v", rj)
		}
	})
}

// A payload over its type's cap is refused for good (before opening when
// the envelope alone shows it, after when only the plaintext does); an
// unknown message type is refused for good and nothing is stored.
func TestAdmissionTooLargeAndUnknownType(t *testing.T) {
	f := newFederationWith(t, 2, limitsOn("DE", func(a *config.AdmissionConfig) {
		a.MaxPayload = map[string]int{"request": 8 << 10, "action": 4 << 10}
	}))
	h := newHostile(t, f, "FR", "DE")
	de := f.nodes["DE"]
	for _, tc := range []struct {
		name string
		env  *protocol.Envelope
		code string
	}{
		{"request far over the cap", h.seal(protocol.TypeRequest, "", bytes.Repeat([]byte("x"), 64<<10)), "too-large"},
		{"request just over the cap", h.seal(protocol.TypeRequest, "", bytes.Repeat([]byte("x"), 8<<10+100)), "too-large"},
		{"action over its own cap", h.seal(protocol.TypeAction, "", bytes.Repeat([]byte("x"), 5<<10)), "too-large"},
		{"unknown type", h.seal("telegram", "", []byte(`{"hello":"world"}`)), "unknown-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantReject(t, h.send(tc.env), tc.code, "", true)
			if msg, cs := stored(t, de, tc.env); msg || cs {
				t.Fatal("refused envelope was stored")
			}
		})
	}
	// Within the cap: accepted.
	if rj := h.send(h.seal(protocol.TypeRequest, "", exampleRequest(t, "DE"))); rj != nil {
		t.Fatalf("request under the cap: %+v", rj)
	}
}

// Local work has its own reserve: with the free space below the peer
// reserve, members' envelopes are refused ("local-reserve", retryable) while
// the node's own operators still submit and act; once there is room the
// member's queued request arrives.
func TestAdmissionLocalReserve(t *testing.T) {
	reserve := int64(1 << 60) // more than any disk has free: every peer write is "nearly full"
	f := newFederationWith(t, 2, func(cc string, cfg *config.Config) {
		if cc == "DE" {
			cfg.Admission.PeerReserveBytes = reserve
		}
	})
	h := newHostile(t, f, "FR", "DE")
	wantReject(t, h.send(h.request()), "local-reserve", "", false)

	queued := f.submit("FR", "DE") // honest traffic: delayed
	mine := f.submit("DE", "FR")   // DE's own operators: still work
	f.waitDelivered("DE", mine.CaseID)
	f.mustAct("DE", mine.CaseID, op("withdraw", "text", "sent in error"))
	f.waitState(mine.CaseID, "withdrawn", "DE", "FR")
	eventually(t, 20*time.Second, "FR's request to be deferred", func() bool {
		return metricValue(f, "DE", `vigil_admission_refusals_total{country="FR",limit="local_reserve"}`) >= 2
	})
	if v, _ := f.caseView("FR", queued.CaseID); v.Messages[0].State != "queued" {
		t.Fatalf("FR's request is %s while DE keeps its reserve", v.Messages[0].State)
	}

	reserve = 0
	f.stop("DE")
	f.start("DE")
	f.waitDelivered("FR", queued.CaseID)
}

// An admin quarantines a member through the API: its envelopes are refused
// ("quarantined", retryable) and its pings too, the quarantine is audited,
// shown in the peers list and survives a restart; once released, the
// member's queued request is delivered.
func TestAdmissionQuarantine(t *testing.T) {
	f := newFederation(t, 2)
	h := newHostile(t, f, "FR", "DE")
	before := h.request()
	if rj := h.send(before); rj != nil {
		t.Fatal(rj)
	}
	if code := f.api("DE", "POST", "/api/v1/peers/FR/quarantine", []byte(`{}`), nil); code != 400 {
		t.Fatalf("quarantine without a reason: HTTP %d, want 400", code)
	}
	if code := f.api("DE", "POST", "/api/v1/peers/XX/quarantine", []byte(`{"reason":"x"}`), nil); code != 404 {
		t.Fatalf("quarantine of a non-member: HTTP %d, want 404", code)
	}
	if code := f.api("DE", "POST", "/api/v1/peers/fr/quarantine", []byte(`{"reason":"flooding since 03:12"}`), nil); code != 200 {
		t.Fatalf("quarantine: HTTP %d", code)
	}
	check := func() {
		t.Helper()
		wantReject(t, h.send(h.request()), "quarantined", "", false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := f.nodes["FR"].Drills().Ping(ctx, "DE"); err == nil {
			t.Fatal("a quarantined member's ping was answered")
		}
		var peers struct {
			Peers []types.PeerView `json:"peers"`
		}
		f.api("DE", "GET", "/api/v1/peers", nil, &peers)
		for _, p := range peers.Peers {
			if p.Country == "FR" && (p.Quarantine == nil || p.Quarantine.Reason != "flooding since 03:12") {
				t.Fatalf("peers list shows FR as %+v", p.Quarantine)
			}
		}
	}
	check()
	queued := f.submit("FR", "DE")
	f.stop("DE")
	f.start("DE")
	newHostile(t, f, "FR", "DE") // wait for the reconnection
	check()
	if msg, _ := stored(t, f.nodes["DE"], before); !msg {
		t.Fatal("what was accepted before the quarantine is gone")
	}
	if v, _ := f.caseView("FR", queued.CaseID); v.Messages[0].State != "queued" {
		t.Fatalf("FR's request is %s during the quarantine", v.Messages[0].State)
	}

	if code := f.api("DE", "DELETE", "/api/v1/peers/FR/quarantine", nil, nil); code != 200 {
		t.Fatalf("release: HTTP %d", code)
	}
	if code := f.api("DE", "DELETE", "/api/v1/peers/FR/quarantine", nil, nil); code != 404 {
		t.Fatalf("second release: HTTP %d, want 404", code)
	}
	f.waitDelivered("FR", queued.CaseID)
	var actions []string
	f.nodes["DE"].Store().View(func(tx *store.ReadTx) error {
		recs, err := tx.Audit(0, 0)
		for _, r := range recs {
			if strings.HasPrefix(r.Action, "peer.") {
				actions = append(actions, r.Action+" "+r.Detail)
			}
		}
		return err
	})
	if len(actions) != 2 || actions[0] != "peer.quarantined FR: flooding since 03:12" || actions[1] != "peer.released FR" {
		t.Fatalf("audit: %q", actions)
	}
}

// A member flooding drill pings gets at most the bucket's worth of signed
// pongs; the rest are refused before any signature is checked or made.
func TestAdmissionDrillFlood(t *testing.T) {
	const burst = 3
	f := newFederationWith(t, 2, limitsOn("DE", func(a *config.AdmissionConfig) {
		a.Drill = config.RateConfig{PerSecond: 0.001, Burst: burst}
	}))
	newHostile(t, f, "FR", "DE")
	pongs := 0
	for range 12 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := f.nodes["FR"].Drills().Ping(ctx, "DE"); err == nil {
			pongs++
		}
		cancel()
	}
	if pongs != burst {
		t.Fatalf("%d pongs for 12 pings, want %d", pongs, burst)
	}
	if got := metricValue(f, "DE", `vigil_admission_refusals_total{country="FR",limit="drill_rate"}`); got != 12-burst {
		t.Fatalf("drill refusals metric %v, want %d", got, 12-burst)
	}
	// DE's own pings to FR are not limited by FR's budget at DE.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.nodes["DE"].Drills().Ping(ctx, "FR"); err != nil {
		t.Fatalf("DE's ping to FR: %v", err)
	}
}
