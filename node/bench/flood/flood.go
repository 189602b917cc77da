// Package flood is the flood benchmark of issue 9 (`vigil bench
// --flood`): one member floods a victim at 10× the victim's delivery rate
// limit while an honest member sends a steady load, and it reports the
// honest member's latency with and without the flood and the victim's
// footprint. Three parties run in this process: the victim and the honest
// member are real nodes; the hostile member is a hostile.Driver holding
// the third testnet member's keys (its node is not started).
package flood

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/bench/hostile"
	"github.com/vigil-network/vigil/node/config"
)

// GoalP99Ratio is the goal: the honest member's p99 under the
// flood within this multiple of its unloaded p99.
const GoalP99Ratio = 2.0

// Options configures Run. Zero values take the defaults in
// brackets, the values of DefaultFloodOptions.
type Options struct {
	bench.Harness
	// Duration of each phase: unloaded, then flooded [60s].
	Duration time.Duration
	// HonestRate is the honest member's steady load in requests/s [5].
	HonestRate float64
	// FloodRate is the hostile member's envelopes/s; 0 floods at 10× the
	// victim's per-peer delivery rate limit, or as fast as it can when the
	// victim has none.
	FloodRate float64
	// FloodStreams is the number of delivery streams the flood uses [8].
	FloodStreams int
	// FloodSize is each flooded request's JSON size in bytes [0: about 2 KiB].
	FloodSize int
	// Timeout bounds the wait for one honest receipt [60s].
	Timeout time.Duration
}

// DefaultOptions is what Run uses for options left zero; `vigil bench
// --flood`'s flags start from it.
func DefaultOptions() Options {
	return Options{Harness: bench.Harness{StoreProfile: "default"}, Duration: 60 * time.Second, HonestRate: 5,
		FloodStreams: 8, Timeout: 60 * time.Second}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	o.SetDefaults()
	bench.SetDefault(&o.Duration, d.Duration)
	bench.SetDefault(&o.HonestRate, d.HonestRate)
	bench.SetDefault(&o.FloodStreams, d.FloodStreams)
	bench.SetDefault(&o.Timeout, d.Timeout)
}

// Report is the outcome of Run.
type Report struct {
	Started time.Time     `json:"started"`
	Machine bench.Machine `json:"machine"`
	Victim  string        `json:"victim"`
	Honest  string        `json:"honest"`
	Hostile string        `json:"hostile"`
	// StoreProfile of the nodes; Duration of each phase.
	StoreProfile string         `json:"store_profile"`
	Duration     bench.Duration `json:"phase_ms"`
	HonestRate   float64        `json:"honest_rate_per_s"`
	// DeliverLimit is the victim's per-peer /vigil/deliver rate (0: none
	// configured), FloodRate what the hostile member aimed at.
	DeliverLimit float64 `json:"deliver_limit_per_s"`
	FloodRate    float64 `json:"flood_rate_per_s"`

	Unloaded Phase `json:"unloaded"`
	Flooded  Phase `json:"flooded"`
	// P99Ratio is Flooded.Honest.P99 / Unloaded.Honest.P99.
	P99Ratio float64 `json:"p99_ratio"`
	P99Met   bool    `json:"p99_met"`

	Flood Counts `json:"flood"`
}

// Phase is one measured phase.
type Phase struct {
	// Honest is the honest member's end-to-end latency (submit → receipt
	// durable at the honest member); Sent and Delivered count its requests.
	Honest    bench.Stats[bench.Duration] `json:"honest"`
	Sent      int                         `json:"sent"`
	Delivered int                         `json:"delivered"`
	// StoreGrowth is the victim's data dir disk usage (allocated blocks)
	// at the end minus at the start; PerMinute scales it to a minute.
	StoreGrowth          int64 `json:"store_growth_bytes"`
	StoreGrowthPerMinute int64 `json:"store_growth_per_minute_bytes"`
	// HeapStart/End are the process's live heap after a GC; HeapPeak the
	// largest HeapInuse sampled during the phase. The three parties share
	// the process, so these bound the victim's share, not measure it.
	HeapStart uint64 `json:"heap_start_bytes"`
	HeapEnd   uint64 `json:"heap_end_bytes"`
	HeapPeak  uint64 `json:"heap_peak_bytes"`
	// RSSEnd is the process's resident set at the end (shared likewise).
	RSSEnd int64 `json:"rss_end_bytes,omitempty"`
	// CPU is the process's CPU time over the phase, Utilisation it as a
	// share of all CPUs (victim + honest member + attacker together).
	CPU         bench.Duration `json:"cpu_ms"`
	Utilisation float64        `json:"cpu_utilisation"`
}

