// Package drills tests the network the way an incident would use it.
//
// A reachability drill sends every roster member a signed Ping over
// the drill protocol (ID) and waits for its signed Pong: all members in parallel, on
// the warm connections the connector keeps (dialling those that are not
// connected), each with its own timeout. It runs on a schedule
// (drills.interval) and on demand.
//
// A human-response drill sends members a clearly marked test request (an
// assistance query with drill: true) through the normal submission path.
// A human at the receiving node must acknowledge it; the sender records
// the time to acknowledgement per country, or a miss when none came within
// drills.ack_deadline. CheckDrills resolves those outcomes.

package drills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Roster is the roster in force, as drills read it.
type Roster interface {
	Current() *protocol.Roster
	IsMember(peer.ID) bool
	ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool)
}

// Admission decides whether a member may make this node answer a ping now,
// and samples refusal log lines.
type Admission interface {
	AdmitDrill(peer.ID) bool
	LogRefusal(log *zap.Logger, key, msg string, fields ...zap.Field)
}

// Peers is the mesh's view of members: where to dial them, and what a
// verified pong says about them.
type Peers interface {
	AddMemberAddrs(protocol.Member)
	Answered(id peer.ID, rtt time.Duration, at time.Time)
}

// Submitter sends a drill request through the normal submission path and
// returns its case ID.
type Submitter interface {
	SubmitDrill(ctx context.Context, actor string, doc []byte) (caseID string, err error)
}

// Gauges are the drill metrics, per member country.
type Gauges struct {
	Reachable, RTT, Ack *prometheus.GaugeVec
	Misses              *prometheus.CounterVec
}

// Options is what a Service needs.
type Options struct {
	Host    host.Host
	Key     crypto.PrivKey
	Country protocol.CountryCode // this node's
	Drills  config.DrillConfig
	// CheckInterval is how often response drills are resolved.
	CheckInterval time.Duration
	Now           func() time.Time
	Store         *store.Store
	Roster        Roster
	Admission     Admission
	Peers         Peers
	Submit        Submitter
	Gauges        Gauges
	Log           *zap.Logger
}

// Service runs drills and answers other members' pings.
type Service struct {
	host          host.Host
	key           crypto.PrivKey
	self          peer.ID
	country       protocol.CountryCode
	cfg           config.DrillConfig
	checkInterval time.Duration
	now           func() time.Time
	store         *store.Store
	roster        Roster
	admit         Admission
	peers         Peers
	submit        Submitter
	gauges        Gauges
	log           *zap.Logger

	// reach serialises reachability drills: an on-demand run while the
	// scheduled one is in flight waits for it rather than doubling the load.
	reach sync.Mutex
}

// New builds the service; Register starts answering pings, Run runs the
// scheduled drills.
func New(o Options) *Service {
	return &Service{host: o.Host, key: o.Key, self: o.Host.ID(), country: o.Country, cfg: o.Drills,
		checkInterval: o.CheckInterval, now: o.Now, store: o.Store, roster: o.Roster, admit: o.Admission,
		peers: o.Peers, submit: o.Submit, gauges: o.Gauges, log: o.Log}
}

// Register answers drill pings on h behind the shared handler preamble.
func (d *Service) Register(handlers *transport.Handlers) {
	handlers.Handle(d.host, ID, ServiceName, d.handle)
}

const (
	// ID is the drill protocol: one Ping and its Pong per stream.
	ID = "/vigil/drill/1.0.0"
	// ServiceName tags drill streams in the resource manager.
	ServiceName = "vigil.drill"
	// drillPingTimeout bounds one ping: dial, stream, ping and pong.
	drillPingTimeout = 5 * time.Second
	// drillConcurrency caps pings (and drill submissions) in flight.
	drillConcurrency = 64
	// drillSubmitConcurrency caps drill requests being stored at once;
	// the store batches them into shared commits.
	drillSubmitConcurrency = 16
)

// Run runs reachability drills every drills.interval and resolves
// response drills every deadlines.check_interval.
func (d *Service) Run(ctx context.Context) {
	log := d.log
	check := time.NewTicker(d.checkInterval)
	defer check.Stop()
	var runs <-chan time.Time
	if iv := d.cfg.Interval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		runs = t.C
	}
	d.restoreDrillMetrics()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			if err := d.CheckDrills(ctx); err != nil && ctx.Err() == nil {
				log.Error("drill check failed", zap.Error(err))
			}
		case <-runs:
			run, err := d.RunReachabilityDrill(ctx, "node:scheduler")
			if err != nil {
				if ctx.Err() == nil {
					log.Error("reachability drill failed", zap.Error(err))
				}
				continue
			}
			reached := 0
			for _, r := range run.Results {
				if r.Reachable {
					reached++
				}
			}
			lvl := zap.InfoLevel
			if reached < len(run.Results) {
				lvl = zap.WarnLevel
			}
			log.Log(lvl, "reachability drill", zap.Int("reached", reached), zap.Int("members", len(run.Results)),
				zap.Duration("took", run.FinishedAt.Sub(run.StartedAt)))
		}
	}
}

