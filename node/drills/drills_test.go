package drills_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// The tests run real libp2p hosts on 127.0.0.1 and real stores; the
// roster, the mesh's bookkeeping, admission and submission (other parts
// of the node) are small implementations of the package's interfaces.

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock starts at t0 and moves only when advanced; nothing sleeps for a
// drill deadline.
type clock func() time.Duration

func (c clock) Now() time.Time { return t0.Add(c()) }

// newClock returns the clock and the function that moves it.
func newClock() (clock, func(time.Duration)) {
	var offset atomic.Int64
	return func() time.Duration { return time.Duration(offset.Load()) }, func(d time.Duration) { offset.Add(int64(d)) }
}

// roster is a fixed roster.
type roster struct{ r *protocol.Roster }

func (r roster) Current() *protocol.Roster { return r.r }

func (r roster) IsMember(id peer.ID) bool {
	for _, m := range r.r.Members {
		if m.PeerID == id.String() {
			return true
		}
	}
	return false
}

func (r roster) ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool) {
	for _, m := range r.r.Members {
		if m.Country == cc {
			id, err := m.ID()
			return id, m, err == nil
		}
	}
	return "", protocol.Member{}, false
}

// mesh puts roster addresses in the host's peerstore and records round
// trips.
type mesh struct {
	h       host.Host
	mu      sync.Mutex
	reached map[peer.ID]time.Duration
}

func newMesh(h host.Host) *mesh { return &mesh{h: h, reached: map[peer.ID]time.Duration{}} }

func (m *mesh) AddMemberAddrs(mem protocol.Member) {
	id, _ := mem.ID()
	addrs, _ := mem.Multiaddrs()
	m.h.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
}

func (m *mesh) Answered(id peer.ID, rtt time.Duration, _ time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reached[id] = rtt
}

// admission refuses the members listed in refuse and remembers the keys
// of the refusals it was asked to log.
type admission struct {
	mu       sync.Mutex
	refuse   map[peer.ID]bool
	refusals []string
}

func newAdmission() *admission { return &admission{refuse: map[peer.ID]bool{}} }

func (a *admission) set(p peer.ID, refuse bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refuse[p] = refuse
}

func (a *admission) AdmitDrill(remote peer.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.refuse[remote]
}

func (a *admission) LogRefusal(log *zap.Logger, key, msg string, fields ...zap.Field) {
	a.mu.Lock()
	a.refusals = append(a.refusals, key)
	a.mu.Unlock()
	log.Warn(msg, fields...)
}

func (a *admission) logged() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.refusals...)
}

// submitter stores each drill request as an outgoing case, as the cases
// part does, and remembers the documents.
type submitter struct {
	st    *store.Store
	now   func() time.Time
	mu    sync.Mutex
	docs  map[string][]byte // case ID → request
	count int
}

func (s *submitter) SubmitDrill(ctx context.Context, _ string, doc []byte) (string, error) {
	req, err := protocol.ParseRequest(doc)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.count++
	id := fmt.Sprintf("drillcase%023d", s.count)
	s.docs[id] = doc
	s.mu.Unlock()
	now := s.now().UTC()
	return id, s.st.Update(ctx, func(tx *store.Tx) error {
		return tx.PutCase(&store.Case{ID: id, Direction: store.Outgoing, Kind: string(protocol.KindAssistance),
			Country: req.Recipient(), State: string(protocol.StateOpen), CreatedAt: now, UpdatedAt: now})
	})
}

func (s *submitter) doc(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[id]
}

type member struct {
	country protocol.CountryCode
	key     crypto.PrivKey
	host    host.Host
	st      *store.Store
	mesh    *mesh
	admit   *admission
	submit  *submitter
	gauges  drills.Gauges
	svc     *drills.Service
}

func newGauges() drills.Gauges {
	return drills.Gauges{
		RTT:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rtt"}, []string{"country"}),
		Reachable: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "reachable"}, []string{"country"}),
		Ack:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ack"}, []string{"country"}),
		Misses:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "misses"}, []string{"country"}),
	}
}

