// Package admission decides, per sending member, what a node accepts from
// it (issue 9, "Admission control per peer"): token buckets on the
// delivery, drill and roster protocols, quotas on what a member may make
// the node store (open cases, bytes per UTC day, messages per case, payload
// size per message type), and quarantine by an admin. Over a limit the
// member gets a retryable refusal naming the limit, so an honest burst is
// delayed, never lost; only a payload over its type's cap and an unknown
// message type are refused for good.
//
// Refusals are aggregated per member: one alert per member and episode
// (reported through a Reporter, at most once per flush interval), a
// counter per member and limit, and log lines sampled by Sampler.
//
// The package knows nothing of the node: quota counters live in the
// caller's store transaction (QuotaTx), so they survive restarts and are
// updated atomically with the message they count.
package admission

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rejection codes a member receives (protocol.Reject.Code).
const (
	CodeRateLimited  = "rate-limited"   // retryable: a token bucket is empty
	CodeQuota        = "quota-exceeded" // retryable: Reason names the quota
	CodeQuarantined  = "quarantined"    // retryable: an admin stopped accepting from the member
	CodeLocalReserve = "local-reserve"  // retryable: the disk space left is kept for local work
	CodeTooLarge     = "too-large"      // permanent: payload over its type's cap
	CodeUnknownType  = "unknown-type"   // permanent: a message type this node does not know
)

// Quota names, the Reason of a CodeQuota refusal.
const (
	QuotaOpenCases       = "open_cases"
	QuotaBytesPerDay     = "bytes_per_day"
	QuotaMessagesPerCase = "messages_per_case"
)

// Limit labels, for metrics and alerts: which limit refused.
const (
	LimitDeliverRate = "deliver_rate"
	LimitDrillRate   = "drill_rate"
	LimitRosterRate  = "roster_rate"
	LimitQuarantined = "quarantined"
	LimitLocal       = "local_reserve"
	LimitTooLarge    = "too_large"
	LimitUnknownType = "unknown_type"
)

// EnvelopeOverhead bounds what an envelope adds to its payload (header,
// nonce, box tag, signature, length prefixes), so the payload cap can be
// applied to the envelope before it is opened. The real figure is under
// 400 bytes.
const EnvelopeOverhead = 1024

// Rate is a token bucket: PerSecond tokens refill, Burst is its depth.
// PerSecond 0 disables the bucket.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Limits are what one member may do. A quota of 0 is off.
type Limits struct {
	Deliver Rate // per envelope on /vigil/deliver
	Drill   Rate // per ping on /vigil/drill
	Roster  Rate // per exchange on /vigil/roster

	OpenCases       int64 // non-terminal cases the member opened
	BytesPerDay     int64 // envelope bytes stored per UTC day
	MessagesPerCase int64 // the member's messages in one case
	// MaxPayload caps the decrypted payload per message type; a type not
	// listed is unknown and refused.
	MaxPayload map[string]int
}

// Refusal is a decision not to accept something from a member. It is an
// error so it can leave a store transaction.
type Refusal struct {
	Code      string // one of the Code constants
	Limit     string // a Limit or Quota constant
	Reason    string // human-readable; names the quota for CodeQuota
	Permanent bool
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Reason }

// Alarm is the aggregated state of one member's refusals, for its alert.
type Alarm struct {
	Country string
	Code    string // the latest refusal's code
	Limit   string // the latest refusal's limit
	Count   int64  // refusals since Since
	ByLimit map[string]int64
	Since   time.Time // first refusal of this episode
	Last    time.Time // latest refusal
}

// Message is the alert text: counts only, never contents.
func (a Alarm) Message() string {
	limits := make([]string, 0, len(a.ByLimit))
	for l := range a.ByLimit {
		limits = append(limits, l)
	}
	sort.Strings(limits)
	detail := ""
	for i, l := range limits {
		if i > 0 {
			detail += ", "
		}
		detail += fmt.Sprintf("%s %d", l, a.ByLimit[l])
	}
	return fmt.Sprintf("%s over limit %s: %d refused since %s UTC (%s)", a.Country, a.Code, a.Count,
		a.Since.UTC().Format("2006-01-02 15:04"), detail)
}