// handleDrill answers one signed ping with a signed pong.
func (d *Service) handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !d.roster.IsMember(remote) || !d.admit.AdmitDrill(remote) { // per-member rate
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(drillPingTimeout))
	t, body, release, err := transport.ReadFrame(s, protocol.MaxDrillFrame)
	if err != nil {
		s.Reset()
		return
	}
	defer release()
	if t != protocol.FramePing {
		s.Reset()
		return
	}
	ping, err := protocol.ParsePing(body)
	if err == nil {
		err = ping.Verify(remote)
	}
	if err != nil {
		d.admit.LogRefusal(d.log, remote.String()+"/bad-ping", "refused drill ping", zap.Stringer("peer", remote), zap.Error(err))
		s.Reset()
		return
	}
	pong, err := protocol.SignPong(d.key, ping, d.now())
	if err != nil {
		s.Reset()
		return
	}
	if err := protocol.WriteFrame(s, protocol.FramePong, pong.Raw); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// Ping sends the member of the given country one drill ping and returns
// the round trip from sending it to holding its verified pong (the figure
// a drill run stores). It is the drill's own path; benchmarks time it.
func (d *Service) Ping(ctx context.Context, country string) (time.Duration, error) {
	id, m, ok := d.roster.ByCountry(protocol.CountryCode(country))
	if !ok {
		return 0, fmt.Errorf("ping %s: not a roster member", country)
	}
	return d.pingMember(ctx, m, id)
}

// pingMember sends m one signed ping and returns the time from sending it
// to holding m's verified pong. A member that is not connected is dialled
// first (the drill bypasses the connector's dial backoff); that time is not
// part of the round trip.
func (d *Service) pingMember(ctx context.Context, m protocol.Member, id peer.ID) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, drillPingTimeout)
	defer cancel()
	if d.host.Network().Connectedness(id) != network.Connected {
		d.peers.AddMemberAddrs(m)
		addrs, _ := m.Multiaddrs()
		if err := d.host.Connect(network.WithForceDirectDial(cctx, "drill"), peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
			return 0, fmt.Errorf("dial: %w", err)
		}
	}
	s, err := d.host.NewStream(cctx, id, ID)
	if err != nil {
		return 0, fmt.Errorf("open drill stream: %w", err)
	}
	if err := s.Scope().SetService(ServiceName); err != nil {
		s.Reset()
		return 0, fmt.Errorf("drill stream: %w", err)
	}
	if dl, ok := cctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	ping, err := protocol.NewPing(d.key, d.now())
	if err != nil {
		s.Reset()
		return 0, err
	}
	start := time.Now()
	if err := protocol.WriteFrame(s, protocol.FramePing, ping.Raw); err != nil {
		s.Reset()
		return 0, fmt.Errorf("send ping: %w", err)
	}
	t, body, release, err := transport.ReadFrame(s, protocol.MaxDrillFrame)
	if err != nil {
		s.Reset()
		return 0, fmt.Errorf("read pong: %w", err)
	}
	defer release()
	if t != protocol.FramePong {
		s.Reset()
		return 0, fmt.Errorf("%w: frame type %d instead of a pong", protocol.ErrMalformed, t)
	}
	pong, err := protocol.ParsePong(body)
	if err == nil {
		err = pong.Verify(ping, id)
	}
	if err != nil {
		s.Reset()
		return 0, fmt.Errorf("pong refused: %w", err)
	}
	rtt := time.Since(start)
	s.Close()
	d.peers.Answered(id, rtt, d.now())
	return rtt, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RunReachabilityDrill pings every roster member in parallel, stores the
