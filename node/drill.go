package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Drills test the network the way an incident would use it.
//
// A reachability drill sends every roster member a signed Ping over
// ProtoDrill and waits for its signed Pong: all members in parallel, on
// the warm connections the connector keeps (dialling those that are not
// connected), each with its own timeout. It runs on a schedule
// (drills.interval) and on demand.
//
// A human-response drill sends members a clearly marked test request (an
// assistance query with drill: true) through the normal submission path.
// A human at the receiving node must acknowledge it; the sender records
// the time to acknowledgement per country, or a miss when none came within
// drills.ack_deadline. CheckDrills resolves those outcomes.

const (
	// ProtoDrill carries one Ping and its Pong per stream.
	ProtoDrill = "/vigil/drill/1.0.0"
	// drillPingTimeout bounds one ping: dial, stream, ping and pong.
	drillPingTimeout = 5 * time.Second
	// drillConcurrency caps pings (and drill submissions) in flight.
	drillConcurrency = 64
	// drillSubmitConcurrency caps drill requests being stored at once;
	// the store batches them into shared commits.
	drillSubmitConcurrency = 16
)

// drillState serialises reachability drills: an on-demand run while the
// scheduled one is in flight waits for it rather than doubling the load.
type drillState struct {
	mu sync.Mutex
}

// drillLoop runs reachability drills every drills.interval and resolves
// response drills every deadlines.check_interval.
func (n *Node) drillLoop(ctx context.Context) {
	log := n.log.Named("drill")
	check := time.NewTicker(n.cfg.Deadlines.CheckInterval)
	defer check.Stop()
	var runs <-chan time.Time
	if iv := n.cfg.Drills.Interval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		runs = t.C
	}
	n.restoreDrillMetrics()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			if err := n.CheckDrills(ctx); err != nil && ctx.Err() == nil {
				log.Error("drill check failed", zap.Error(err))
			}
		case <-runs:
			run, err := n.RunReachabilityDrill(ctx, "node:scheduler")
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
func (n *Node) handleDrill(s network.Stream) {
	remote := s.Conn().RemotePeer()
	if !n.roster.isMember(remote) || !n.admitStream(remote, true) { // per-member rate (admission_glue.go)
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
		n.logRefusal(n.log.Named("drill"), remote.String()+"/bad-ping", "refused drill ping", zap.Stringer("peer", remote), zap.Error(err))
		s.Reset()
		return
	}
	pong, err := protocol.SignPong(n.key, ping, n.now())
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
func (n *Node) Ping(ctx context.Context, country string) (time.Duration, error) {
	id, m, ok := n.roster.byCountryCode(country)
	if !ok {
		return 0, fmt.Errorf("ping %s: not a roster member", country)
	}
	return n.pingMember(ctx, m, id)
}

// pingMember sends m one signed ping and returns the time from sending it
// to holding m's verified pong. A member that is not connected is dialled
// first (the drill bypasses the connector's dial backoff); that time is not
// part of the round trip.
func (n *Node) pingMember(ctx context.Context, m protocol.Member, id peer.ID) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, drillPingTimeout)
	defer cancel()
	if n.host.Network().Connectedness(id) != network.Connected {
		n.addMemberAddrs(m)
		addrs, _ := m.Multiaddrs()
		if err := n.host.Connect(network.WithForceDirectDial(cctx, "drill"), peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
			return 0, fmt.Errorf("dial: %w", err)
		}
	}
	s, err := n.host.NewStream(cctx, id, ProtoDrill)
	if err != nil {
		return 0, fmt.Errorf("open drill stream: %w", err)
	}
	if err := s.Scope().SetService(serviceDrill); err != nil {
		s.Reset()
		return 0, fmt.Errorf("drill stream: %w", err)
	}
	if dl, ok := cctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	ping, err := protocol.NewPing(n.key, n.now())
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
	n.peers.setRTT(id, rtt)
	n.peers.seen(id, n.now())
	return rtt, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RunReachabilityDrill pings every roster member in parallel, stores the
