// Package bench measures what one Vigil request costs end to end, between
// two real in-process nodes on loopback, and compares it with the floor
// measured in the same run on the same machine: the fsync latency of the
// data directory's filesystem, a libp2p round trip on a warm stream, and
// the request's cryptography (seal, open, sign and verify a receipt).
//
// It reports:
//
//   - end-to-end latency of one request (submit → durable at the receiver →
//     signed receipt durable at the sender), p50, p99 and p999 of the whole
//     and of each segment, sequentially;
//   - requests per second that one sender sustains to one receiver, with a
//     number of concurrent submitters that each wait for their receipt;
//   - CPU time per request, and the stores' commits and syncs per request
//     from their own counters (store.Stats);
//   - each as a ratio to the floor (2×fsync + round trip + crypto) and to
//     the goals of issue 13: p50 within 1.5× the floor, p99 within 3×,
//     at least 3,000 durable requests per second at no more than 0.6 ms of
//     CPU per request;
//   - optionally (Compare) the same numbers for the store's previous
//     durability path (Badger's own synced commits) in the same run.
//
// `vigil bench` runs it from the command line; the package's Go benchmarks
// (go test -bench) measure the same things one operation at a time.
//
// It also holds what the other benchmarks share: the harness options of
// in-process nodes (Harness), one summary type for samples (Stats), the
// machine description and the floor (MeasureFloor). They sit beside it:
// node/bench/flood (`vigil bench --flood`), node/bench/federation
// (`vigil testnet bench`) and node/bench/hostile (the hostile-member
// driver). The shared harness is why the package is a little over 1,500
// lines: splitting it would give the three benchmarks three harnesses.
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
	"time"

	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/store"
	"go.uber.org/zap"
)

// Goals from the benchmark issue (13).
const (
	// GoalLatencyRatio is the largest acceptable end-to-end p50 latency as a
	// multiple of the floor.
	GoalLatencyRatio = 1.5
	// GoalP99Ratio is the same for p99.
	GoalP99Ratio = 3.0
	// GoalThroughput is the durable requests per second one sender must
	// sustain to one receiver.
	GoalThroughput = 3000.0
	// GoalCPUPerRequest is the most CPU time (both nodes) a request may
	// cost under load.
	GoalCPUPerRequest = 600 * time.Microsecond
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
	// Durability is the nodes' store durability, "journal" or "badger"
	// [the configuration's default].
	Durability string
	// Keys is how requests are submitted: "uuidv7", each under a fresh
	// UUIDv7 Idempotency-Key as `vigil request send` does, which lets the
	// sender hand it on while its commit syncs; or "none", the ordinary
	// path (stored, synced, then sent); or "random", random keys that
	// are no UUIDv7: idempotency records kept, the ordinary path
	// ["uuidv7"].
	Keys string
	// Logger receives the nodes' logs [none: logging is not measured].
	Logger *zap.Logger
	// Progress, if set, gets a line as each phase starts.
	Progress io.Writer
}

// The Harness.Keys settings.
const (
	KeysUUIDv7 = "uuidv7"
	KeysNone   = "none"
	KeysRandom = "random"
)