// run with each member's round trip or error, and returns it.
func (d *Service) RunReachabilityDrill(ctx context.Context, actor string) (*store.DrillRun, error) {
	d.reach.Lock()
	defer d.reach.Unlock()
	r := d.roster.Current()
	type target struct {
		m  protocol.Member
		id peer.ID
	}
	var targets []target
	for _, m := range r.Members {
		if id, err := m.ID(); err == nil && id != d.self {
			targets = append(targets, target{m, id})
		}
	}
	start := d.now().UTC()
	run := &store.DrillRun{ID: protocol.NewID(start), Kind: store.DrillReachability, Actor: actor, StartedAt: start,
		Results: make([]store.DrillResult, len(targets))}
	sem := make(chan struct{}, drillConcurrency)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := store.DrillResult{Country: string(tg.m.Country), PeerID: tg.m.PeerID}
			if rtt, err := d.pingMember(ctx, tg.m, tg.id); err != nil {
				res.Error = err.Error()
			} else {
				res.Reachable, res.RTTMillis = true, millis(rtt)
			}
			run.Results[i] = res
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err // the node is stopping: these failures are ours
	}
	run.FinishedAt = d.now().UTC()
	sort.Slice(run.Results, func(i, j int) bool { return run.Results[i].Country < run.Results[j].Country })
	reached := 0
	for _, res := range run.Results {
		if res.Reachable {
			reached++
		}
	}
	err := d.store.Update(ctx, func(tx *store.Tx) error {
		prev := map[string]int{}
		last, err := tx.LatestDrillRun(store.DrillReachability)
		switch {
		case err == nil:
			for _, res := range last.Results {
				prev[res.Country] = res.Failures
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		for i := range run.Results {
			res := &run.Results[i]
			if res.Reachable {
				res.Failures = 0
			} else {
				res.Failures = prev[res.Country] + 1
			}
		}
		if err := tx.PutDrillRun(run); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: run.FinishedAt, Actor: actor, Action: "drill.reachability",
			Detail: fmt.Sprintf("run=%s reached %d of %d members in %s", run.ID, reached, len(run.Results),
				run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))})
	})
	if err != nil {
		return nil, fmt.Errorf("store drill run: %w", err)
	}
	for _, res := range run.Results {
		d.setPingMetrics(res)
	}
	return run, nil
}

func (d *Service) setPingMetrics(res store.DrillResult) {
	if res.Reachable {
		d.gauges.Reachable.WithLabelValues(res.Country).Set(1)
		d.gauges.RTT.WithLabelValues(res.Country).Set(res.RTTMillis / 1000)
	} else {
		d.gauges.Reachable.WithLabelValues(res.Country).Set(0)
		d.gauges.RTT.DeleteLabelValues(res.Country)
	}
}

// restoreDrillMetrics sets the drill gauges from the stored runs, so a
// restarted node reports what it last measured.
func (d *Service) restoreDrillMetrics() {
	rep, err := d.Report()
	if err != nil {
		return
	}
	for _, c := range rep.Countries {
		if c.Reachable != nil {
			res := store.DrillResult{Country: c.Country, Reachable: *c.Reachable}
			if c.RTTMillis != nil {
				res.RTTMillis = *c.RTTMillis
			}
			d.setPingMetrics(res)
		}
		if c.AckSeconds != nil {
			d.gauges.Ack.WithLabelValues(c.Country).Set(*c.AckSeconds)
		}
	}
}

// drillRequest builds the test request a response drill sends to cc.
func (d *Service) drillRequest(cc, reference, operator string, now, deadline time.Time) ([]byte, error) {
	_, self, ok := d.roster.ByCountry(d.country)
	if !ok {
		return nil, fmt.Errorf("this node (%s) is not in the roster", d.country)
	}
	if operator == "" {
		operator = "24/7 duty officer"
	}
	q := protocol.AssistanceQuery{Kind: protocol.KindAssistance, To: cc, Date: now.Format(time.DateOnly), Reference: reference,
		RequestingAuthority: protocol.Contact{Organisation: self.Organisation, Person: operator, Phone: self.FallbackPhone,
			Email: self.FallbackEmail, OfficeHours: self.OfficeHours, TimeZone: self.TimeZone},
		Topic:    "other",
		Question: "DRILL: please acknowledge this test request. It is a network drill, not a real request: acknowledge it, nothing else is asked.",
		Drill:    true, AcknowledgeBy: deadline.UTC().Format(time.RFC3339),
		Safeguards: protocol.Safeguards{LegalBasis: "Network drill under the Vigil operating procedures; no investigation",
			Proportionality: "Test message only; it contains no personal data", HandlingCode: "H0"}}
	return json.Marshal(&q)
}