// Counts is what the hostile member's flood got.
type Counts struct {
	Sent       int            `json:"sent"`
	Receipted  int            `json:"receipted"`
	Rejected   map[string]int `json:"rejected"`
	Retryable  int            `json:"retryable"`
	Unanswered int            `json:"unanswered"`
	PerSecond  float64        `json:"sent_per_s"`
	Accepted   int64          `json:"accepted_bytes"`
}

// Run measures the honest member's latency unloaded, then under the
// flood, and the victim's footprint in each phase.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.defaults()
	dir, man, err := o.NewTestnet("vigil-flood-", 3, false)
	if err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	ve, he, xe := man.Nodes[0], man.Nodes[1], man.Nodes[2]
	rep = &Report{Started: time.Now().UTC(), Machine: bench.ThisMachine(), Victim: ve.Country, Honest: he.Country,
		Hostile: xe.Country, StoreProfile: o.StoreProfile, Duration: bench.Duration(o.Duration), HonestRate: o.HonestRate}

	vcfg, err := config.LoadConfig(ve.Config)
	if err != nil {
		return nil, err
	}
	hcfg, err := config.LoadConfig(he.Config)
	if err != nil {
		return nil, err
	}
	tr := bench.NewTracker()
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	victim, err := node.New(vcfg, node.Options{Logger: o.Logger.Named(ve.Country)})
	if err != nil {
		return nil, fmt.Errorf("victim: %w", err)
	}
	defer victim.Close()
	honest, err := node.New(hcfg, node.Options{Logger: o.Logger.Named(he.Country), OnDelivered: tr.Delivered})
	if err != nil {
		return nil, fmt.Errorf("honest member: %w", err)
	}
	defer honest.Close()
	if err := victim.Start(nctx); err != nil {
		return nil, fmt.Errorf("start victim: %w", err)
	}
	if err := honest.Start(nctx); err != nil {
		return nil, fmt.Errorf("start honest member: %w", err)
	}

	vm, err := hostile.RosterMember(man, ve.Country)
	if err != nil {
		return nil, err
	}
	xm, err := hostile.RosterMember(man, xe.Country)
	if err != nil {
		return nil, err
	}
	target, err := hostile.TargetOf(vm)
	if err != nil {
		return nil, err
	}
	member, err := hostile.LoadMember(xe, xm.Addrs)
	if err != nil {
		return nil, err
	}
	drv, err := hostile.New(nctx, member, target, hostile.Options{})
	if err != nil {
		return nil, err
	}
	defer drv.Close()

	doc, err := bench.RequestDoc(ve.Country)
	if err != nil {
		return nil, err
	}
	// Warm the honest path up: connection, streams, first syncs.
	for i := 0; i < 5; i++ {
		if _, err := honestRequest(ctx, honest, tr, doc, o.Timeout); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}

	rep.DeliverLimit = deliverLimit(vcfg)
	rep.FloodRate = o.FloodRate
	if rep.FloodRate <= 0 && rep.DeliverLimit > 0 {
		rep.FloodRate = 10 * rep.DeliverLimit
	}
	dataDir := vcfg.Path(vcfg.DataDir)

	o.Progressf("unloaded: %s of %.0f honest requests/s", o.Duration, o.HonestRate)
	if rep.Unloaded, err = runPhase(ctx, o, honest, tr, doc, dataDir, nil); err != nil {
		return nil, err
	}
	if rep.FloodRate > 0 {
		o.Progressf("flooded: the same, while %s floods %s at %.0f envelopes/s", xe.Country, ve.Country, rep.FloodRate)
	} else {
		o.Progressf("flooded: the same, while %s floods %s as fast as it can (no rate limit configured)", xe.Country, ve.Country)
	}
	var fr *hostile.Result
	var ferr error
	rep.Flooded, err = runPhase(ctx, o, honest, tr, doc, dataDir, func(pctx context.Context) func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fr, ferr = drv.Flood(pctx, hostile.FloodOptions{Duration: o.Duration, Streams: o.FloodStreams,
				Rate: rep.FloodRate, Make: drv.Requests(o.FloodSize), Keep: 1})
		}()
		return func() { <-done }
	})
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		return nil, ferr
	}
	rep.Flood = Counts{Sent: fr.Sent, Receipted: fr.Receipted, Rejected: fr.Rejected, Retryable: fr.Retryable,
		Unanswered: fr.Unanswered, Accepted: fr.AcceptedBytes}
	if fr.Elapsed > 0 {
		rep.Flood.PerSecond = float64(fr.Sent) / fr.Elapsed.Seconds()
	}
	if u := rep.Unloaded.Honest.P99; u > 0 {
		rep.P99Ratio = float64(rep.Flooded.Honest.P99) / float64(u)
	}
	rep.P99Met = rep.P99Ratio > 0 && rep.P99Ratio <= GoalP99Ratio
	rep.Machine.LoadAvgEnd = bench.LoadAvg()
	o.Progressf("stopping nodes")
	return rep, nil
}

