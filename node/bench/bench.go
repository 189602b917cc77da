// Package bench measures what one Vigil request costs end to end, between
// two real in-process nodes on loopback, and compares it with the floor
// measured in the same run on the same machine: the fsync latency of the
// data directory's filesystem, a libp2p round trip on a warm stream, and
// the request's cryptography (seal, open, sign and verify a receipt).
//
// It reports:
//
//   - end-to-end latency of one request (submit → durable at the receiver →
//     signed receipt durable at the sender), p50 and p99, sequentially;
//   - requests per second that one sender sustains to one receiver, with a
//     number of concurrent submitters that each wait for their receipt;
//   - each as a ratio to the floor (2×fsync + round trip + crypto) and to
//     the goals: latency within 1.5× the floor, throughput of at least
//     1,500 durable requests per second.
//
// `vigil bench` runs it from the command line; the package's Go benchmarks
// (go test -bench) measure the same things one operation at a time.
//
// It also holds what the other benchmarks share: the harness options of
// in-process nodes (Harness), one summary type for samples (Stats), the
// machine description and the floor (MeasureFloor). They sit beside it:
// node/bench/flood (`vigil bench --flood`), node/bench/federation
// (`vigil testnet bench`) and node/bench/hostile (the hostile-member
// driver).
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vigil-network/vigil/node/testnet"
	"go.uber.org/zap"
)

// Goals from the benchmark issue.
const (
	// GoalLatencyRatio is the largest acceptable end-to-end p50 latency as a
	// multiple of the floor.
	GoalLatencyRatio = 1.5
	// GoalThroughput is the durable requests per second one sender must
	// sustain to one receiver.
	GoalThroughput = 1500.0
)

// Harness says where a benchmark's in-process nodes live and how they
// run: what `vigil bench` and `vigil bench --flood` share. Zero values
// take the defaults in brackets.
type Harness struct {
	// Dir is the parent of the temporary testnet [os.TempDir()]. The data
	// directories, and so the fsync floor, live on its filesystem.
	Dir string
	// Keep leaves the testnet directory in place afterwards.
	Keep bool
	// StoreProfile is the nodes' store profile ["default", as one national
	// node runs].
	StoreProfile string
	// Logger receives the nodes' logs [none: logging is not measured].
	Logger *zap.Logger
	// Progress, if set, gets a line as each phase starts.
	Progress io.Writer
}

// SetDefaults fills in the fields left zero.
func (h *Harness) SetDefaults() {
	if h.StoreProfile == "" {
		h.StoreProfile = "default"
	}
	if h.Logger == nil {
		h.Logger = zap.NewNop()
	}
}

// Progressf writes a progress line, if anyone listens.
func (h *Harness) Progressf(format string, a ...any) {
	if h.Progress != nil {
		fmt.Fprintf(h.Progress, format+"\n", a...)
	}
}

// NewTestnet creates a testnet of n nodes in a new directory under h.Dir
// (prefix names it), with load-test admission limits if loadLimits.
// Unless h.Keep, the caller removes dir when done; a failed creation
// leaves nothing behind.
func (h *Harness) NewTestnet(prefix string, n int, loadLimits bool) (dir string, man *testnet.Manifest, err error) {
	if h.Dir != "" {
		if err := os.MkdirAll(h.Dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("bench dir: %w", err)
		}
	}
	if dir, err = os.MkdirTemp(h.Dir, prefix); err != nil {
		return "", nil, fmt.Errorf("bench dir: %w", err)
	}
	man, err = testnet.Init(testnet.InitOptions{Dir: dir, Nodes: n, StoreProfile: h.StoreProfile, LoadLimits: loadLimits})
	if err != nil {
		if !h.Keep {
			os.RemoveAll(dir)
		}
		return "", nil, err
	}
	return dir, man, nil
}

