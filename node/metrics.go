package node

import (
	"net/http"

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
	m.reg.MustRegister(m.schedulerFailures, m.hookDrops, m.admissionRefusals, m.deliveryLatency, m.escalations, m.loginFailures, m.received, m.rejected,
		m.drillRTT, m.drillReachable, m.drillAck, m.drillMisses,
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
		&stateCollector{n: n},
		collectors.NewGoCollector(),
	)
	return m
}

// stateCollector reads outbox depths and open cases at scrape time, so the
// numbers are never stale and cost nothing between scrapes.
type stateCollector struct{ n *Node }

var (
	outboxDesc = prometheus.NewDesc("vigil_outbox_depth", "Undelivered outgoing messages per peer.", []string{"country"}, nil)
	casesDesc  = prometheus.NewDesc("vigil_open_cases", "Open cases (not in a terminal state, protocol.Terminal), by legal state.", []string{"state"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc; ch <- casesDesc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	_ = n.store.View(func(tx *store.ReadTx) error {
		depths, err := tx.OutboxDepths()
		if err != nil {
			return err
		}
		r, _ := n.roster.Current()
		for _, m := range r.Members {
			if m.PeerID == n.self.String() {
				continue
			}
			ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(depths[m.PeerID]), string(m.Country))
		}
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
			ch <- prometheus.MustNewConstMetric(casesDesc, prometheus.GaugeValue, float64(v), s)
		}
		return nil
	})
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