// runPhase sends the honest load for o.Duration (with load started
// alongside, if given) and measures the victim.
func runPhase(ctx context.Context, o Options, honest *node.Node, tr *bench.Tracker, doc []byte, dataDir string,
	load func(ctx context.Context) (wait func())) (Phase, error) {
	var ph Phase
	du0, err := hostile.DiskUsage(dataDir)
	if err != nil {
		return ph, err
	}
	ph.HeapStart = liveHeap()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wait func()
	if load != nil {
		wait = load(pctx)
	}
	// Heap sampler: 4 Hz is enough to see a flood's growth and cheap
	// beside it (ReadMemStats briefly stops the world).
	var peak uint64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	cpu0, cpuOK := bench.ProcessCPU()
	start := time.Now()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.HonestRate))
	end := time.After(o.Duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			ph.Sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := honestRequest(ctx, honest, tr, doc, o.Timeout)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				lat = append(lat, d)
			}()
		}
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := bench.ProcessCPU()
	if wait != nil {
		wait()
	}
	cancel()
	<-samplerDone
	if len(errs) > 0 && len(lat) == 0 {
		return ph, fmt.Errorf("honest requests: %w", errors.Join(errs[:min(3, len(errs))]...))
	}
	ph.Honest, ph.Delivered = bench.SummarizeDurations(lat), len(lat)
	du1, err := hostile.DiskUsage(dataDir)
	if err != nil {
		return ph, err
	}
	ph.StoreGrowth = du1 - du0
	ph.StoreGrowthPerMinute = int64(float64(ph.StoreGrowth) / elapsed.Minutes())
	ph.HeapEnd, ph.HeapPeak, ph.RSSEnd = liveHeap(), peak, rss()
	if cpuOK && elapsed > 0 {
		ph.CPU = bench.Duration(cpu1 - cpu0)
		ph.Utilisation = float64(cpu1-cpu0) / (float64(elapsed) * float64(runtime.NumCPU()))
	}
	return ph, nil
}