// Options configures Run. Zero values take the defaults in brackets, the
// values of DefaultOptions.
type Options struct {
	Harness
	// Requests is the number of sequential requests timed for latency [500].
	Requests int
	// Warmup requests precede them, untimed [50; negative: none].
	Warmup int
	// ThroughputRequests is the total for the throughput phase [5000].
	ThroughputRequests int
	// Concurrency is the number of concurrent submitters in the throughput
	// phase; each waits for its receipt before submitting again [64].
	Concurrency int
	// FloorSamples, if set, replaces the sample counts of the floor
	// measurements [200 fsyncs, 200 pings, 500 crypto rounds].
	FloorSamples int
	// Timeout bounds the wait for any one receipt [30s].
	Timeout time.Duration
}

// SetDefault sets an option left zero (or negative) to its default.
func SetDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// DefaultOptions is what Run uses for options left zero; `vigil bench`'s
// flags start from it.
func DefaultOptions() Options {
	return Options{Harness: Harness{StoreProfile: "default"}, Requests: 500, Warmup: 50, ThroughputRequests: 5000,
		Concurrency: 64, Timeout: 30 * time.Second}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	o.Harness.SetDefaults()
	SetDefault(&o.Requests, d.Requests)
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	SetDefault(&o.ThroughputRequests, d.ThroughputRequests)
	SetDefault(&o.Concurrency, d.Concurrency)
	SetDefault(&o.Timeout, d.Timeout)
}

// Report is the outcome of one Run. Durations serialise as milliseconds.
type Report struct {
	Started    time.Time  `json:"started"`
	Machine    Machine    `json:"machine"`
	Setup      Setup      `json:"setup"`
	Floor      Floor      `json:"floor"`
	Latency    Latency    `json:"latency"`
	Throughput Throughput `json:"throughput"`
	Goals      Goals      `json:"goals"`
}

// Machine describes where the run happened.
type Machine struct {
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages at the start
	// and end of the run: anything well above zero means other work shared
	// the CPUs and disk, and the numbers are pessimistic.
	LoadAvgStart string `json:"loadavg_start,omitempty"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
}

// Setup describes the two nodes and the request they exchange.
type Setup struct {
	Sender        string   `json:"sender"`
	Receiver      string   `json:"receiver"`
	DataDir       string   `json:"data_dir"`
	Kept          bool     `json:"kept"`
	StoreProfile  string   `json:"store_profile"`
	Connections   []string `json:"connections"` // sender → receiver remote addresses
	PayloadBytes  int      `json:"payload_bytes"`
	EnvelopeBytes int      `json:"envelope_bytes"`
}

// Floor is what a request cannot go below on this machine.
type Floor struct {
	// Fsync is appending 4 KiB to a file in the sender's data dir and
	// fsyncing it.
	Fsync Stats[Duration] `json:"fsync"`
	// RoundTrip is one libp2p ping on a warm stream between the nodes.
	RoundTrip Stats[Duration] `json:"round_trip"`
	// Crypto is seal + open + sign receipt + verify receipt for the
	// benchmark request; the parts follow.
	Crypto Stats[Duration] `json:"crypto"`
	Seal   Stats[Duration] `json:"seal"`
	Open   Stats[Duration] `json:"open"`
	Sign   Stats[Duration] `json:"sign_receipt"`
	Verify Stats[Duration] `json:"verify_receipt"`
	// Latency = 2×fsync + round trip + crypto (p50s): one durable write
	// at each end, one exchange, the cryptography.
	Latency Duration `json:"latency_ms"`
	// LatencyThreeSyncs adds the third durable write this design makes
	// (the outbox write before SubmitRequest returns), for context.
	LatencyThreeSyncs Duration `json:"latency_three_syncs_ms"`
	// NaiveCeiling is 1/(2×fsync): requests per second of a design that
	// syncs once per request at each end, without batching.
	NaiveCeiling float64 `json:"naive_ceiling_per_s"`
}

// Latency is the sequential phase: one request at a time.
type Latency struct {
	Warmup    int `json:"warmup"`
	Requests  int `json:"requests"`
	Delivered int `json:"delivered"`
	// EndToEnd is submit → receipt durable at the sender.
	EndToEnd Stats[Duration] `json:"end_to_end"`
	// Submit is the SubmitRequest call: validate, seal, durable outbox write.
	Submit Stats[Duration] `json:"submit"`
	// ToReceiver is from SubmitRequest returning to the message being
	// durable at the receiver.
	ToReceiver Stats[Duration] `json:"to_receiver"`
	// ReceiptBack is from durable at the receiver to the receipt being
	// verified and durable at the sender.
	ReceiptBack Stats[Duration] `json:"receipt_back"`
	// Ratios of end-to-end latency to Floor.Latency.
	P50Ratio float64 `json:"p50_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
	// CPUPerRequest is the process's CPU time over the timed requests
	// (both nodes, including the interleaved fsync probes) per request.
	CPUPerRequest Duration `json:"cpu_per_request_ms"`
}

