// Package federation measures a whole federation on one machine (`vigil
// testnet bench`): the floor (node/bench's two-node latency floor, an idle
// libp2p host and one node alone, each in its own process), boot time to
// all-healthy, time to a full mesh, memory and idle CPU per node,
// reachability drills from a few nodes to all others, roster-update
// propagation, delivery latency under steady background load and a clean
// shutdown. Every number comes from real child processes on 127.0.0.1
// (node/testnet's Cluster) and the nodes' own APIs.
package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/testnet"
)

// Options configures Run. Zero values take the defaults in brackets, the
// values of DefaultOptions.
type Options struct {
	// Nodes is the size of a new testnet.
	Nodes int
	// Dir is an initialised testnet to run; empty creates one (Transport)
	// in a temporary directory under Parent, removed afterwards unless Keep.
	Dir       string
	Parent    string
	Keep      bool
	Transport string
	// Exe is the vigil binary the nodes run.
	Exe string
	// PerProcess is how many nodes share a process (0: NodesPerProcess).
	PerProcess int
	// BootParallel is how many processes start at once [8].
	BootParallel int
	// MeshTimeout bounds the wait for a full mesh [5m].
	MeshTimeout time.Duration
	// Settle is the wait after the full mesh before sampling memory and
	// idle CPU [20s]; CPUWindow the idle CPU sample [20s].
	Settle, CPUWindow time.Duration
	// Drills is how many reachability drills to run [3].
	Drills int
	// Senders submit Rate requests/s each for LoadFor [8, 2, 30s].
	Senders int
	Rate    float64
	LoadFor time.Duration
	// Examples is the directory of the example requests; empty skips the
	// load phase.
	Examples string
	// Progress receives a line per step (may be nil).
	Progress io.Writer
}

