package node

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-network/vigil/store"
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// several nodes can share a process (test networks).
type metrics struct {
	reg             *prometheus.Registry
	deliveryLatency prometheus.Histogram
	escalations     *prometheus.CounterVec
	loginFailures   prometheus.Counter
	received        prometheus.Counter
	rejected        *prometheus.CounterVec
	drillRTT        *prometheus.GaugeVec
	drillReachable  *prometheus.GaugeVec
	drillAck        *prometheus.GaugeVec
	drillMisses     *prometheus.CounterVec
	// admissionRefusals counts what members were refused, by limit
	// (node/admission).
	admissionRefusals *prometheus.CounterVec
	// schedulerFailures counts failed scheduler steps; hookDrops alerts
	// that skipped the hooks because their queue was full (scheduler.go,
	// alerthooks.go).
	schedulerFailures *prometheus.CounterVec
	hookDrops         prometheus.Counter
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_delivery_latency_seconds",
			Help:    "Time from a message being stored in the outbox to its signed receipt being stored.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20), // 1 ms … ~9 min
		}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_escalations_total", Help: "Alerts raised, by kind (ack_overdue, expiry_7d, ...).",
		}, []string{"kind"}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_login_failures_total", Help: "Failed console logins.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_messages_received_total", Help: "Envelopes stored and receipted.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_messages_rejected_total", Help: "Envelopes refused, by rejection code.",
		}, []string{"code"}),
		drillRTT: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_drill_rtt_seconds", Help: "Round trip of the latest reachability drill ping (signed ping to verified pong), by member.",
		}, []string{"country"}),
		drillReachable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_drill_reachable", Help: "1 if the member answered the latest reachability drill with a verified pong, else 0.",
		}, []string{"country"}),
		drillAck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_drill_ack_seconds", Help: "Time to human acknowledgement of the latest acknowledged response drill, by member.",
		}, []string{"country"}),
		drillMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_drill_misses_total", Help: "Response drill requests not acknowledged within drills.ack_deadline, by member.",
		}, []string{"country"}),
		admissionRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_admission_refusals_total", Help: "Envelopes, drill pings and roster exchanges refused from a member over an admission limit, by member and limit.",
		}, []string{"country", "limit"}),
	}
	m.schedulerFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_scheduler_step_failures_total",
		Help: "Scheduler steps that failed, by step (deadlines, roster, purge, sessions, checkpoint); the other steps still ran.",
	}, []string{"step"})
	m.hookDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_alert_hooks_dropped_total",
		Help: "Alerts not sent to the webhook or command because the hook queue was full (still in the API and console).",
	})
	// Series per member country show who is talking to whom, and when:
	// exposed only if asked for (metrics.per_country). They are kept up
	// to date either way, so turning them on needs no other change.
	if n.cfg.Metrics.PerCountry {
		m.reg.MustRegister(m.admissionRefusals, m.drillRTT, m.drillReachable, m.drillAck, m.drillMisses)
	}
	m.reg.MustRegister(m.schedulerFailures, m.hookDrops, m.deliveryLatency, m.escalations, m.loginFailures, m.received, m.rejected,
		n.gater.RefusedConnections(), // node/transport/gater.go: refused and timed-out libp2p connections
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_connected_peers", Help: "Roster members with an open connection.",
		}, func() float64 {
			c := 0
			for _, p := range n.host.Network().Peers() {
				if n.roster.IsMember(p) {
					c++
				}
			}
			return float64(c)
		}),
		&stateCollector{n: n, perCountry: n.cfg.Metrics.PerCountry},
		collectors.NewGoCollector(),
	)
	return m
}

// stateCollector reports outbox depths and open cases. Counting them reads
// every queued message and case, so the counts are cached for
// stateCacheTTL: a scrape every few seconds, or many scrapers, cost one
// count per interval, not one per scrape.
type stateCollector struct {
	n          *Node
	perCountry bool

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

const stateCacheTTL = 15 * time.Second

var (
	outboxDesc      = prometheus.NewDesc("vigil_outbox_depth", "Undelivered outgoing messages per peer (metrics.per_country).", []string{"country"}, nil)
	outboxTotalDesc = prometheus.NewDesc("vigil_outbox_messages", "Undelivered outgoing messages, all peers.", nil, nil)
	casesDesc       = prometheus.NewDesc("vigil_open_cases", "Open cases (not in a terminal state, protocol.Terminal), by legal state.", []string{"state"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.perCountry {
		ch <- outboxDesc
	}
	ch <- outboxTotalDesc
	ch <- casesDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metrics == nil || time.Since(c.at) >= stateCacheTTL {
		if ms, err := c.count(); err == nil {
			c.metrics, c.at = ms, time.Now()
		}
		// On error the last counts stay; a failing store shows elsewhere.
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *stateCollector) count() ([]prometheus.Metric, error) {
	n := c.n
	var out []prometheus.Metric
	err := n.store.View(func(tx *store.ReadTx) error {
		depths, err := tx.OutboxDepths()
		if err != nil {
			return err
		}
		r, _ := n.roster.Current()
		total := 0
		for _, m := range r.Members {
			if m.PeerID == n.self.String() {
				continue
			}
			total += depths[m.PeerID]
			if c.perCountry {
				out = append(out, prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(depths[m.PeerID]), string(m.Country)))
			}
		}
		out = append(out, prometheus.MustNewConstMetric(outboxTotalDesc, prometheus.GaugeValue, float64(total)))
		cases, err := tx.Cases(0)
		if err != nil {
			return err
		}
		byState := map[string]int{}
		for _, cs := range cases {
			if !terminal(cs.State) { // refused, withdrawn, released ... are over, not open
				byState[cs.State]++
			}
		}
		for s, v := range byState {
			out = append(out, prometheus.MustNewConstMetric(casesDesc, prometheus.GaugeValue, float64(v), s))
		}
		return nil
	})
	return out, err
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