// Throughput is the concurrent phase.
type Throughput struct {
	Requests    int `json:"requests"`
	Concurrency int `json:"concurrency"`
	Delivered   int `json:"delivered"`
	// Wall is from the first submit to the last receipt made durable.
	Wall      Duration `json:"wall_ms"`
	PerSecond float64  `json:"per_second"`
	// GoalRatio is PerSecond / GoalThroughput; CeilingRatio is PerSecond /
	// Floor.NaiveCeiling.
	GoalRatio    float64 `json:"goal_ratio"`
	CeilingRatio float64 `json:"ceiling_ratio"`
	// EndToEnd is each request's latency under this load, and its parts
	// as in Latency.
	EndToEnd    Stats[Duration] `json:"end_to_end"`
	Submit      Stats[Duration] `json:"submit"`
	ToReceiver  Stats[Duration] `json:"to_receiver"`
	ReceiptBack Stats[Duration] `json:"receipt_back"`
	// CPU is the process's user+system CPU time over the phase (both
	// nodes and the load generator); Utilisation is CPU / (wall × CPUs).
	CPU           Duration `json:"cpu_ms"`
	CPUPerRequest Duration `json:"cpu_per_request_ms"`
	Utilisation   float64  `json:"cpu_utilisation"`
}

// Goals says whether the targets are met.
type Goals struct {
	LatencyRatio  float64 `json:"latency_ratio"` // goal: p50 ≤ this × floor
	LatencyMet    bool    `json:"latency_met"`
	Throughput    float64 `json:"throughput_per_s"` // goal: at least this
	ThroughputMet bool    `json:"throughput_met"`
}