var drillConfig = config.DrillConfig{AckDeadline: 30 * time.Minute} // no schedule: tests run drills on demand

// newHost starts a libp2p host on 127.0.0.1 with a fresh identity.
func newHost(t *testing.T) (host.Host, crypto.PrivKey) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, key
}

// network starts one host per country and a drill service on each, all
// on one roster, answering pings. It returns the members by country and
// the roster.
func network(t *testing.T, c clock, countries ...protocol.CountryCode) (map[protocol.CountryCode]*member, *protocol.Roster) {
	t.Helper()
	r := &protocol.Roster{Serial: 1, ValidUntil: c.Now().Add(365 * 24 * time.Hour)}
	members := map[protocol.CountryCode]*member{}
	for _, cc := range countries {
		h, key := newHost(t)
		var addrs []string
		for _, a := range h.Addrs() {
			addrs = append(addrs, a.String())
		}
		r.Members = append(r.Members, protocol.Member{Country: cc, Organisation: "Police " + string(cc), PeerID: h.ID().String(),
			Addrs: addrs, FallbackPhone: "+33 1 00 00 00 00", FallbackEmail: "247@" + strings.ToLower(string(cc)) + ".example",
			OfficeHours: "24/7", TimeZone: "Europe/Paris"})
		st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		members[cc] = &member{country: cc, key: key, host: h, st: st, mesh: newMesh(h), admit: newAdmission(),
			submit: &submitter{st: st, now: c.Now, docs: map[string][]byte{}}, gauges: newGauges()}
	}
	for _, m := range members {
		m.svc = drills.New(drills.Options{Host: m.host, Key: m.key, Country: m.country, Drills: drillConfig,
			CheckInterval: time.Hour, Now: c.Now, Store: m.st, Roster: roster{r}, Admission: m.admit, Peers: m.mesh,
			Submit: m.submit, Gauges: m.gauges, Log: zap.NewNop()})
		hs := &transport.Handlers{}
		m.svc.Register(hs)
		t.Cleanup(hs.CloseAndWait)
	}
	return members, r
}