// RunResponseDrill sends a drill request to each of countries (every other
// member if empty) and stores the run; CheckDrills and Report follow
// the acknowledgements. Unknown countries are a *protocol.ValidationError.
func (d *Service) RunResponseDrill(ctx context.Context, actor, operator string, countries []string) (*store.DrillRun, error) {
	r := d.roster.Current()
	var fields []protocol.FieldError
	seen := map[string]bool{}
	var targets []string
	for i, cc := range countries {
		cc = strings.ToUpper(strings.TrimSpace(cc))
		_, _, ok := d.roster.ByCountry(protocol.CountryCode(cc))
		switch {
		case protocol.CountryCode(cc) == d.country:
			fields = append(fields, protocol.FieldError{Field: fmt.Sprintf("countries[%d]", i), Message: "is this node's own country"})
		case !ok:
			fields = append(fields, protocol.FieldError{Field: fmt.Sprintf("countries[%d]", i), Message: fmt.Sprintf("%q is not a member of the network roster", cc)})
		case !seen[cc]:
			seen[cc] = true
			targets = append(targets, cc)
		}
	}
	if len(fields) > 0 {
		return nil, &protocol.ValidationError{Fields: fields}
	}
	if len(countries) == 0 {
		for _, m := range r.Members {
			if m.Country != d.country {
				targets = append(targets, string(m.Country))
			}
		}
	}
	if len(targets) == 0 {
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "countries", Message: "the roster has no other member to drill"}}}
	}
	sort.Strings(targets)
	now := d.now().UTC()
	var num uint64
	if err := d.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		num, err = tx.NextDrillNumber()
		return err
	}); err != nil {
		return nil, fmt.Errorf("number drill: %w", err)
	}
	ref := fmt.Sprintf("DRILL-%s-%d", now.Format(time.DateOnly), num)
	// The request must be valid before anything is sent; a node whose
	// roster entry lacks contact details cannot send one.
	doc, err := d.drillRequest(targets[0], ref, operator, now, now.Add(d.cfg.AckDeadline))
	if err != nil {
		return nil, err
	}
	if _, err := protocol.ParseRequest(doc); err != nil {
		return nil, fmt.Errorf("drill request built from this node's roster entry is invalid: %w", err)
	}
	run := &store.DrillRun{ID: protocol.NewID(now), Kind: store.DrillResponse, Actor: actor, StartedAt: now,
		Reference: ref, DeadlineAt: now.Add(d.cfg.AckDeadline), Results: make([]store.DrillResult, len(targets))}
	sem := make(chan struct{}, drillSubmitConcurrency)
	var wg sync.WaitGroup
	for i, cc := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := store.DrillResult{Country: cc}
			if pid, _, ok := d.roster.ByCountry(protocol.CountryCode(cc)); ok {
				res.PeerID = pid.String()
			}
			doc, err := d.drillRequest(cc, ref, operator, now, run.DeadlineAt)
			if err == nil {
				res.CaseID, err = d.submit.SubmitDrill(ctx, actor, doc)
			}
			if err != nil {
				res.Error = err.Error()
			}
			run.Results[i] = res
		}()
	}
	wg.Wait()
	run.FinishedAt = d.now().UTC()
	sent := 0
	for _, res := range run.Results {
		if res.CaseID != "" {
			sent++
		}
	}
	err = d.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.PutDrillRun(run); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: run.FinishedAt, Actor: actor, Action: "drill.response",
			Detail: fmt.Sprintf("run=%s reference=%s sent to %d of %d members, acknowledgement due %s", run.ID, ref, sent,
				len(run.Results), run.DeadlineAt.Format(time.RFC3339))})
	})
	if err != nil {
		return nil, fmt.Errorf("store drill run: %w", err)
	}
	return run, nil
}

// resolveDrillResult updates a pending response-drill result from its case
// at now: acknowledged (a miss too if after the deadline), missed, or still
// pending. It reports what changed.
func resolveDrillResult(res *store.DrillResult, c *store.Case, deadline, now time.Time) (acked, missed bool) {
	if !c.AcknowledgedAt.IsZero() {
		res.Reachable, res.AcknowledgedAt = true, c.AcknowledgedAt
		res.AckSeconds = max(0, c.AcknowledgedAt.Sub(c.CreatedAt).Seconds())
		res.Missed = !deadline.IsZero() && c.AcknowledgedAt.After(deadline)
		return true, res.Missed
	}
	if !deadline.IsZero() && !now.Before(deadline) {
		res.Missed = true
		return false, true
	}
	return false, false
}