// Run starts two nodes, measures the floor, sequential latency and
// throughput, stops the nodes and returns the report.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.defaults()
	rep = &Report{Started: time.Now().UTC(), Machine: ThisMachine()}

	o.Progressf("starting two nodes")
	p, err := startPair(ctx, o.Harness)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := p.close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop nodes: %w", cerr)
		}
	}()
	rep.Setup = Setup{Sender: p.man.Nodes[0].Country, Receiver: p.to, DataDir: p.dir, Kept: o.Keep,
		StoreProfile: o.StoreProfile, PayloadBytes: len(p.doc)}

	nFsync, nPing, nCrypto := 200, 200, 500
	if o.FloorSamples > 0 {
		nFsync, nPing, nCrypto = o.FloorSamples, o.FloorSamples, o.FloorSamples
	}
	o.Progressf("floor: %d pings, %d crypto rounds", nPing, nCrypto)
	probe, err := measureFloor(ctx, p, nPing, nCrypto, rep)
	if err != nil {
		return nil, err
	}
	defer probe.close()

	o.Progressf("latency: %d warm-up and %d timed sequential requests, interleaved with %d fsyncs", o.Warmup, o.Requests, nFsync)
	for i := 0; i < o.Warmup; i++ {
		if _, err := p.request(ctx, o.Timeout); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	rep.Setup.Connections = p.transports()
	// The fsync floor is sampled between the timed requests, so it sees
	// the same disk as they do: on shared or virtual disks fsync latency
	// drifts by several times within minutes.
	stride := max(1, o.Requests/nFsync)
	var fs, e2e, submit, toRecv, back []time.Duration
	cpu0, cpuOK := ProcessCPU()
	for i := 0; i < o.Requests; i++ {
		s, err := p.request(ctx, o.Timeout)
		if err != nil {
			return nil, fmt.Errorf("latency: %w", err)
		}
		e2e = append(e2e, s.delivered)
		submit = append(submit, s.submitted)
		toRecv = append(toRecv, s.received-s.submitted)
		back = append(back, s.delivered-s.received)
		if i%stride == 0 && len(fs) < nFsync {
			d, err := probe.once()
			if err != nil {
				return nil, err
			}
			fs = append(fs, d)
		}
	}
	cpu1, _ := ProcessCPU()
	if fs, err = probe.fill(fs, nFsync); err != nil {
		return nil, err
	}
	rep.Floor.finish(fs)
	rep.Latency = Latency{Warmup: o.Warmup, Requests: o.Requests, Delivered: len(e2e), EndToEnd: SummarizeDurations(e2e),
		Submit: SummarizeDurations(submit), ToReceiver: SummarizeDurations(toRecv), ReceiptBack: SummarizeDurations(back)}
	rep.Latency.P50Ratio = ratio(rep.Latency.EndToEnd.P50, rep.Floor.Latency)
	rep.Latency.P99Ratio = ratio(rep.Latency.EndToEnd.P99, rep.Floor.Latency)
	if cpuOK && o.Requests > 0 {
		rep.Latency.CPUPerRequest = Duration((cpu1 - cpu0) / time.Duration(o.Requests))
	}

	o.Progressf("throughput: %d requests from %d concurrent submitters", o.ThroughputRequests, o.Concurrency)
	if rep.Throughput, err = measureThroughput(ctx, p, o); err != nil {
		return nil, err
	}
	if rep.Floor.NaiveCeiling > 0 {
		rep.Throughput.CeilingRatio = rep.Throughput.PerSecond / rep.Floor.NaiveCeiling
	}
	rep.Goals = Goals{LatencyRatio: GoalLatencyRatio, Throughput: GoalThroughput}
	rep.Goals.LatencyMet = rep.Latency.P50Ratio > 0 && rep.Latency.P50Ratio <= GoalLatencyRatio
	rep.Goals.ThroughputMet = rep.Throughput.PerSecond >= GoalThroughput
	rep.Machine.LoadAvgEnd = LoadAvg()
	o.Progressf("stopping nodes")
	return rep, nil
}

// measureFloor measures the round-trip and crypto floors and opens the
// fsync probe in the sender's data directory, which the caller samples
// and closes.
func measureFloor(ctx context.Context, p *pair, nPing, nCrypto int, rep *Report) (*fsyncProbe, error) {
	rtt, err := pingLatencies(ctx, p.sender.Host(), p.receiver.PeerID(), nPing)
	if err != nil {
		return nil, err
	}
	s, r, dir, err := p.nodeParties()
	if err != nil {
		return nil, fmt.Errorf("crypto floor: %w", err)
	}
	cs, err := cryptoLatencies(s, r, dir, p.doc, nCrypto)
	if err != nil {
		return nil, err
	}
	var total, seal, open, sign, verify []time.Duration
	for _, c := range cs {
		total = append(total, c.total())
		seal, open, sign, verify = append(seal, c.seal), append(open, c.open), append(sign, c.sign), append(verify, c.verify)
	}
	if len(cs) > 0 {
		rep.Setup.EnvelopeBytes = cs[0].envBytes
	}
	f := &rep.Floor
	f.RoundTrip, f.Crypto = SummarizeDurations(rtt), SummarizeDurations(total)
	f.Seal, f.Open = SummarizeDurations(seal), SummarizeDurations(open)
	f.Sign, f.Verify = SummarizeDurations(sign), SummarizeDurations(verify)
	return newFsyncProbe(p.senderCfg.Path(p.senderCfg.DataDir))
}