// SetDefaults fills in the fields left zero.
func (h *Harness) SetDefaults() {
	if h.StoreProfile == "" {
		h.StoreProfile = "default"
	}
	if h.Keys == "" {
		h.Keys = KeysUUIDv7
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
	// Compare runs everything again on a second pair whose stores use
	// Badger's own synced commits (the code path before the journal) and
	// reports it as Baseline.
	Compare bool
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
	// Baseline is the same run with durability "badger" (Options.Compare).
	Baseline *Report `json:"baseline,omitempty"`
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
	Durability    string   `json:"durability"`
	Keys          string   `json:"keys"`        // Harness.Keys
	Connections   []string `json:"connections"` // sender → receiver remote addresses
	PayloadBytes  int      `json:"payload_bytes"`
	EnvelopeBytes int      `json:"envelope_bytes"`
}

// Floor is what a request cannot go below on this machine.
type Floor struct {
	// Fsync (F) is appending 4 KiB to a file in the sender's data dir and
	// fsyncing it.
	Fsync Stats[Duration] `json:"fsync"`
	// FdatasyncPrealloc (F_pre) is overwriting 4 KiB in a preallocated
	// file in the same directory and fdatasyncing it: the disk's cheapest
	// durable write, what the journal pays per commit.
	FdatasyncPrealloc Stats[Duration] `json:"fdatasync_prealloc"`
	// RoundTrip is one libp2p ping on a warm stream between the nodes.
	RoundTrip Stats[Duration] `json:"round_trip"`
	// RoundTripIdle is the same ping after the stream (and, on a quiet
	// machine, the CPUs) idled for 1 ms, as each hop of a request does
	// while the other side syncs: the machine's wake-up cost, which the
	// back-to-back ping does not pay.
	RoundTripIdle Stats[Duration] `json:"round_trip_idle"`
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
	// LatencyDisk is the design's own limit on this disk: three F_pre
	// (outbox, inbox, receipt) + round trip + crypto.
	LatencyDisk Duration `json:"latency_disk_ms"`
	// LatencyIdle is Latency with the idle round trip in place of the
	// warm one: the floor as a request's hops meet the network.
	LatencyIdle Duration `json:"latency_idle_rtt_ms"`
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
	P50Ratio  float64 `json:"p50_ratio"`
	P99Ratio  float64 `json:"p99_ratio"`
	P999Ratio float64 `json:"p999_ratio"`
	// P50RatioIdle is the p50 over Floor.LatencyIdle (not a goal: what
	// is left once the machine's wake-up on the network is counted).
	P50RatioIdle float64 `json:"p50_ratio_idle_rtt"`
	// CPUPerRequest is the process's CPU time over the timed requests
	// (both nodes, including the interleaved fsync probes) per request.
	CPUPerRequest Duration `json:"cpu_per_request_ms"`
	// Store is what the two stores did per request.
	Store StorePerRequest `json:"store_per_request"`
}

// StorePerRequest is the stores' own counters (store.Stats) over a phase,
// divided by the requests delivered in it.
type StorePerRequest struct {
	// Syncs are sync system calls (fdatasync, fsync, msync) of both nodes.
	Syncs         float64 `json:"syncs"`
	SenderSyncs   float64 `json:"sender_syncs"`
	ReceiverSyncs float64 `json:"receiver_syncs"`
	// Commits are Badger transactions committed by both nodes; Writes are
	// the Update calls they carried (Writes/Commits is the group commit).
	Commits float64 `json:"commits"`
	Writes  float64 `json:"writes"`
	// CallerCommits are the commits run by the Update's own goroutine,
	// without a hand-off to the committer (store.Stats.CallerCommits).
	CallerCommits float64 `json:"caller_commits"`
	// CommitTime is the time both stores spent making commits durable;
	// SyncTime the part of it in the journal's fdatasync (store.Stats).
	// Sequentially, where nothing overlaps, both are on the critical path.
	CommitTime Duration `json:"commit_time_ms"`
	SyncTime   Duration `json:"sync_time_ms"`
	// StageTime is the time both committers spent running the requests'
	// store functions (reads, record encoding, audit appends) before
	// their commits; also on the critical path when sequential.
	StageTime Duration `json:"stage_time_ms"`
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
	// Store is what the two stores did per request.
	Store StorePerRequest `json:"store_per_request"`
}

// Goals says whether the targets are met.
type Goals struct {
	LatencyRatio  float64  `json:"latency_ratio"` // goal: p50 ≤ this × floor
	LatencyMet    bool     `json:"latency_met"`
	P99Ratio      float64  `json:"p99_ratio"` // goal: p99 ≤ this × floor
	P99Met        bool     `json:"p99_met"`
	Throughput    float64  `json:"throughput_per_s"` // goal: at least this
	ThroughputMet bool     `json:"throughput_met"`
	CPUPerRequest Duration `json:"cpu_per_request_ms"` // goal under load: at most this
	CPUMet        bool     `json:"cpu_met"`
}

// Run starts two nodes, measures the floor, sequential latency and
// throughput, stops the nodes and returns the report; with Compare it
// then does the same on a second pair with durability "badger".
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep, err := runPair(ctx, o)
	if err != nil || !o.Compare {
		return rep, err
	}
	// The path before issue 13: Badger's own synced commits, and every
	// request sent only once its outbox commit is durable.
	o.Durability, o.Keys, o.Compare = "badger", KeysNone, false
	o.Progressf("baseline: the same run with durability %q, no idempotency keys", o.Durability)
	if rep.Baseline, err = runPair(ctx, o); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	rep.Machine.LoadAvgEnd = rep.Baseline.Machine.LoadAvgEnd
	return rep, nil
}