// DefaultOptions is what Run uses for options left zero; `vigil testnet
// bench`'s flags start from it.
func DefaultOptions() Options {
	return Options{BootParallel: 8, MeshTimeout: 5 * time.Minute, Settle: 20 * time.Second, CPUWindow: 20 * time.Second,
		Drills: 3, Senders: 8, Rate: 2, LoadFor: 30 * time.Second}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	bench.SetDefault(&o.BootParallel, d.BootParallel)
	bench.SetDefault(&o.MeshTimeout, d.MeshTimeout)
	bench.SetDefault(&o.Settle, d.Settle)
	bench.SetDefault(&o.CPUWindow, d.CPUWindow)
	bench.SetDefault(&o.Drills, d.Drills)
	bench.SetDefault(&o.Senders, d.Senders)
	bench.SetDefault(&o.Rate, d.Rate)
	bench.SetDefault(&o.LoadFor, d.LoadFor)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// ProcMem is one process's memory as the kernel reports it, in MiB.
type ProcMem struct {
	RSS, Anon, File, PSS float64
	Threads              int
}

// Report is what Run measured.
type Report struct {
	Machine struct {
		CPU        string `json:"cpu"`
		CPUs       int    `json:"cpus"`
		MemTotal   string `json:"mem_total"`
		Kernel     string `json:"kernel"`
		Go         string `json:"go"`
		FDLimit    int    `json:"fd_limit"`
		LoadStart  string `json:"load_start"`
		LoadEnd    string `json:"load_end"`
		ChildEnv   string `json:"child_env"`
		StartedAt  string `json:"started_at"`
		Dir        string `json:"dir"`
		Transports string `json:"transport"`
	} `json:"machine"`
	Nodes      int `json:"nodes"`
	Processes  int `json:"processes"`
	PerProcess int `json:"nodes_per_process"`

	Floor struct {
		IdleHostMiB   ProcMem `json:"idle_host_mib"`
		OneNodeMiB    ProcMem `json:"one_node_mib"`
		OneNodeBootMs float64 `json:"one_node_boot_ms"`
		OneNodeCPU    float64 `json:"one_node_cpu_cores"`
		// Latency is node/bench's two-node floor: fsync, a warm libp2p
		// round trip and a request's crypto, and the request floor of
		// 2×fsync + round trip + crypto (as `vigil bench` reports it).
		Latency *bench.Floor `json:"latency,omitempty"`
	} `json:"floor"`

	BootAllHealthyS float64              `json:"boot_all_healthy_s"`
	NodeBootMs      bench.Stats[float64] `json:"node_boot_ms"`
	MeshAfterBootS  float64              `json:"mesh_after_boot_s"`
	MeshTotalS      float64              `json:"mesh_total_s"`
	MeshComplete    int                  `json:"mesh_complete_nodes"`
	TCPConns        int                  `json:"tcp_connections"`
	TCPConnsWant    int                  `json:"tcp_connections_full_mesh"`

	ProcRSSMiB  bench.Stats[float64] `json:"process_rss_mib"`
	RSSMiB      bench.Stats[float64] `json:"rss_mib"`
	AnonMiB     bench.Stats[float64] `json:"rss_anon_mib"`
	FileMiB     bench.Stats[float64] `json:"rss_file_mib"`
	PSSMiB      bench.Stats[float64] `json:"pss_mib"`
	Threads     bench.Stats[float64] `json:"threads"`
	IdleCPU     float64              `json:"idle_cpu_cores"`
	MemUsedGiB  float64              `json:"machine_mem_used_delta_gib"`
	MemAvailGiB float64              `json:"machine_mem_available_gib"`

	Drills []DrillSample `json:"drills"`

	RosterSerial     uint64  `json:"roster_serial"`
	RosterAllS       float64 `json:"roster_propagation_s"`
	RosterP50S       float64 `json:"roster_propagation_p50_s"`
	RosterNodesAtEnd int     `json:"roster_nodes_updated"`
	// From the nodes' own logs: each node's "applied new roster" time
	// after the first node applied it (same machine, same clock). The
	// polled times above add the HTTP polling round of a busy machine.
	RosterLogAllS float64 `json:"roster_propagation_logged_s"`
	RosterLogP50S float64 `json:"roster_propagation_logged_p50_s"`
	RosterLogged  int     `json:"roster_nodes_logged"`

	Load Load `json:"load"`

	ShutdownS float64  `json:"shutdown_s"`
	Orphans   int      `json:"orphans"`
	Errors    []string `json:"errors,omitempty"`
}

// Load is the load phase: Senders × RatePerS requests/s for DurationS.
type Load struct {
	Senders      int                  `json:"senders"`
	RatePerS     float64              `json:"rate_per_sender"`
	DurationS    float64              `json:"duration_s"`
	Submitted    int                  `json:"submitted"`
	Delivered    int                  `json:"delivered"`
	SubmitMs     bench.Stats[float64] `json:"submit_ms"`
	DeliveredMs  bench.Stats[float64] `json:"submit_to_delivered_ms"`
	ReceiverMs   bench.Stats[float64] `json:"submit_to_durable_at_receiver_ms"`
	Imprecise    int                  `json:"delivered_without_event"`
	Verified     int                  `json:"receipts_verified"`
	CPU          float64              `json:"cpu_cores"`
	SubmitErrors int                  `json:"submit_errors"`
}

// DrillSample is one reachability drill run through the node's API.
type DrillSample struct {
	From      string               `json:"from"`
	WallMs    float64              `json:"wall_ms"`
	Reachable int                  `json:"reachable"`
	Targets   int                  `json:"targets"`
	RTTMs     bench.Stats[float64] `json:"rtt_ms"`
	Error     string               `json:"error,omitempty"`
}

func (b *Report) fail(format string, a ...any) {
	b.Errors = append(b.Errors, fmt.Sprintf(format, a...))
}

// Run runs the measurements. It always stops every node it started.
// Failed measurements are in the report's Errors; the error is for a run
// that could not go on (the testnet would not start, ctx ended).
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	r := &runner{o: o, rep: &Report{Nodes: o.Nodes}}
	machineInfo(r.rep)
	r.memAvail0 = memAvailable()

	dir := o.Dir
	if dir == "" {
		if o.Nodes < 2 {
			return nil, errors.New("bench: --nodes must be at least 2")
		}
		var err error
		if dir, err = os.MkdirTemp(o.Parent, "vigil-bench-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
		transport := o.Transport
		if transport == "" {
			transport = "tcp"
		}
		r.say("creating a %d-node testnet (%s) in %s", o.Nodes, transport, dir)
		if _, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: o.Nodes, Transport: o.Transport, LoadLimits: true}); err != nil {
			return nil, err
		}
	}
	r.rep.Machine.Dir = dir
	c, err := testnet.NewCluster(dir, o.Exe)
	if err != nil {
		return nil, err
	}
	r.c = c
	r.rep.Nodes = len(c.M.Nodes)
	r.rep.Machine.Transports = transportsOf(c)
	defer func() {
		if len(c.Running()) > 0 {
			c.KillAll()
		}
	}()

	if err := r.floor(ctx, dir); err != nil {
		return r.rep, err
	}
	if err := r.boot(ctx); err != nil {
		return r.rep, err
	}
	for _, phase := range []func(context.Context){r.steadyState, r.drills, r.roster, r.load} {
		if err := ctx.Err(); err != nil {
			return r.rep, err
		}
		phase(ctx)
	}
	r.shutdown()
	return r.rep, nil
}