// finish summarises the fsync samples and derives the floor latency and
// the naive ceiling from the parts.
func (f *Floor) finish(fsyncs []time.Duration) {
	f.Fsync = SummarizeDurations(fsyncs)
	f.Latency = 2*f.Fsync.P50 + f.RoundTrip.P50 + f.Crypto.P50
	f.LatencyThreeSyncs = f.Latency + f.Fsync.P50
	if f.Fsync.P50 > 0 {
		f.NaiveCeiling = float64(time.Second) / float64(2*f.Fsync.P50)
	}
}

// measureThroughput runs Concurrency submitters, each submitting and
// waiting for its receipt, until ThroughputRequests have been delivered.
func measureThroughput(ctx context.Context, p *pair, o Options) (Throughput, error) {
	t := Throughput{Requests: o.ThroughputRequests, Concurrency: o.Concurrency}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, o.ThroughputRequests)
		submit   = make([]time.Duration, 0, o.ThroughputRequests)
		toRecv   = make([]time.Duration, 0, o.ThroughputRequests)
		back     = make([]time.Duration, 0, o.ThroughputRequests)
		last     time.Time
		firstErr error
		wg       sync.WaitGroup
	)
	cpu0, cpuOK := ProcessCPU()
	start := time.Now()
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(o.ThroughputRequests) {
				s, err := p.request(ctx, o.Timeout)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					return
				}
				lat = append(lat, s.delivered)
				submit = append(submit, s.submitted)
				toRecv = append(toRecv, s.received-s.submitted)
				back = append(back, s.delivered-s.received)
				if s.at.After(last) {
					last = s.at
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cpu1, _ := ProcessCPU()
	if firstErr != nil {
		return t, fmt.Errorf("throughput: %w", firstErr)
	}
	t.Delivered = len(lat)
	t.Wall = Duration(last.Sub(start))
	if t.Wall > 0 {
		t.PerSecond = float64(t.Delivered) / last.Sub(start).Seconds()
	}
	t.GoalRatio = t.PerSecond / GoalThroughput
	t.EndToEnd, t.Submit = SummarizeDurations(lat), SummarizeDurations(submit)
	t.ToReceiver, t.ReceiptBack = SummarizeDurations(toRecv), SummarizeDurations(back)
	if cpuOK && t.Delivered > 0 && t.Wall > 0 {
		t.CPU = Duration(cpu1 - cpu0)
		t.CPUPerRequest = Duration((cpu1 - cpu0) / time.Duration(t.Delivered))
		t.Utilisation = float64(cpu1-cpu0) / (float64(t.Wall) * float64(runtime.NumCPU()))
	}
	return t, nil
}