// runPair is one Run on one fresh pair of nodes.
func runPair(ctx context.Context, o Options) (rep *Report, err error) {
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
		StoreProfile: o.StoreProfile, Durability: p.senderCfg.Store.Durability, Keys: o.Keys, PayloadBytes: len(p.doc)}

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

	o.Progressf("latency: %d warm-up and %d timed sequential requests, interleaved with %d fsyncs (%s durability)",
		o.Warmup, o.Requests, nFsync, rep.Setup.Durability)
	for i := 0; i < o.Warmup; i++ {
		if _, err := p.request(ctx, o.Timeout); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	rep.Setup.Connections = p.transports()
	// The fsync floor is sampled between the timed requests, so it sees
	// the same disk as they do: on shared or virtual disks fsync latency
	// drifts by several times within minutes. The probes' own syncs are
	// not the stores' and are not counted in Store.
	stride := max(1, o.Requests/nFsync)
	var fs fsyncSamples
	var e2e, submit, toRecv, back []time.Duration
	m0 := p.meter()
	for i := 0; i < o.Requests; i++ {
		s, err := p.request(ctx, o.Timeout)
		if err != nil {
			return nil, fmt.Errorf("latency: %w", err)
		}
		e2e = append(e2e, s.delivered)
		submit = append(submit, s.submitted)
		toRecv = append(toRecv, s.received-s.submitted)
		back = append(back, s.delivered-s.received)
		if i%stride == 0 && len(fs.f) < nFsync {
			if err := fs.add(probe); err != nil {
				return nil, err
			}
		}
	}
	cpu, perReq := p.meter().since(m0, o.Requests)
	if err := probe.fill(&fs, nFsync); err != nil {
		return nil, err
	}
	rep.Floor.finish(fs)
	l := &rep.Latency
	*l = Latency{Warmup: o.Warmup, Requests: o.Requests, Delivered: len(e2e), EndToEnd: SummarizeDurations(e2e),
		Submit: SummarizeDurations(submit), ToReceiver: SummarizeDurations(toRecv), ReceiptBack: SummarizeDurations(back),
		Store: perReq}
	l.P50Ratio = ratio(l.EndToEnd.P50, rep.Floor.Latency)
	l.P99Ratio = ratio(l.EndToEnd.P99, rep.Floor.Latency)
	l.P999Ratio = ratio(l.EndToEnd.P999, rep.Floor.Latency)
	l.P50RatioIdle = ratio(l.EndToEnd.P50, rep.Floor.LatencyIdle)
	if o.Requests > 0 {
		l.CPUPerRequest = Duration(cpu / time.Duration(o.Requests))
	}

	o.Progressf("throughput: %d requests from %d concurrent submitters", o.ThroughputRequests, o.Concurrency)
	if rep.Throughput, err = measureThroughput(ctx, p, o); err != nil {
		return nil, err
	}
	if rep.Floor.NaiveCeiling > 0 {
		rep.Throughput.CeilingRatio = rep.Throughput.PerSecond / rep.Floor.NaiveCeiling
	}
	t := rep.Throughput
	rep.Goals = Goals{LatencyRatio: GoalLatencyRatio, P99Ratio: GoalP99Ratio, Throughput: GoalThroughput,
		CPUPerRequest: Duration(GoalCPUPerRequest)}
	rep.Goals.LatencyMet = l.P50Ratio > 0 && l.P50Ratio <= GoalLatencyRatio
	rep.Goals.P99Met = l.P99Ratio > 0 && l.P99Ratio <= GoalP99Ratio
	rep.Goals.ThroughputMet = t.PerSecond >= GoalThroughput
	rep.Goals.CPUMet = t.CPUPerRequest > 0 && t.CPUPerRequest.D() <= GoalCPUPerRequest
	rep.Machine.LoadAvgEnd = LoadAvg()
	o.Progressf("stopping nodes")
	return rep, nil
}