// samples reads c's samples by their country label.
func samples(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "country" {
					out[l.GetValue()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// value reads the sample of c labelled country=cc (0 if none).
func value(t *testing.T, c prometheus.Collector, cc string) float64 {
	t.Helper()
	return samples(t, c)[cc]
}

func results(run *store.DrillRun) map[string]store.DrillResult {
	out := map[string]store.DrillResult{}
	for _, r := range run.Results {
		out[r.Country] = r
	}
	return out
}

// restart builds a new service on m's host and store with fresh gauges
// and the given roster, as a restarted node would, and runs it with a
// context already cancelled: Run restores the gauges before its loop and
// returns at once. It returns the new gauges.
func restart(t *testing.T, m *member, c clock, r *protocol.Roster) drills.Gauges {
	t.Helper()
	g := newGauges()
	svc := drills.New(drills.Options{Host: m.host, Key: m.key, Country: m.country, Drills: drillConfig,
		CheckInterval: time.Hour, Now: c.Now, Store: m.st, Roster: roster{r}, Admission: newAdmission(),
		Peers: newMesh(m.host), Submit: m.submit, Gauges: g, Log: zap.NewNop()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return on a cancelled context")
	}
	return g
}

// TestReachability: every member answers with a verified pong; a member
// over its drill rate is refused and counted as failing, consecutively,
// until it answers again; runs are stored, audited and measured, and a
// restarted node's gauges come back from the stored runs.
func TestReachability(t *testing.T) {
	c, advance := newClock()
	ms, _ := network(t, c, "FR", "DE", "NL")
	fr, ctx := ms["FR"], context.Background()

	rtt, err := fr.svc.Ping(ctx, "DE")
	if err != nil || rtt <= 0 {
		t.Fatalf("ping DE: %v %v", rtt, err)
	}
	fr.mesh.mu.Lock()
	_, reached := fr.mesh.reached[ms["DE"].host.ID()]
	fr.mesh.mu.Unlock()
	if !reached {
		t.Fatal("the mesh was not told DE's round trip")
	}
	if _, err := fr.svc.Ping(ctx, "XX"); err == nil {
		t.Fatal("ping to a country not in the roster succeeded")
	}

	// Runs are ordered by their start on the clock: a minute apart.
	advance(time.Minute)
	run, err := fr.svc.RunReachabilityDrill(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	res := results(run)
	if len(res) != 2 || !res["DE"].Reachable || !res["NL"].Reachable || res["NL"].RTTMillis <= 0 || res["DE"].PeerID != ms["DE"].host.ID().String() {
		t.Fatalf("run %+v", run.Results)
	}
	if v := value(t, fr.gauges.Reachable, "NL"); v != 1 {
		t.Fatalf("reachable gauge for NL %v", v)
	}
	if v := value(t, fr.gauges.RTT, "NL"); v <= 0 {
		t.Fatalf("RTT gauge for NL %v", v)
	}

	// NL refuses FR's pings (over its drill rate) twice, then answers.
	ms["NL"].admit.set(fr.host.ID(), true)
	for want := 1; want <= 2; want++ {
		advance(time.Minute)
		run, err = fr.svc.RunReachabilityDrill(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		if nl := results(run)["NL"]; nl.Reachable || nl.Error == "" || nl.Failures != want {
			t.Fatalf("refused run %d: NL %+v", want, nl)
		}
		if de := results(run)["DE"]; !de.Reachable || de.Failures != 0 {
			t.Fatalf("refused run %d: DE %+v", want, de)
		}
	}
	if v := value(t, fr.gauges.Reachable, "NL"); v != 0 {
		t.Fatalf("reachable gauge for a refusing NL %v", v)
	}
	if _, ok := samples(t, fr.gauges.RTT)["NL"]; ok {
		t.Fatal("RTT gauge kept for a refusing NL")
	}
	ms["NL"].admit.set(fr.host.ID(), false)
	advance(time.Minute)
	run, err = fr.svc.RunReachabilityDrill(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if nl := results(run)["NL"]; !nl.Reachable || nl.Failures != 0 {
		t.Fatalf("NL back: %+v", nl)
	}

	rep, err := fr.svc.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Countries) != 2 || rep.LastRun == nil || rep.LastRun.ID != run.ID {
		t.Fatalf("report %+v", rep)
	}
	for _, row := range rep.Countries {
		if row.Reachable == nil || !*row.Reachable || row.PingFailures != 0 || row.RTTMillis == nil {
			t.Fatalf("report row %+v", row)
		}
	}
	var stored, audited int
	if err := fr.st.View(func(tx *store.ReadTx) error {
		runs, err := tx.DrillRuns(store.DrillReachability)
		if err != nil {
			return err
		}
		stored = len(runs)
		all, err := tx.Audit(0, 0)
		for _, r := range all {
			if r.Action == "drill.reachability" && r.Actor == "test" {
				audited++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 4 || audited != 4 {
		t.Fatalf("%d reachability drills stored and %d audited, want 4", stored, audited)
	}

	// A restarted node's gauges come back from the stored runs.
	restarted := restart(t, fr, c, &protocol.Roster{Members: []protocol.Member{{Country: "FR"}, {Country: "NL"}}})
	if v := value(t, restarted.Reachable, "NL"); v != 1 {
		t.Fatalf("restored reachable gauge for NL %v", v)
	}
	if v := value(t, restarted.RTT, "NL"); v <= 0 {
		t.Fatalf("restored RTT gauge for NL %v", v)
	}
	if _, ok := samples(t, restarted.Reachable)["DE"]; ok {
		t.Fatal("gauge restored for DE, no longer a member")
	}
}

// TestPingRefused: a host not in the roster gets no pong, nor does a
// member whose ping is signed by a key other than its transport identity.
func TestPingRefused(t *testing.T) {
	c, _ := newClock()
	ms, _ := network(t, c, "FR", "DE")
	de := ms["DE"]
	onlyDE := &protocol.Roster{Members: []protocol.Member{{Country: "DE", PeerID: de.host.ID().String(), Addrs: []string{de.host.Addrs()[0].String()}}}}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}

	// The outsider runs a drill service of its own, with DE in its roster.
	outsider, outsiderKey := newHost(t)
	svc := drills.New(drills.Options{Host: outsider, Key: outsiderKey, Country: "XX", Drills: drillConfig,
		CheckInterval: time.Hour, Now: c.Now, Roster: roster{onlyDE}, Admission: newAdmission(),
		Peers: newMesh(outsider), Log: zap.NewNop()})
	if _, err := svc.Ping(context.Background(), "DE"); err == nil {
		t.Fatal("DE answered a ping from outside the roster")
	}
	if got := de.admit.logged(); len(got) != 0 {
		t.Fatalf("an outsider's ping got as far as its signature check: %v", got)
	}

	// A ping signed by a key other than the transport identity is refused
	// at the signature check, and the refusal logged.
	fr := ms["FR"]
	svc = drills.New(drills.Options{Host: fr.host, Key: key, Country: "FR", Drills: drillConfig,
		CheckInterval: time.Hour, Now: c.Now, Roster: roster{onlyDE}, Admission: newAdmission(),
		Peers: newMesh(fr.host), Log: zap.NewNop()})
	if _, err := svc.Ping(context.Background(), "DE"); err == nil {
		t.Fatal("DE answered a ping not signed by the member's identity")
	}
	if got := de.admit.logged(); len(got) != 1 || got[0] != fr.host.ID().String()+"/bad-ping" {
		t.Fatalf("refusals logged %v, want FR's bad ping", got)
	}
	// FR's own key still gets an answer on the same connection.
	if _, err := fr.svc.Ping(context.Background(), "DE"); err != nil {
		t.Fatalf("FR's properly signed ping: %v", err)
	}
}

// TestResponseDrill: drill requests go through the submitter, marked as
// drills; on a fake clock the acknowledged member's delay is recorded and
// the silent one is missed once, past the deadline; a restarted node
// restores the acknowledgement gauge.
func TestResponseDrill(t *testing.T) {
	c, advance := newClock()
	ms, r := network(t, c, "FR", "DE", "NL")
	fr, ctx := ms["FR"], context.Background()

	var verr *protocol.ValidationError
	if _, err := fr.svc.RunResponseDrill(ctx, "alice", "", []string{"XX", "FR"}); err == nil || !errors.As(err, &verr) || len(verr.Fields) != 2 {
		t.Fatalf("drill to an unknown and the own country: %v", err)
	}
	run, err := fr.svc.RunResponseDrill(ctx, "alice", "Duty officer J. Doe", []string{"nl", "DE", "NL"})
	if err != nil {
		t.Fatal(err)
	}
	if run.Reference != "DRILL-2026-03-02-1" || !run.DeadlineAt.Equal(c.Now().Add(30*time.Minute)) || len(run.Results) != 2 {
		t.Fatalf("run %+v", run)
	}
	res := results(run)
	for _, cc := range []string{"DE", "NL"} {
		doc := fr.submit.doc(res[cc].CaseID)
		req, err := protocol.ParseRequest(doc)
		if err != nil || req.Recipient() != cc || !strings.Contains(string(doc), `"drill":true`) || !strings.Contains(string(doc), "J. Doe") {
			t.Fatalf("%s drill request %s (%v)", cc, doc, err)
		}
		if res[cc].PeerID != ms[protocol.CountryCode(cc)].host.ID().String() {
			t.Fatalf("%s result %+v", cc, res[cc])
		}
	}
	var auditedSend int
	if err := fr.st.View(func(tx *store.ReadTx) error {
		all, err := tx.Audit(0, 0)
		for _, a := range all {
			if a.Action == "drill.response" && a.Actor == "alice" && strings.Contains(a.Detail, "sent to 2 of 2") {
				auditedSend++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if auditedSend != 1 {
		t.Fatalf("%d response drills audited, want 1", auditedSend)
	}

	// DE acknowledges after 10 minutes.
	advance(10 * time.Minute)
	if err := fr.st.Update(ctx, func(tx *store.Tx) error {
		cs, err := tx.Case(res["DE"].CaseID)
		if err != nil {
			return err
		}
		cs.AcknowledgedAt = c.Now()
		return tx.PutCase(cs)
	}); err != nil {
		t.Fatal(err)
	}
	if err := fr.svc.CheckDrills(ctx); err != nil {
		t.Fatal(err)
	}
	if v := value(t, fr.gauges.Ack, "DE"); v != 600 {
		t.Fatalf("ack gauge for DE %v, want 600", v)
	}
	if v := len(samples(t, fr.gauges.Misses)); v != 0 {
		t.Fatalf("%d misses counted before the deadline", v)
	}

	// NL stays silent past the deadline; checking twice counts it once.
	advance(21 * time.Minute)
	for range 2 {
		if err := fr.svc.CheckDrills(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v := value(t, fr.gauges.Misses, "NL"); v != 1 {
		t.Fatalf("misses for NL %v, want 1", v)
	}
	var auditedMiss int
	if err := fr.st.View(func(tx *store.ReadTx) error {
		all, err := tx.Audit(0, 0)
		for _, a := range all {
			if a.Action == "drill.missed" {
				auditedMiss++
				if a.CaseID != res["NL"].CaseID {
					t.Errorf("miss audited for case %s, want NL's %s", a.CaseID, res["NL"].CaseID)
				}
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if auditedMiss != 1 {
		t.Fatalf("%d misses audited, want 1", auditedMiss)
	}
	rep, err := fr.svc.Report()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]drills.Country{}
	for _, r := range rep.Countries {
		rows[r.Country] = r
	}
	if de := rows["DE"]; de.DrillsSent != 1 || de.Acknowledged != 1 || de.AckSeconds == nil || *de.AckSeconds != 600 ||
		de.AckMedianSeconds == nil || de.Misses != 0 || de.Pending != 0 {
		t.Fatalf("report for DE %+v", de)
	}
	if nl := rows["NL"]; nl.DrillsSent != 1 || nl.Misses != 1 || nl.Pending != 0 || nl.AckSeconds != nil {
		t.Fatalf("report for NL %+v", nl)
	}

	// A restarted node's acknowledgement gauge comes back from the store.
	restarted := restart(t, fr, c, r)
	if v := value(t, restarted.Ack, "DE"); v != 600 {
		t.Fatalf("restored ack gauge for DE %v, want 600", v)
	}
}

// TestRunStopsWithContext: the service's loop runs scheduled
// reachability drills (stored under the scheduler's name) and returns
// when its context ends.
func TestRunStopsWithContext(t *testing.T) {
	c, _ := newClock()
	ms, r := network(t, c, "FR", "DE")
	fr := ms["FR"]
	svc := drills.New(drills.Options{Host: fr.host, Key: fr.key, Country: fr.country,
		Drills:        config.DrillConfig{Interval: 10 * time.Millisecond, AckDeadline: time.Hour},
		CheckInterval: 10 * time.Millisecond, Now: c.Now, Store: fr.st, Roster: roster{r}, Admission: fr.admit,
		Peers: fr.mesh, Submit: fr.submit, Gauges: fr.gauges, Log: zap.NewNop()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()

	// Wait (with a generous guard) for a scheduled run to be stored.
	guard := time.After(60 * time.Second)
	for {
		var run *store.DrillRun
		if err := fr.st.View(func(tx *store.ReadTx) error {
			var err error
			run, err = tx.LatestDrillRun(store.DrillReachability)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if run != nil {
			if run.Actor != "node:scheduler" || !results(run)["DE"].Reachable {
				t.Fatalf("scheduled run %+v", run)
			}
			break
		}
		select {
		case <-done:
			t.Fatal("Run returned before its context ended")
		case <-guard:
			t.Fatal("no scheduled reachability drill stored")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