// ThisMachine describes the machine the benchmark runs on, with its load
// average now.
func ThisMachine() Machine {
	m := Machine{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.LoadAvgStart = LoadAvg()
	return m
}

// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages ("" where there
// is none).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	m, s, f, l, t := r.Machine, r.Setup, r.Floor, r.Latency, r.Throughput
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(&b, "Vigil benchmark, %s: %s → %s on loopback, in one process\n", r.Started.Format(time.RFC3339), s.Sender, s.Receiver)
	fmt.Fprintf(&b, "machine: %d CPUs (%s), GOMAXPROCS %d, %s %s/%s\n", m.CPUs, cpu, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	if m.LoadAvgStart != "" {
		fmt.Fprintf(&b, "load average: %s at start, %s at end (other work on the machine inflates every number)\n", m.LoadAvgStart, m.LoadAvgEnd)
	}
	kept := "removed"
	if s.Kept {
		kept = "kept"
	}
	fmt.Fprintf(&b, "data: %s (%s), store profile %q\n", s.DataDir, kept, s.StoreProfile)
	fmt.Fprintf(&b, "request: %d B preservation request JSON, %d B envelope; connections: %s\n\n",
		s.PayloadBytes, s.EnvelopeBytes, strings.Join(s.Connections, ", "))

	fmt.Fprintln(tw, "FLOOR (this run)\tp50\tp99\tn\t")
	row := func(name string, st Stats[Duration]) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t\n", name, st.P50, st.P99, st.N)
	}
	row("fsync: 4 KiB append + fsync, data dir*", f.Fsync)
	row("libp2p round trip, warm ping stream", f.RoundTrip)
	row("crypto: seal+open+sign+verify", f.Crypto)
	row("  seal (encrypt + sign)", f.Seal)
	row("  open (verify + decrypt)", f.Open)
	row("  sign receipt", f.Sign)
	row("  verify receipt", f.Verify)
	fmt.Fprintf(tw, "  floor = 2×fsync + round trip + crypto\t%s\t\t\t\n", f.Latency)
	fmt.Fprintf(tw, "  (with this design's 3 syncs: %s)\t\t\t\t\n", f.LatencyThreeSyncs)
	fmt.Fprintf(tw, "  naive ceiling 1/(2×fsync)\t%.0f req/s\t\t\t\n", f.NaiveCeiling)
	fmt.Fprintf(tw, "  * sampled between the timed sequential requests\t\t\t\t\n")
	fmt.Fprintln(tw, "\t\t\t\t")

	fmt.Fprintf(tw, "LATENCY (%d sequential, after %d warm-up)\tp50\tp99\tmean\t\n", l.Requests, l.Warmup)
	lrow := func(name string, st Stats[Duration]) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", name, st.P50, st.P99, st.Mean)
	}
	lrow("end to end: submit → receipt durable at sender", l.EndToEnd)
	fmt.Fprintf(tw, "    ÷ floor\t%.2f×\t%.2f×\t\t\n", l.P50Ratio, l.P99Ratio)
	lrow("  submit (validate, seal, durable outbox)", l.Submit)
	lrow("  → durable at receiver", l.ToReceiver)
	lrow("  → receipt durable at sender", l.ReceiptBack)
	if l.CPUPerRequest > 0 {
		fmt.Fprintf(tw, "  CPU (both nodes)\t%s/request\t\t\t\n", l.CPUPerRequest)
	}
	fmt.Fprintln(tw, "\t\t\t\t")

	fmt.Fprintf(tw, "THROUGHPUT (%d requests, %d concurrent submitters)\t\t\t\t\n", t.Requests, t.Concurrency)
	fmt.Fprintf(tw, "  delivered\t%d in %s\t\t\t\n", t.Delivered, t.Wall)
	fmt.Fprintf(tw, "  durable requests/s\t%.0f\t\t\t\n", t.PerSecond)
	fmt.Fprintf(tw, "    ÷ goal %.0f/s\t%.2f×\t\t\t\n", GoalThroughput, t.GoalRatio)
	fmt.Fprintf(tw, "    ÷ naive ceiling %.0f/s\t%.1f×\t\t\t\n", f.NaiveCeiling, t.CeilingRatio)
	fmt.Fprintf(tw, "  latency under load\tp50\tp99\tmean\t\n")
	lrow("  end to end", t.EndToEnd)
	lrow("    submit", t.Submit)
	lrow("    → durable at receiver", t.ToReceiver)
	lrow("    → receipt durable at sender", t.ReceiptBack)
	if t.CPU > 0 {
		fmt.Fprintf(tw, "  CPU (both nodes + load)\t%s/request\t%.0f%% of %d CPUs\t\t\n", t.CPUPerRequest, 100*t.Utilisation, m.CPUs)
	}
	fmt.Fprintln(tw, "\t\t\t\t")
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	fmt.Fprintf(&b, "GOALS\n  latency p50 ≤ %.1f× floor: %.2f× — %s\n  throughput ≥ %.0f/s: %.0f/s — %s\n",
		GoalLatencyRatio, l.P50Ratio, verdict(r.Goals.LatencyMet), GoalThroughput, t.PerSecond, verdict(r.Goals.ThroughputMet))
	// tabwriter pads the last cell of each line; drop the trailing spaces.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}