// runner holds one Run's testnet and report; its methods are the phases.
type runner struct {
	o   Options
	c   *testnet.Cluster
	rep *Report
	// memAvail0 is the machine's available memory (MiB) before the run:
	// the steady state reports what the testnet took of it.
	memAvail0 float64
}

// say writes a progress line.
func (r *runner) say(format string, a ...any) {
	fmt.Fprintf(r.o.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// floor measures what the testnet is compared with, before it runs: the
// latency floor (two nodes in one process), an idle libp2p host alone in
// a process, then the first node alone.
func (r *runner) floor(ctx context.Context, dir string) error {
	rep := &r.rep.Floor
	r.say("floor: fsync, libp2p round trip and crypto (two nodes in one process)")
	if f, err := bench.MeasureFloor(ctx, dir, 200); err != nil {
		r.rep.fail("latency floor: %v", err)
	} else {
		rep.Latency = f
		r.say("floor: fsync p50 %.2f ms, round trip p50 %.3f ms, crypto p50 %.3f ms; request floor %.2f ms",
			f.Fsync.P50.Ms(), f.RoundTrip.P50.Ms(), f.Crypto.P50.Ms(), f.Latency.Ms())
	}
	r.say("floor: idle libp2p host process")
	if m, err := idleHostMem(ctx, r.o.Exe, r.rep.Machine.Transports); err != nil {
		r.rep.fail("idle host: %v", err)
	} else {
		rep.IdleHostMiB = m
	}
	first := r.c.M.Nodes[0].Country
	r.say("floor: %s alone (the other %d members down)", first, r.rep.Nodes-1)
	d, err := r.c.StartNode(ctx, first)
	if err != nil {
		return err
	}
	rep.OneNodeBootMs = bench.Duration(d).Ms()
	time.Sleep(3 * time.Second)
	if p := r.c.Proc(first); p != nil {
		rep.OneNodeMiB, _ = procMem(p.Pid())
		rep.OneNodeCPU = cpuCores([]int{p.Pid()}, 5*time.Second)
	}
	return nil
}

// boot starts the other nodes, times each until healthy, then waits for
// the full mesh: every node showing every other member connected.
func (r *runner) boot(ctx context.Context) error {
	c, rep := r.c, r.rep
	c.PerProcess = r.o.PerProcess
	if c.PerProcess <= 0 {
		c.PerProcess = testnet.NodesPerProcess(rep.Nodes)
	}
	rep.PerProcess = c.PerProcess
	r.say("booting %d more nodes, %d per process, %d processes at a time", rep.Nodes-1, c.PerProcess, r.o.BootParallel)
	t0 := time.Now()
	took, err := c.StartAll(ctx, r.o.BootParallel)
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	bootDone := time.Now()
	rep.BootAllHealthyS = bootDone.Sub(t0).Seconds()
	var boots []float64
	for _, d := range took {
		boots = append(boots, bench.Duration(d).Ms())
	}
	rep.NodeBootMs = bench.Summarize(boots)
	r.say("all %d nodes healthy after %.1f s (per node p50 %.0f ms, max %.0f ms)", rep.Nodes, rep.BootAllHealthyS, rep.NodeBootMs.P50, rep.NodeBootMs.Max)

	meshDone, complete := waitMesh(ctx, c, r.o.MeshTimeout, r.say)
	rep.MeshComplete = complete
	if complete == rep.Nodes {
		rep.MeshAfterBootS = meshDone.Sub(bootDone).Seconds()
		rep.MeshTotalS = meshDone.Sub(t0).Seconds()
		r.say("full mesh %.1f s after all-healthy (%.1f s after the boot began)", rep.MeshAfterBootS, rep.MeshTotalS)
	} else {
		rep.fail("full mesh: only %d of %d nodes saw every member within %s", complete, rep.Nodes, r.o.MeshTimeout)
		r.say("full mesh NOT reached: %d of %d nodes complete", complete, rep.Nodes)
	}
	if strings.Contains(rep.Machine.Transports, "tcp") {
		rep.TCPConns, _ = countTCPMesh(c)
		rep.TCPConnsWant = rep.Nodes * (rep.Nodes - 1) / 2
	}
	return nil
}

// steadyState samples memory per node and idle CPU once the mesh settled.
func (r *runner) steadyState(ctx context.Context) {
	rep := r.rep
	r.say("settling %s, then sampling memory and idle CPU for %s", r.o.Settle, r.o.CPUWindow)
	sleepCtx(ctx, r.o.Settle)
	procs := r.c.Processes()
	pids := make([]int, 0, len(procs))
	rep.Processes = len(procs)
	// Per node: a process's memory divided among the nodes it runs.
	var rss, anon, file, pss, thr, prss []float64
	for p, k := range procs {
		pids = append(pids, p.Pid())
		m, err := procMem(p.Pid())
		if err != nil {
			continue
		}
		prss = append(prss, m.RSS)
		kf := float64(k)
		for range k {
			rss, anon, file, pss = append(rss, m.RSS/kf), append(anon, m.Anon/kf), append(file, m.File/kf), append(pss, m.PSS/kf)
			thr = append(thr, float64(m.Threads)/kf)
		}
	}
	rep.ProcRSSMiB = bench.Summarize(prss)
	rep.RSSMiB, rep.AnonMiB, rep.FileMiB = bench.Summarize(rss), bench.Summarize(anon), bench.Summarize(file)
	rep.PSSMiB, rep.Threads = bench.Summarize(pss), bench.Summarize(thr)
	rep.IdleCPU = cpuCores(pids, r.o.CPUWindow)
	rep.MemAvailGiB = memAvailable() / 1024
	rep.MemUsedGiB = (r.memAvail0 - memAvailable()) / 1024
	r.say("RSS per node p50 %.1f MiB (anon %.1f, PSS %.1f), max %.1f MiB; idle CPU %.2f cores", rep.RSSMiB.P50, rep.AnonMiB.P50, rep.PSSMiB.P50, rep.RSSMiB.Max, rep.IdleCPU)
}

// drills runs reachability drills from nodes spread over the roster.
func (r *runner) drills(ctx context.Context) {
	nodes := r.c.M.Nodes
	for i := 0; i < r.o.Drills; i++ {
		from := nodes[(i*len(nodes)/r.o.Drills)%len(nodes)].Country
		s := runDrill(ctx, r.c, from)
		r.rep.Drills = append(r.rep.Drills, s)
		if s.Error != "" {
			r.say("drill from %s: %s", from, s.Error)
		} else {
			r.say("drill from %s: %d/%d reachable in %.0f ms (rtt p50 %.1f ms, max %.1f ms)", from, s.Reachable, s.Targets, s.WallMs, s.RTTMs.P50, s.RTTMs.Max)
		}
		sleepCtx(ctx, 2*time.Second)
	}
}

// roster signs serial+1, posts it to the first node and times its spread.
func (r *runner) roster(ctx context.Context) {
	first := r.c.M.Nodes[0].Country
	r.say("roster: pushing serial+1 to %s", first)
	if err := measureRoster(ctx, r.c, first, r.rep); err != nil {
		r.rep.fail("roster propagation: %v", err)
	} else {
		r.say("roster serial %d on all %d nodes after %.2f s (p50 %.2f s)", r.rep.RosterSerial, r.rep.RosterNodesAtEnd, r.rep.RosterAllS, r.rep.RosterP50S)
	}
}

// load times delivery under steady background load (load.go).
func (r *runner) load(ctx context.Context) {
	if r.o.Examples == "" {
		return
	}
	r.say("load: %d senders × %.1f requests/s for %s", r.o.Senders, r.o.Rate, r.o.LoadFor)
	if err := measureLoad(ctx, r.c, r.o, r.rep); err != nil {
		r.rep.fail("load: %v", err)
	}
	l := &r.rep.Load
	r.say("load: %d/%d delivered; submit→delivered p50 %.1f ms, p99 %.1f ms; CPU %.2f cores", l.Delivered, l.Submitted, l.DeliveredMs.P50, l.DeliveredMs.P99, l.CPU)
}

// shutdown stops every node with SIGTERM and checks none is left.
func (r *runner) shutdown() {
	r.say("stopping all nodes (SIGTERM)")
	ts := time.Now()
	if err := r.c.StopAll(32, 30*time.Second); err != nil {
		r.rep.fail("shutdown: %v", err)
	}
	r.rep.ShutdownS = time.Since(ts).Seconds()
	time.Sleep(200 * time.Millisecond)
	r.rep.Orphans = len(r.c.Orphans())
	r.rep.Machine.LoadEnd = bench.LoadAvg()
	r.say("stopped in %.1f s; %d orphan processes", r.rep.ShutdownS, r.rep.Orphans)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