// run with each member's round trip or error, and returns it.
func (n *Node) RunReachabilityDrill(ctx context.Context, actor string) (*store.DrillRun, error) {
	n.drills.mu.Lock()
	defer n.drills.mu.Unlock()
	r, _ := n.roster.current()
	type target struct {
		m  protocol.Member
		id peer.ID
	}
	var targets []target
	for _, m := range r.Members {
		if id, err := m.ID(); err == nil && id != n.self {
			targets = append(targets, target{m, id})
		}
	}
	start := n.now().UTC()
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
			res := store.DrillResult{Country: tg.m.Country, PeerID: tg.m.PeerID}
			if rtt, err := n.pingMember(ctx, tg.m, tg.id); err != nil {
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
	run.FinishedAt = n.now().UTC()
	sort.Slice(run.Results, func(i, j int) bool { return run.Results[i].Country < run.Results[j].Country })
	reached := 0
	for _, res := range run.Results {
		if res.Reachable {
			reached++
		}
	}
	err := n.store.Update(ctx, func(tx *store.Tx) error {
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
		n.setPingMetrics(res)
	}
	return run, nil
}

func (n *Node) setPingMetrics(res store.DrillResult) {
	if res.Reachable {
		n.metrics.drillReachable.WithLabelValues(res.Country).Set(1)
		n.metrics.drillRTT.WithLabelValues(res.Country).Set(res.RTTMillis / 1000)
	} else {
		n.metrics.drillReachable.WithLabelValues(res.Country).Set(0)
		n.metrics.drillRTT.DeleteLabelValues(res.Country)
	}
}

// restoreDrillMetrics sets the drill gauges from the stored runs, so a
// restarted node reports what it last measured.
func (n *Node) restoreDrillMetrics() {
	rep, err := n.DrillReport()
	if err != nil {
		return
	}
	for _, c := range rep.Countries {
		if c.Reachable != nil {
			res := store.DrillResult{Country: c.Country, Reachable: *c.Reachable}
			if c.RTTMillis != nil {
				res.RTTMillis = *c.RTTMillis
			}
			n.setPingMetrics(res)
		}
		if c.AckSeconds != nil {
			n.metrics.drillAck.WithLabelValues(c.Country).Set(*c.AckSeconds)
		}
	}
}

// drillRequest builds the test request a response drill sends to cc.
func (n *Node) drillRequest(cc, reference, operator string, now time.Time) ([]byte, error) {
	_, self, ok := n.roster.byCountryCode(n.cfg.Country)
	if !ok {
		return nil, fmt.Errorf("this node (%s) is not in the roster", n.cfg.Country)
	}
	if operator == "" {
		operator = "24/7 duty officer"
	}
	q := protocol.AssistanceQuery{Kind: protocol.KindAssistance, To: cc, Date: now.Format(time.DateOnly), Reference: reference,
		RequestingAuthority: protocol.Contact{Organisation: self.Organisation, Person: operator, Phone: self.FallbackPhone,
			Email: self.FallbackEmail, OfficeHours: self.OfficeHours, TimeZone: self.TimeZone},
		Topic:    "other",
		Question: "DRILL: please acknowledge this test request. It is a network drill, not a real request: acknowledge it, nothing else is asked.",
		Drill:    true,
		Safeguards: protocol.Safeguards{LegalBasis: "Network drill under the Vigil operating procedures; no investigation",
			Proportionality: "Test message only; it contains no personal data", HandlingCode: "H0"}}
	return json.Marshal(&q)
}

// RunResponseDrill sends a drill request to each of countries (every other
// member if empty) and stores the run; CheckDrills and DrillReport follow
// the acknowledgements. Unknown countries are a *protocol.ValidationError.
func (n *Node) RunResponseDrill(ctx context.Context, actor, operator string, countries []string) (*store.DrillRun, error) {
	r, _ := n.roster.current()
	var fields []protocol.FieldError
	seen := map[string]bool{}
	var targets []string
	for i, cc := range countries {
		cc = strings.ToUpper(strings.TrimSpace(cc))
		_, _, ok := n.roster.byCountryCode(cc)
		switch {
		case cc == n.cfg.Country:
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
			if m.Country != n.cfg.Country {
				targets = append(targets, m.Country)
			}
		}
	}
	if len(targets) == 0 {
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "countries", Message: "the roster has no other member to drill"}}}
	}
	sort.Strings(targets)
	now := n.now().UTC()
	var num uint64
	if err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		num, err = tx.NextDrillNumber()
		return err
	}); err != nil {
		return nil, fmt.Errorf("number drill: %w", err)
	}
	ref := fmt.Sprintf("DRILL-%s-%d", now.Format(time.DateOnly), num)
	// The request must be valid before anything is sent; a node whose
	// roster entry lacks contact details cannot send one.
	doc, err := n.drillRequest(targets[0], ref, operator, now)
	if err != nil {
		return nil, err
	}
	if _, err := protocol.ParseRequest(doc); err != nil {
		return nil, fmt.Errorf("drill request built from this node's roster entry is invalid: %w", err)
	}
	run := &store.DrillRun{ID: protocol.NewID(now), Kind: store.DrillResponse, Actor: actor, StartedAt: now,
		Reference: ref, DeadlineAt: now.Add(n.cfg.Drills.AckDeadline), Results: make([]store.DrillResult, len(targets))}
	sem := make(chan struct{}, drillSubmitConcurrency)
	var wg sync.WaitGroup
	for i, cc := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := store.DrillResult{Country: cc}
			if pid, _, ok := n.roster.byCountryCode(cc); ok {
				res.PeerID = pid.String()
			}
			doc, err := n.drillRequest(cc, ref, operator, now)
			if err == nil {
				var sub *Submission
				if sub, err = n.SubmitRequest(ctx, actor, doc); err == nil {
					res.CaseID = sub.CaseID
				}
			}
			if err != nil {
				res.Error = err.Error()
			}
			run.Results[i] = res
		}()
	}
	wg.Wait()
	run.FinishedAt = n.now().UTC()
	sent := 0
	for _, res := range run.Results {
		if res.CaseID != "" {
			sent++
		}
	}
	err = n.store.Update(ctx, func(tx *store.Tx) error {
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
func (n *Node) CheckDrills(ctx context.Context) error {
	now := n.now().UTC()
	var pending []string
	if err := n.store.View(func(tx *store.ReadTx) error {
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
	err := n.store.Update(ctx, func(tx *store.Tx) error {
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
		n.metrics.drillAck.WithLabelValues(res.Country).Set(res.AckSeconds)
	}
	for _, res := range missed {
		n.metrics.drillMisses.WithLabelValues(res.Country).Inc()
		n.log.Named("drill").Warn("response drill missed", zap.String("country", res.Country), zap.String("case_id", res.CaseID))
	}
	return nil
}

// DrillCountry is one member's line in the drill report.
type DrillCountry struct {
	Country string `json:"country"`
	// Latest reachability drill; absent if the member was never pinged.
	Reachable     *bool      `json:"reachable,omitempty"`
	RTTMillis     *float64   `json:"rtt_ms,omitempty"`
	LastPingAt    *time.Time `json:"last_ping_at,omitempty"`
	LastPingError string     `json:"last_ping_error,omitempty"`
	// PingFailures counts consecutive failed pings up to the latest.
	PingFailures int `json:"ping_failures"`
	// Response drills: latest and median time to human acknowledgement.
	AckSeconds       *float64 `json:"ack_seconds,omitempty"`
	AckMedianSeconds *float64 `json:"ack_median_seconds,omitempty"`
	DrillsSent       int      `json:"drills_sent"`
	Acknowledged     int      `json:"acknowledged"`
	Pending          int      `json:"pending"`
	Misses           int      `json:"misses"`
}

// DrillReport sums up the stored drill runs per member.
type DrillReport struct {
	Countries []DrillCountry  `json:"countries"`
	LastRun   *store.DrillRun `json:"last_run,omitempty"`
}

// DrillReport builds the report from the stored runs, with response drills
// resolved against their cases as of now.
func (n *Node) DrillReport() (*DrillReport, error) {
	now := n.now().UTC()
	r, _ := n.roster.current()
	rows := map[string]*DrillCountry{}
	acks := map[string][]float64{}
	rep := &DrillReport{Countries: []DrillCountry{}}
	for _, m := range r.Members {
		if m.Country != n.cfg.Country {
			rows[m.Country] = &DrillCountry{Country: m.Country}
		}
	}
	err := n.store.View(func(tx *store.ReadTx) error {
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
func (n *Node) drillContext(r *http.Request) context.Context {
	if n.ctx != nil {
		return n.ctx
	}
	return r.Context()
}

func (n *Node) handleDrillReachability(w http.ResponseWriter, r *http.Request) {
	run, err := n.RunReachabilityDrill(n.drillContext(r), actorOf(r))
	if err != nil {
		n.log.Named("api").Error("reachability drill", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// ResponseDrillRequest is the body of POST /api/v1/drills/response.
type ResponseDrillRequest struct {
	// Countries to drill; empty means every other member.
	Countries []string `json:"countries"`
	// Operator is named as the requesting person in the drill requests.
	Operator string `json:"operator,omitempty"`
}

func (n *Node) handleDrillResponse(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req ResponseDrillRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body must be {\"countries\": [\"DE\", ...], \"operator\": \"...\"}: "+err.Error(), nil)
			return
		}
	}
	run, err := n.RunResponseDrill(n.drillContext(r), actorOf(r), req.Operator, req.Countries)
	var verr *protocol.ValidationError
	switch {
	case errors.As(err, &verr):
		writeError(w, http.StatusUnprocessableEntity, "drill refused", verr.Fields)
		return
	case err != nil:
		n.log.Named("api").Error("response drill", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	ids := map[string]string{}
	for _, res := range run.Results {
		if res.CaseID != "" {
			ids[res.Country] = res.CaseID
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"run": run, "case_ids": ids})
}

func (n *Node) handleDrillReport(w http.ResponseWriter, _ *http.Request) {
	rep, err := n.DrillReport()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "drill report: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