// Reporter receives aggregated refusals: one call per member per flush
// while it is over a limit, and Cleared once it has been quiet.
type Reporter interface {
	OverLimit(ctx context.Context, a Alarm) error
	Cleared(ctx context.Context, country string, a Alarm) error
}

// Options configures a Controller.
type Options struct {
	Limits Limits
	Now    func() time.Time
	// OnRefuse is called for every refusal (the metric).
	OnRefuse func(country, limit string)
	// Flush is how often aggregated alarms are reported [1m]; the first
	// refusal of an episode is reported at once.
	Flush time.Duration
	// Quiet ends an episode (its alert is cleared) after this long without
	// refusals [10m].
	Quiet time.Duration
}

// Controller holds every member's buckets, refusal episodes and
// quarantine state. It is safe for concurrent use.
type Controller struct {
	lim   Limits
	now   func() time.Time
	onRef func(country, limit string)
	flush time.Duration
	quiet time.Duration
	kick  chan struct{}

	mu    sync.Mutex
	peers map[string]*peerState // by country; only roster members get here
	quar  map[string]string     // quarantined country → reason
}

type peerState struct {
	deliver, drill, roster *rate.Limiter
	ep                     *episode
}

type episode struct {
	Alarm
	reported bool // OverLimit called for the current counts
	started  bool // OverLimit called at least once
}

// New builds a Controller.
func New(o Options) *Controller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Flush <= 0 {
		o.Flush = time.Minute
	}
	if o.Quiet <= 0 {
		o.Quiet = 10 * time.Minute
	}
	return &Controller{lim: o.Limits, now: o.Now, onRef: o.OnRefuse, flush: o.Flush, quiet: o.Quiet,
		kick: make(chan struct{}, 1), peers: map[string]*peerState{}, quar: map[string]string{}}
}

// Limits returns the configured limits.
func (c *Controller) Limits() Limits { return c.lim }

func newLimiter(r Rate) *rate.Limiter {
	if r.PerSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r.PerSecond), max(r.Burst, 1))
}

// peer returns country's state; c.mu is held.
func (c *Controller) peer(country string) *peerState {
	p := c.peers[country]
	if p == nil {
		p = &peerState{deliver: newLimiter(c.lim.Deliver), drill: newLimiter(c.lim.Drill), roster: newLimiter(c.lim.Roster)}
		c.peers[country] = p
	}
	return p
}

// Refuse records a refusal decided here or by the caller (the store's
// local reserve) and returns it.
func (c *Controller) Refuse(country string, r *Refusal) *Refusal {
	now := c.now()
	c.mu.Lock()
	p := c.peer(country)
	if p.ep == nil {
		p.ep = &episode{Alarm: Alarm{Country: country, Since: now, ByLimit: map[string]int64{}}}
	}
	e := p.ep
	e.Code, e.Limit, e.Last = r.Code, r.Limit, now
	e.Count++
	e.ByLimit[r.Limit]++
	e.reported = false
	first := !e.started
	c.mu.Unlock()
	if c.onRef != nil {
		c.onRef(country, r.Limit)
	}
	if first {
		select { // report the start of an episode without waiting for a flush
		case c.kick <- struct{}{}:
		default:
		}
	}
	return r
}

// AdmitEnvelope is checked for every envelope frame before it is opened:
// quarantine, the delivery bucket, the message type (from the clear
// header) and the envelope's size against the type's payload cap.
func (c *Controller) AdmitEnvelope(country, msgType string, size int) *Refusal {
	if r := c.quarantineRefusal(country); r != nil {
		return c.Refuse(country, r)
	}
	if !c.allow(country, func(p *peerState) *rate.Limiter { return p.deliver }) {
		return c.Refuse(country, &Refusal{Code: CodeRateLimited, Limit: LimitDeliverRate,
			Reason: fmt.Sprintf("more than %g envelopes per second (burst %d); retry later", c.lim.Deliver.PerSecond, c.lim.Deliver.Burst)})
	}
	max, ok := c.lim.MaxPayload[msgType]
	if !ok {
		return c.Refuse(country, &Refusal{Code: CodeUnknownType, Limit: LimitUnknownType, Permanent: true,
			Reason: fmt.Sprintf("message type %q is not accepted", msgType)})
	}
	if size > max+EnvelopeOverhead {
		return c.Refuse(country, &Refusal{Code: CodeTooLarge, Limit: LimitTooLarge, Permanent: true,
			Reason: fmt.Sprintf("%s envelope of %d bytes exceeds the %d-byte payload cap", msgType, size, max)})
	}
	return nil
}