// meter is the process's CPU time and both stores' counters at one
// moment; since turns two of them into a phase's cost.
type meter struct {
	cpu              time.Duration
	cpuOK            bool
	sender, receiver store.Stats
}

func (p *pair) meter() meter {
	cpu, ok := ProcessCPU()
	return meter{cpu: cpu, cpuOK: ok, sender: p.sender.Store().Stats(), receiver: p.receiver.Store().Stats()}
}

// since returns the CPU time from m0 to m (0 where the platform has no
// counter) and the stores' counters per request over n requests.
func (m meter) since(m0 meter, n int) (time.Duration, StorePerRequest) {
	var cpu time.Duration
	if m.cpuOK && m0.cpuOK {
		cpu = m.cpu - m0.cpu
	}
	if n <= 0 {
		return cpu, StorePerRequest{}
	}
	per := func(a, b uint64) float64 { return float64(a-b) / float64(n) }
	st := StorePerRequest{
		SenderSyncs:   per(m.sender.Syncs, m0.sender.Syncs),
		ReceiverSyncs: per(m.receiver.Syncs, m0.receiver.Syncs),
		Commits:       per(m.sender.Commits, m0.sender.Commits) + per(m.receiver.Commits, m0.receiver.Commits),
		Writes:        per(m.sender.Writes, m0.sender.Writes) + per(m.receiver.Writes, m0.receiver.Writes),
		CallerCommits: per(m.sender.CallerCommits, m0.sender.CallerCommits) + per(m.receiver.CallerCommits, m0.receiver.CallerCommits),
	}
	st.Syncs = st.SenderSyncs + st.ReceiverSyncs
	d := func(a, b time.Duration) Duration { return Duration((a - b) / time.Duration(n)) }
	st.CommitTime = d(m.sender.CommitTime, m0.sender.CommitTime) + d(m.receiver.CommitTime, m0.receiver.CommitTime)
	st.SyncTime = d(m.sender.SyncTime, m0.sender.SyncTime) + d(m.receiver.SyncTime, m0.receiver.SyncTime)
	st.StageTime = d(m.sender.StageTime, m0.sender.StageTime) + d(m.receiver.StageTime, m0.receiver.StageTime)
	return cpu, st
}

// measureFloor measures the round-trip and crypto floors and opens the
// fsync probe in the sender's data directory, which the caller samples
// and closes.
func measureFloor(ctx context.Context, p *pair, nPing, nCrypto int, rep *Report) (*fsyncProbe, error) {
	rtt, err := pingLatencies(ctx, p.sender.Host(), p.receiver.PeerID(), nPing)
	if err != nil {
		return nil, err
	}
	rttIdle, err := idleRoundTrips(ctx, p.sender.Host(), p.receiver.PeerID(), nPing, roundTripIdle)
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
	f.RoundTripIdle = SummarizeDurations(rttIdle)
	f.Seal, f.Open = SummarizeDurations(seal), SummarizeDurations(open)
	f.Sign, f.Verify = SummarizeDurations(sign), SummarizeDurations(verify)
	return newFsyncProbe(p.senderCfg.Path(p.senderCfg.DataDir))
}

// finish summarises the fsync samples and derives the floor latency and
// the naive ceiling from the parts.
func (f *Floor) finish(fs fsyncSamples) {
	f.Fsync, f.FdatasyncPrealloc = SummarizeDurations(fs.f), SummarizeDurations(fs.pre)
	f.Latency = 2*f.Fsync.P50 + f.RoundTrip.P50 + f.Crypto.P50
	f.LatencyThreeSyncs = f.Latency + f.Fsync.P50
	f.LatencyDisk = 3*f.FdatasyncPrealloc.P50 + f.RoundTrip.P50 + f.Crypto.P50
	f.LatencyIdle = f.Latency - f.RoundTrip.P50 + f.RoundTripIdle.P50
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
	m0 := p.meter()
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
	m1 := p.meter()
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
	cpu, perReq := m1.since(m0, t.Delivered)
	t.Store = perReq
	if cpu > 0 && t.Delivered > 0 && t.Wall > 0 {
		t.CPU = Duration(cpu)
		t.CPUPerRequest = Duration(cpu / time.Duration(t.Delivered))
		t.Utilisation = float64(cpu) / (float64(t.Wall) * float64(runtime.NumCPU()))
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