func honestRequest(ctx context.Context, n *node.Node, tr *bench.Tracker, doc []byte, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	sub, err := n.Cases().Submit(ctx, "bench", doc)
	if err != nil {
		return 0, fmt.Errorf("submit: %w", err)
	}
	at, err := tr.Wait(ctx, sub.MessageID, timeout)
	if err != nil {
		return 0, err
	}
	return at.Sub(t0), nil
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rss reads the process's resident set from /proc (Linux); 0 elsewhere.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// WriteText writes the flood report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(&b, "Vigil flood benchmark, %s: %s floods %s while %s sends %.0f requests/s; in one process\n",
		r.Started.Format(time.RFC3339), r.Hostile, r.Victim, r.Honest, r.HonestRate)
	fmt.Fprintf(&b, "machine: %d CPUs, GOMAXPROCS %d, %s; load average %s at start, %s at end\n",
		m.CPUs, m.GOMAXPROCS, m.GoVersion, m.LoadAvgStart, m.LoadAvgEnd)
	limit := "none configured"
	if r.DeliverLimit > 0 {
		limit = fmt.Sprintf("%.1f envelopes/s per peer", r.DeliverLimit)
	}
	aim := "as fast as possible"
	if r.FloodRate > 0 {
		aim = fmt.Sprintf("%.0f envelopes/s", r.FloodRate)
	}
	fmt.Fprintf(&b, "victim's delivery rate limit: %s; flood aimed at %s; store profile %q; each phase %s\n\n",
		limit, aim, r.StoreProfile, r.Duration)

	fmt.Fprintln(tw, "\tunloaded\tflooded\t")
	fmt.Fprintf(tw, "honest p50 (submit → receipt durable)\t%s\t%s\t\n", r.Unloaded.Honest.P50, r.Flooded.Honest.P50)
	fmt.Fprintf(tw, "honest p99\t%s\t%s\t\n", r.Unloaded.Honest.P99, r.Flooded.Honest.P99)
	fmt.Fprintf(tw, "honest delivered / sent\t%d / %d\t%d / %d\t\n", r.Unloaded.Delivered, r.Unloaded.Sent, r.Flooded.Delivered, r.Flooded.Sent)
	fmt.Fprintf(tw, "victim store growth per minute (disk blocks)\t%s\t%s\t\n", mib(r.Unloaded.StoreGrowthPerMinute), mib(r.Flooded.StoreGrowthPerMinute))
	fmt.Fprintf(tw, "live heap start → end (process, 3 parties)\t%s → %s\t%s → %s\t\n",
		mib(int64(r.Unloaded.HeapStart)), mib(int64(r.Unloaded.HeapEnd)), mib(int64(r.Flooded.HeapStart)), mib(int64(r.Flooded.HeapEnd)))
	fmt.Fprintf(tw, "peak heap in use (process)\t%s\t%s\t\n", mib(int64(r.Unloaded.HeapPeak)), mib(int64(r.Flooded.HeapPeak)))
	fmt.Fprintf(tw, "RSS at end (process)\t%s\t%s\t\n", mib(r.Unloaded.RSSEnd), mib(r.Flooded.RSSEnd))
	fmt.Fprintf(tw, "CPU (process: victim + honest + attacker)\t%.0f%% of %d\t%.0f%% of %d\t\n",
		100*r.Unloaded.Utilisation, m.CPUs, 100*r.Flooded.Utilisation, m.CPUs)
	if err := tw.Flush(); err != nil {
		return err
	}
	f := r.Flood
	codes := make([]string, 0, len(f.Rejected))
	for c := range f.Rejected {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var refusals []string
	for _, c := range codes {
		refusals = append(refusals, fmt.Sprintf("%s %d", c, f.Rejected[c]))
	}
	if len(refusals) == 0 {
		refusals = []string{"none"}
	}
	fmt.Fprintf(&b, "\nflood: %d sent (%.0f/s), %d receipted (%s), refusals: %s (%d retryable), %d unanswered\n",
		f.Sent, f.PerSecond, f.Receipted, mib(f.Accepted), strings.Join(refusals, ", "), f.Retryable, f.Unanswered)
	verdict := "NOT MET"
	if r.P99Met {
		verdict = "MET"
	}
	fmt.Fprintf(&b, "GOAL honest p99 under flood ≤ %.0f× unloaded: %.2f× — %s\n", GoalP99Ratio, r.P99Ratio, verdict)
	fmt.Fprintf(&b, "note: the three parties share one process, so heap, RSS and CPU are the process's; the victim's own\n"+
		"footprint is bounded by them, and its store growth is its data dir alone.\n")
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