// AdmitDrill is checked for every drill ping before it is verified.
func (c *Controller) AdmitDrill(country string) *Refusal {
	if r := c.quarantineRefusal(country); r != nil {
		return c.Refuse(country, r)
	}
	if !c.allow(country, func(p *peerState) *rate.Limiter { return p.drill }) {
		return c.Refuse(country, &Refusal{Code: CodeRateLimited, Limit: LimitDrillRate, Reason: "too many drill pings"})
	}
	return nil
}

// AdmitRoster is checked for every roster exchange a member opens.
func (c *Controller) AdmitRoster(country string) *Refusal {
	if r := c.quarantineRefusal(country); r != nil {
		return c.Refuse(country, r)
	}
	if !c.allow(country, func(p *peerState) *rate.Limiter { return p.roster }) {
		return c.Refuse(country, &Refusal{Code: CodeRateLimited, Limit: LimitRosterRate, Reason: "too many roster exchanges"})
	}
	return nil
}

func (c *Controller) allow(country string, which func(*peerState) *rate.Limiter) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return which(c.peer(country)).AllowN(now, 1)
}

// Quarantine stops accepting from a member until Release.
func (c *Controller) Quarantine(country, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quar[country] = reason
}

// Release accepts from a quarantined member again.
func (c *Controller) Release(country string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.quar, country)
}

// Quarantined reports whether a member is quarantined, and why.
func (c *Controller) Quarantined(country string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.quar[country]
	return r, ok
}

func (c *Controller) quarantineRefusal(country string) *Refusal {
	if _, q := c.Quarantined(country); q {
		return &Refusal{Code: CodeQuarantined, Limit: LimitQuarantined,
			Reason: "the receiving node's operators have quarantined this sender; retry later"}
	}
	return nil
}

// Run reports aggregated alarms until ctx ends: at once for a new
// episode, then at most once per flush interval while refusals continue,
// and Cleared after the quiet period. A report that fails is retried at
// the next flush.
func (c *Controller) Run(ctx context.Context, r Reporter, onErr func(error)) {
	t := time.NewTicker(c.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.report(ctx, r, onErr)
	}
}

func (c *Controller) report(ctx context.Context, r Reporter, onErr func(error)) {
	now := c.now()
	type job struct {
		country string
		a       Alarm
		clear   bool
	}
	var jobs []job
	c.mu.Lock()
	for cc, p := range c.peers {
		e := p.ep
		switch {
		case e == nil:
		case !e.reported:
			a := e.Alarm
			a.ByLimit = make(map[string]int64, len(e.ByLimit))
			for k, v := range e.ByLimit {
				a.ByLimit[k] = v
			}
			jobs = append(jobs, job{country: cc, a: a})
		case now.Sub(e.Last) >= c.quiet:
			jobs = append(jobs, job{country: cc, a: e.Alarm, clear: true})
		}
	}
	c.mu.Unlock()
	for _, j := range jobs {
		var err error
		if j.clear {
			err = r.Cleared(ctx, j.country, j.a)
		} else {
			err = r.OverLimit(ctx, j.a)
		}
		if err != nil {
			if onErr != nil {
				onErr(err)
			}
			continue
		}
		c.mu.Lock()
		if p := c.peers[j.country]; p != nil && p.ep != nil {
			switch {
			case j.clear && p.ep.Last.Equal(j.a.Last):
				p.ep = nil // quiet since: the episode is over
			case !j.clear && p.ep.Count == j.a.Count:
				p.ep.reported, p.ep.started = true, true
			case !j.clear:
				p.ep.started = true // more arrived meanwhile: report them next flush
			}
		}
		c.mu.Unlock()
	}
}