// CheckDrills resolves response drills at the node clock's now: it records
// each acknowledgement's delay and a miss for every drill request still
// unacknowledged past its deadline. The drill scheduler calls it; tests
// drive it with a fake clock.
func (d *Service) CheckDrills(ctx context.Context) error {
	now := d.now().UTC()
	var pending []string
	if err := d.store.View(func(tx *store.ReadTx) error {
		runs, err := tx.DrillRuns(store.DrillResponse)
		for _, run := range runs {
			for _, res := range run.Results {
				if res.Pending() {
					pending = append(pending, run.ID)
					break
				}
			}
		}
		return err
	}); err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	var acked, missed []store.DrillResult
	err := d.store.Update(ctx, func(tx *store.Tx) error {
		acked, missed = acked[:0], missed[:0]
		for _, id := range pending {
			run, err := tx.DrillRun(store.DrillResponse, id)
			if errors.Is(err, store.ErrNotFound) {
				continue // pruned meanwhile
			} else if err != nil {
				return err
			}
			changed := false
			for i := range run.Results {
				res := &run.Results[i]
				if !res.Pending() {
					continue
				}
				c, err := tx.Case(res.CaseID)
				if errors.Is(err, store.ErrNotFound) {
					res.Error, res.Missed, changed = "drill case no longer stored", true, true
					missed = append(missed, *res)
					continue
				} else if err != nil {
					return err
				}
				a, m := resolveDrillResult(res, c, run.DeadlineAt, now)
				if a {
					acked = append(acked, *res)
				}
				if m {
					missed = append(missed, *res)
					if err := tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "drill.missed", CaseID: res.CaseID,
						Detail: fmt.Sprintf("run=%s reference=%s country=%s not acknowledged by %s", run.ID, run.Reference,
							res.Country, run.DeadlineAt.Format(time.RFC3339))}); err != nil {
						return err
					}
				}
				changed = changed || a || m
			}
			if changed {
				if err := tx.PutDrillRun(run); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, res := range acked {
		d.gauges.Ack.WithLabelValues(res.Country).Set(res.AckSeconds)
	}
	for _, res := range missed {
		d.gauges.Misses.WithLabelValues(res.Country).Inc()
		d.log.Warn("response drill missed", zap.String("country", res.Country), zap.String("case_id", res.CaseID))
	}
	return nil
}

// Country is one member's line in the drill report (an API type: the
// report is what GET /api/v1/drills/report answers).
type Country = types.DrillCountry

// Report sums up the stored drill runs per member.
type Report struct {
	Countries []Country       `json:"countries"`
	LastRun   *store.DrillRun `json:"last_run,omitempty"`
}

// Report builds the report from the stored runs, with response drills
// resolved against their cases as of now.
func (d *Service) Report() (*Report, error) {
	now := d.now().UTC()
	r := d.roster.Current()
	rows := map[string]*Country{}
	acks := map[string][]float64{}
	rep := &Report{Countries: []Country{}}
	for _, m := range r.Members {
		if m.Country != d.country {
			rows[string(m.Country)] = &Country{Country: string(m.Country)}
		}
	}
	err := d.store.View(func(tx *store.ReadTx) error {
		runs, err := tx.DrillRuns("")
		if err != nil {
			return err
		}
		for _, run := range runs { // oldest first: later runs overwrite
			for _, res := range run.Results {
				row := rows[res.Country]
				if row == nil {
					continue // no longer a member
				}
				switch run.Kind {
				case store.DrillReachability:
					reachable, at := res.Reachable, run.StartedAt
					row.Reachable, row.LastPingAt, row.LastPingError = &reachable, &at, res.Error
					row.PingFailures, row.RTTMillis = res.Failures, nil
					if res.Reachable {
						rtt := res.RTTMillis
						row.RTTMillis = &rtt
					}
				case store.DrillResponse:
					if res.CaseID == "" {
						continue // never sent
					}
					if res.Pending() {
						if c, err := tx.Case(res.CaseID); err == nil {
							resolveDrillResult(&res, c, run.DeadlineAt, now)
						}
					}
					row.DrillsSent++
					if !res.AcknowledgedAt.IsZero() {
						row.Acknowledged++
						ack := res.AckSeconds
						row.AckSeconds = &ack
						acks[res.Country] = append(acks[res.Country], ack)
					}
					if res.Missed {
						row.Misses++
					} else if res.AcknowledgedAt.IsZero() {
						row.Pending++
					}
				}
			}
		}
		if len(runs) > 0 {
			last := runs[len(runs)-1]
			rep.LastRun = last
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for cc, row := range rows {
		if a := acks[cc]; len(a) > 0 {
			med := median(a)
			row.AckMedianSeconds = &med
		}
		rep.Countries = append(rep.Countries, *row)
	}
	sort.Slice(rep.Countries, func(i, j int) bool { return rep.Countries[i].Country < rep.Countries[j].Country })
	return rep, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// API handlers.

// drillContext is the node's context once started: a drill run from the
// API must not be cut short (and every member recorded as failed) because
// the client hung up, yet must stop with the node.
