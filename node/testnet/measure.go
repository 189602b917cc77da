package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/vigil-network/vigil/node"
)

// Bench measures a whole federation on one machine (`vigil testnet bench`):
// the floor (an idle libp2p host and one node alone, each in its own
// process), boot time to all-healthy, time to a full mesh, memory and idle
// CPU per node, a reachability drill from one node to all others,
// roster-update propagation, delivery latency under steady background load
// and a clean shutdown. Every number comes from real child processes on
// 127.0.0.1 and the nodes' own APIs.

// BenchOptions configures Bench.
type BenchOptions struct {
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
	// BootParallel is how many processes start at once (default 8).
	BootParallel int
	// MeshTimeout bounds the wait for a full mesh (default 5m).
	MeshTimeout time.Duration
	// Settle is the wait after the full mesh before sampling memory and
	// idle CPU (default 20s); CPUWindow the idle CPU sample (default 20s).
	Settle, CPUWindow time.Duration
	// Drills is how many reachability drills to run (default 3).
	Drills int
	// Senders submit Rate requests/s each for LoadFor (defaults 8, 2, 30s).
	Senders int
	Rate    float64
	LoadFor time.Duration
	// Examples is the directory of the example requests.
	Examples string
	// Progress receives a line per step (may be nil).
	Progress io.Writer
	// LatencyFloor, if set, measures the latency floor under dir before
	// any node starts (vigil wires node/bench's two-node floor here;
	// node/bench imports this package, so it cannot be called directly).
	LatencyFloor func(ctx context.Context, dir string) (LatencyFloor, error)
}

// LatencyFloor is what a request or a drill ping cannot go below on this
// machine, measured in the same run with the machine still quiet: one
// fsync of 4 KiB, one libp2p round trip on a warm loopback stream, and a
// request's cryptography (seal, open, sign and verify the receipt).
type LatencyFloor struct {
	FsyncMs     Stats `json:"fsync_ms"`
	RoundTripMs Stats `json:"round_trip_ms"`
	CryptoMs    Stats `json:"crypto_ms"`
	// RequestMs is 2×fsync + round trip + crypto (p50s): one durable
	// write at each end, one exchange, the cryptography.
	RequestMs float64 `json:"request_ms"`
}

func (o *BenchOptions) defaults() {
	if o.BootParallel <= 0 {
		o.BootParallel = 8
	}
	if o.MeshTimeout <= 0 {
		o.MeshTimeout = 5 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 20 * time.Second
	}
	if o.CPUWindow <= 0 {
		o.CPUWindow = 20 * time.Second
	}
	if o.Drills <= 0 {
		o.Drills = 3
	}
	if o.Senders <= 0 {
		o.Senders = 8
	}
	if o.Rate <= 0 {
		o.Rate = 2
	}
	if o.LoadFor <= 0 {
		o.LoadFor = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Stats summarises samples.
type Stats struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Sum  float64 `json:"sum"`
}

func summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s)) + 0.5)
		if i >= len(s) {
			i = len(s) - 1
		}
		if i > 0 && p*float64(len(s)) <= float64(i) {
			i-- // nearest rank
		}
		return s[i]
	}
	st := Stats{N: len(s), Min: s[0], Max: s[len(s)-1], P50: q(0.50), P90: q(0.90), P99: q(0.99)}
	for _, x := range s {
		st.Sum += x
	}
	st.Mean = st.Sum / float64(len(s))
	return st
}

// ProcMem is one process's memory as the kernel reports it, in MiB.
type ProcMem struct {
	RSS, Anon, File, PSS float64
	Threads              int
}

// BenchReport is what Bench measured.
type BenchReport struct {
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
		IdleHostMiB   ProcMem       `json:"idle_host_mib"`
		OneNodeMiB    ProcMem       `json:"one_node_mib"`
		OneNodeBootMs float64       `json:"one_node_boot_ms"`
		OneNodeCPU    float64       `json:"one_node_cpu_cores"`
		Latency       *LatencyFloor `json:"latency,omitempty"`
	} `json:"floor"`

	BootAllHealthyS float64 `json:"boot_all_healthy_s"`
	NodeBootMs      Stats   `json:"node_boot_ms"`
	MeshAfterBootS  float64 `json:"mesh_after_boot_s"`
	MeshTotalS      float64 `json:"mesh_total_s"`
	MeshComplete    int     `json:"mesh_complete_nodes"`
	TCPConns        int     `json:"tcp_connections"`
	TCPConnsWant    int     `json:"tcp_connections_full_mesh"`

	ProcRSSMiB  Stats   `json:"process_rss_mib"`
	RSSMiB      Stats   `json:"rss_mib"`
	AnonMiB     Stats   `json:"rss_anon_mib"`
	FileMiB     Stats   `json:"rss_file_mib"`
	PSSMiB      Stats   `json:"pss_mib"`
	Threads     Stats   `json:"threads"`
	IdleCPU     float64 `json:"idle_cpu_cores"`
	MemUsedGiB  float64 `json:"machine_mem_used_delta_gib"`
	MemAvailGiB float64 `json:"machine_mem_available_gib"`

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

	Load struct {
		Senders      int     `json:"senders"`
		RatePerS     float64 `json:"rate_per_sender"`
		DurationS    float64 `json:"duration_s"`
		Submitted    int     `json:"submitted"`
		Delivered    int     `json:"delivered"`
		SubmitMs     Stats   `json:"submit_ms"`
		DeliveredMs  Stats   `json:"submit_to_delivered_ms"`
		ReceiverMs   Stats   `json:"submit_to_durable_at_receiver_ms"`
		Imprecise    int     `json:"delivered_without_event"`
		Verified     int     `json:"receipts_verified"`
		CPU          float64 `json:"cpu_cores"`
		SubmitErrors int     `json:"submit_errors"`
	} `json:"load"`

	ShutdownS float64  `json:"shutdown_s"`
	Orphans   int      `json:"orphans"`
	Errors    []string `json:"errors,omitempty"`
}

// DrillSample is one reachability drill run through the node's API.
type DrillSample struct {
	From      string  `json:"from"`
	WallMs    float64 `json:"wall_ms"`
	Reachable int     `json:"reachable"`
	Targets   int     `json:"targets"`
	RTTMs     Stats   `json:"rtt_ms"`
	Error     string  `json:"error,omitempty"`
}

func (b *BenchReport) fail(format string, a ...any) {
	b.Errors = append(b.Errors, fmt.Sprintf(format, a...))
}

// Bench runs the measurements. It always stops every node it started.
func Bench(ctx context.Context, o BenchOptions) (rep *BenchReport, err error) {
	o.defaults()
	rep = &BenchReport{Nodes: o.Nodes}
	say := func(format string, a ...any) {
		fmt.Fprintf(o.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	machineInfo(rep)
	memAvail0 := memAvailable()

	dir := o.Dir
	if dir == "" {
		if o.Nodes < 2 {
			return nil, errors.New("bench: --nodes must be at least 2")
		}
		if dir, err = os.MkdirTemp(o.Parent, "vigil-bench-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
		say("creating a %d-node testnet (%s) in %s", o.Nodes, orDefault(o.Transport, "tcp"), dir)
		if _, err := Init(InitOptions{Dir: dir, Nodes: o.Nodes, Transport: o.Transport, LoadLimits: true}); err != nil {
			return nil, err
		}
	}
	rep.Machine.Dir = dir
	c, err := NewCluster(dir, o.Exe)
	if err != nil {
		return nil, err
	}
	rep.Nodes = len(c.M.Nodes)
	rep.Machine.Transports = transportsOf(c)
	defer func() {
		if len(c.Running()) > 0 {
			c.KillAll()
		}
	}()

	// Floor: latency parts, an idle libp2p host alone in a process, then
	// node 1 alone.
	if o.LatencyFloor != nil {
		say("floor: fsync, libp2p round trip and crypto (two nodes in one process)")
		if f, err := o.LatencyFloor(ctx, dir); err != nil {
			rep.fail("latency floor: %v", err)
		} else {
			rep.Floor.Latency = &f
			say("floor: fsync p50 %.2f ms, round trip p50 %.3f ms, crypto p50 %.3f ms; request floor %.2f ms",
				f.FsyncMs.P50, f.RoundTripMs.P50, f.CryptoMs.P50, f.RequestMs)
		}
	}
	say("floor: idle libp2p host process")
	if m, err := idleHostMem(ctx, o.Exe, rep.Machine.Transports); err != nil {
		rep.fail("idle host: %v", err)
	} else {
		rep.Floor.IdleHostMiB = m
	}
	first := c.M.Nodes[0].Country
	say("floor: %s alone (the other %d members down)", first, rep.Nodes-1)
	d, err := c.StartNode(ctx, first)
	if err != nil {
		return rep, err
	}
	rep.Floor.OneNodeBootMs = ms(d)
	time.Sleep(3 * time.Second)
	if p := c.Proc(first); p != nil {
		rep.Floor.OneNodeMiB, _ = procMem(p.Pid())
		rep.Floor.OneNodeCPU = cpuCores([]int{p.Pid()}, 5*time.Second)
	}

	// Boot the rest.
	c.PerProcess = o.PerProcess
	if c.PerProcess <= 0 {
		c.PerProcess = NodesPerProcess(rep.Nodes)
	}
	rep.PerProcess = c.PerProcess
	say("booting %d more nodes, %d per process, %d processes at a time", rep.Nodes-1, c.PerProcess, o.BootParallel)
	t0 := time.Now()
	took, err := c.StartAll(ctx, o.BootParallel)
	if err != nil {
		return rep, fmt.Errorf("boot: %w", err)
	}
	bootDone := time.Now()
	rep.BootAllHealthyS = bootDone.Sub(t0).Seconds()
	var boots []float64
	for _, d := range took {
		boots = append(boots, ms(d))
	}
	rep.NodeBootMs = summarize(boots)
	say("all %d nodes healthy after %.1f s (per node p50 %.0f ms, max %.0f ms)", rep.Nodes, rep.BootAllHealthyS, rep.NodeBootMs.P50, rep.NodeBootMs.Max)

	// Full mesh: every node shows every other member connected.
	meshDone, complete := waitMesh(ctx, c, o.MeshTimeout, say)
	rep.MeshComplete = complete
	if complete == rep.Nodes {
		rep.MeshAfterBootS = meshDone.Sub(bootDone).Seconds()
		rep.MeshTotalS = meshDone.Sub(t0).Seconds()
		say("full mesh %.1f s after all-healthy (%.1f s after the boot began)", rep.MeshAfterBootS, rep.MeshTotalS)
	} else {
		rep.fail("full mesh: only %d of %d nodes saw every member within %s", complete, rep.Nodes, o.MeshTimeout)
		say("full mesh NOT reached: %d of %d nodes complete", complete, rep.Nodes)
	}
	if strings.Contains(rep.Machine.Transports, "tcp") {
		rep.TCPConns, _ = countTCPMesh(c)
		rep.TCPConnsWant = rep.Nodes * (rep.Nodes - 1) / 2
	}

	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// Steady state: memory and idle CPU.
	say("settling %s, then sampling memory and idle CPU for %s", o.Settle, o.CPUWindow)
	sleepCtx(ctx, o.Settle)
	pids := c.pids()
	rep.Processes = len(pids)
	// Per node: a process's memory divided among the nodes it runs.
	var rss, anon, file, pss, thr, prss []float64
	for p, k := range c.groupSizes() {
		m, err := procMem(p.Pid())
		if err != nil {
			continue
		}
		prss = append(prss, m.RSS)
		for i := 0; i < k; i++ {
			kf := float64(k)
			rss, anon, file, pss, thr = append(rss, m.RSS/kf), append(anon, m.Anon/kf), append(file, m.File/kf), append(pss, m.PSS/kf), append(thr, float64(m.Threads)/kf)
		}
	}
	rep.ProcRSSMiB = summarize(prss)
	rep.RSSMiB, rep.AnonMiB, rep.FileMiB, rep.PSSMiB, rep.Threads = summarize(rss), summarize(anon), summarize(file), summarize(pss), summarize(thr)
	rep.IdleCPU = cpuCores(pids, o.CPUWindow)
	rep.MemAvailGiB = memAvailable() / 1024
	rep.MemUsedGiB = (memAvail0 - memAvailable()) / 1024
	say("RSS per node p50 %.1f MiB (anon %.1f, PSS %.1f), max %.1f MiB; idle CPU %.2f cores", rep.RSSMiB.P50, rep.AnonMiB.P50, rep.PSSMiB.P50, rep.RSSMiB.Max, rep.IdleCPU)

	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// Reachability drills from a few nodes.
	for i := 0; i < o.Drills; i++ {
		from := c.M.Nodes[(i*len(c.M.Nodes)/o.Drills)%len(c.M.Nodes)].Country
		s := runDrill(ctx, c, from)
		rep.Drills = append(rep.Drills, s)
		if s.Error != "" {
			say("drill from %s: %s", from, s.Error)
		} else {
			say("drill from %s: %d/%d reachable in %.0f ms (rtt p50 %.1f ms, max %.1f ms)", from, s.Reachable, s.Targets, s.WallMs, s.RTTMs.P50, s.RTTMs.Max)
		}
		sleepCtx(ctx, 2*time.Second)
	}

	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// Roster update: sign serial+1, post to one node, poll everyone.
	say("roster: pushing serial+1 to %s", first)
	if err := measureRoster(ctx, c, first, rep); err != nil {
		rep.fail("roster propagation: %v", err)
	} else {
		say("roster serial %d on all %d nodes after %.2f s (p50 %.2f s)", rep.RosterSerial, rep.RosterNodesAtEnd, rep.RosterAllS, rep.RosterP50S)
	}

	if err := ctx.Err(); err != nil {
		return rep, err
	}
	// Delivery latency under steady background load.
	if o.Examples != "" {
		say("load: %d senders × %.1f requests/s for %s", o.Senders, o.Rate, o.LoadFor)
		if err := measureLoad(ctx, c, o, rep); err != nil {
			rep.fail("load: %v", err)
		}
		l := &rep.Load
		say("load: %d/%d delivered; submit→delivered p50 %.1f ms, p99 %.1f ms; CPU %.2f cores", l.Delivered, l.Submitted, l.DeliveredMs.P50, l.DeliveredMs.P99, l.CPU)
	}

	// Clean shutdown.
	say("stopping all nodes (SIGTERM)")
	ts := time.Now()
	if err := c.StopAll(32, 30*time.Second); err != nil {
		rep.fail("shutdown: %v", err)
	}
	rep.ShutdownS = time.Since(ts).Seconds()
	time.Sleep(200 * time.Millisecond)
	rep.Orphans = len(c.Orphans())
	rep.Machine.LoadEnd = loadAvg()
	say("stopped in %.1f s; %d orphan processes", rep.ShutdownS, rep.Orphans)
	return rep, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// groupSizes maps each running process to the number of nodes it runs.
func (c *Cluster) groupSizes() map[*Process]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[*Process]int{}
	for _, p := range c.procs {
		if !p.Exited() {
			out[p]++
		}
	}
	return out
}

func (c *Cluster) pids() []int {
	var out []int
	for _, p := range c.processes() {
		out = append(out, p.Pid())
	}
	return out
}

// transportsOf reads the first node's transports setting.
func transportsOf(c *Cluster) string {
	cfg, err := node.LoadConfig(c.M.Nodes[0].Config)
	if err != nil {
		return "?"
	}
	return strings.Join(cfg.Transports, "+")
}

// waitMesh polls GET /api/v1/peers on every node until each shows all
// other members connected. Nodes drop out of the poll once complete.
func waitMesh(ctx context.Context, c *Cluster, timeout time.Duration, say func(string, ...any)) (time.Time, int) {
	want := len(c.M.Nodes) - 1
	pending := map[string]bool{}
	for _, e := range c.M.Nodes {
		pending[e.Country] = true
	}
	deadline := time.Now().Add(timeout)
	lastSay := time.Now()
	var done time.Time
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			sem = make(chan struct{}, 8)
			min = want
		)
		for cc := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				p, err := c.Peers(ctx, cc)
				if err != nil {
					return
				}
				n := p.Connected()
				mu.Lock()
				defer mu.Unlock()
				if n >= want {
					delete(pending, cc)
					done = time.Now()
				} else if n < min {
					min = n
				}
			}()
		}
		wg.Wait()
		if time.Since(lastSay) > 10*time.Second {
			say("mesh: %d nodes still incomplete (least connected: %d/%d)", len(pending), min, want)
			lastSay = time.Now()
		}
		if len(pending) > 0 {
			sleepCtx(ctx, 250*time.Millisecond)
		}
	}
	return done, len(c.M.Nodes) - len(pending)
}

// countTCPMesh counts established TCP connections between the nodes'
// libp2p ports: a full mesh without duplicates has n(n-1)/2.
func countTCPMesh(c *Cluster) (int, error) {
	ports := map[int]bool{}
	for _, e := range c.M.Nodes {
		cfg, err := node.LoadConfig(e.Config)
		if err != nil {
			return 0, err
		}
		for _, a := range cfg.Listen {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				continue
			}
			if v, err := m.ValueForProtocol(ma.P_TCP); err == nil {
				p, _ := strconv.Atoi(v)
				ports[p] = true
			}
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	conns := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "01" { // ESTABLISHED
			continue
		}
		if !ports[hexPort(f[1])] && !ports[hexPort(f[2])] {
			continue
		}
		// Both ends of a loopback connection are listed; count the pair once.
		k := f[1] + "-" + f[2]
		if f[2] < f[1] {
			k = f[2] + "-" + f[1]
		}
		conns[k] = true
	}
	return len(conns), nil
}

func hexPort(addr string) int {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(p, 16, 32)
	return int(v)
}

// procMem reads /proc/PID/status and smaps_rollup.
func procMem(pid int) (ProcMem, error) {
	var m ProcMem
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			m.RSS = n / 1024
		case "RssAnon":
			m.Anon = n / 1024
		case "RssFile":
			m.File = n / 1024
		case "Threads":
			m.Threads = int(n)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					n, _ := strconv.ParseFloat(f[0], 64)
					m.PSS = n / 1024
				}
			}
		}
	}
	return m, nil
}

// cpuTicks is utime+stime of a process in clock ticks.
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, true
}

// cpuCores is the CPU the processes used over window, in cores (Linux
// reports ticks of 1/100 s to user space).
func cpuCores(pids []int, window time.Duration) float64 {
	before := map[int]int64{}
	for _, p := range pids {
		if t, ok := cpuTicks(p); ok {
			before[p] = t
		}
	}
	t0 := time.Now()
	time.Sleep(window)
	var sum int64
	for p, b := range before {
		if t, ok := cpuTicks(p); ok {
			sum += t - b
		}
	}
	return float64(sum) / 100 / time.Since(t0).Seconds()
}

func memAvailable() float64 { // MiB
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			n, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return n / 1024
		}
	}
	return 0
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

func machineInfo(rep *BenchReport) {
	m := &rep.Machine
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	m.CPUs = runtime.NumCPU()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Go = runtime.Version()
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		m.FDLimit = int(l.Max)
	}
	m.LoadStart = loadAvg()
	m.ChildEnv = strings.Join(effectiveChildEnv(), " ")
	m.StartedAt = time.Now().UTC().Format(time.RFC3339)
}

func effectiveChildEnv() []string {
	var out []string
	for _, kv := range ChildEnv {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// idleHostMem starts `exe testnet floor-host` (a bare libp2p host on
// 127.0.0.1 in its own process, with the testnet children's environment)
// and reads its memory once it has idled for 3 s.
func idleHostMem(ctx context.Context, exe, transports string) (ProcMem, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "testnet", "floor-host", "--transport", strings.ReplaceAll(transports, "+", ","))
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return ProcMem{}, err
	}
	if err := cmd.Start(); err != nil {
		return ProcMem{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		return ProcMem{}, fmt.Errorf("floor host did not start: %q %v", line, err)
	}
	time.Sleep(3 * time.Second)
	return procMem(cmd.Process.Pid)
}

// runDrill runs POST /api/v1/drills/reachability on one node.
func runDrill(ctx context.Context, c *Cluster, from string) DrillSample {
	s := DrillSample{From: from}
	var run struct {
		Results []struct {
			Country   string  `json:"country"`
			Reachable bool    `json:"reachable"`
			RTTMillis float64 `json:"rtt_ms"`
			Error     string  `json:"error"`
		} `json:"results"`
	}
	t0 := time.Now()
	err := c.Call(ctx, from, "POST", "/api/v1/drills/reachability", []byte("{}"), &run)
	s.WallMs = ms(time.Since(t0))
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		s.Error = "this build has no drill API (POST /api/v1/drills/reachability)"
		return s
	}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	var rtts []float64
	for _, r := range run.Results {
		s.Targets++
		if r.Reachable {
			s.Reachable++
			rtts = append(rtts, r.RTTMillis)
		}
	}
	s.RTTMs = summarize(rtts)
	return s
}

// measureRoster signs serial+1, installs it on one node and polls every
// node's /healthz until all hold it.
func measureRoster(ctx context.Context, c *Cluster, via string, rep *BenchReport) error {
	t0 := time.Now()
	serial, err := c.PushRoster(ctx, via, nil)
	if err != nil {
		return err
	}
	rep.RosterSerial = serial
	seen := map[string]float64{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(seen) < len(c.M.Nodes) && time.Now().Before(deadline) && ctx.Err() == nil {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			sem = make(chan struct{}, 32)
		)
		for _, e := range c.M.Nodes {
			if _, ok := seen[e.Country]; ok {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				h, err := c.Health(ctx, e.Country)
				if err == nil && h.RosterSerial >= serial {
					mu.Lock()
					seen[e.Country] = time.Since(t0).Seconds()
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) < len(c.M.Nodes) {
			sleepCtx(ctx, 20*time.Millisecond)
		}
	}
	rep.RosterNodesAtEnd = len(seen)
	var xs []float64
	for _, s := range seen {
		xs = append(xs, s)
	}
	st := summarize(xs)
	rep.RosterAllS, rep.RosterP50S = st.Max, st.P50
	rosterFromLogs(c, serial, rep)
	if len(seen) < len(c.M.Nodes) {
		return fmt.Errorf("only %d of %d nodes hold serial %d after 2 minutes", len(seen), len(c.M.Nodes), serial)
	}
	return nil
}

// rosterFromLogs reads when each node logged applying roster serial.
func rosterFromLogs(c *Cluster, serial uint64, rep *BenchReport) {
	var at []time.Time
	for _, e := range c.M.Nodes {
		if t, ok := appliedAt(filepath.Join(e.Dir, "node.log"), serial); ok {
			at = append(at, t)
		}
	}
	if len(at) == 0 {
		return
	}
	first := slices.MinFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	xs := make([]float64, len(at))
	for i, t := range at {
		xs[i] = t.Sub(first).Seconds()
	}
	st := summarize(xs)
	rep.RosterLogAllS, rep.RosterLogP50S, rep.RosterLogged = st.Max, st.P50, len(at)
}

// appliedAt finds the "applied new roster" line for serial in a node's
// JSON log (testnet nodes log JSON with zap's ISO 8601 times).
func appliedAt(path string, serial uint64) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"applied new roster"`)) {
			continue
		}
		var l struct {
			TS     string `json:"ts"`
			Serial uint64 `json:"serial"`
		}
		if json.Unmarshal(line, &l) != nil || l.Serial != serial {
			continue
		}
		// zapcore.ISO8601TimeEncoder: "Z" in UTC, "+0100" elsewhere.
		if t, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// loadCase is one request sent during the load phase.
type loadCase struct {
	from, to, kind, id string
	submitted, posted  time.Time
	delivered          time.Time
	precise            bool
}

// eventLog records when each case's SSE events reached the harness.
type eventLog struct {
	mu     sync.Mutex
	events map[string][]time.Time
}

func (l *eventLog) add(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events[id] = append(l.events[id], at)
}

// deliveredAt is the time of a case's second event: the first is the
// submission, the second the verified receipt being stored.
func (l *eventLog) deliveredAt(id string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events[id]
	if len(ev) < 2 {
		return time.Time{}, false
	}
	return ev[1], true
}

// followEvents reads a node's SSE stream until ctx ends.
func followEvents(ctx context.Context, c *Cluster, cc string, log *eventLog, ready chan<- struct{}) {
	e, _ := c.Entry(cc)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.API+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		close(ready)
		return
	}
	defer resp.Body.Close()
	close(ready)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "case":
			var v struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v) == nil {
				log.add(v.ID, time.Now())
			}
		case line == "":
			event = ""
		}
	}
}

// measureLoad runs the background load and times each request from the
// submission until the sender holds the verified receipt.
func measureLoad(ctx context.Context, c *Cluster, o BenchOptions, rep *BenchReport) error {
	ex, err := LoadExamples(o.Examples)
	if err != nil {
		return err
	}
	kinds := ex.Kinds()
	all := c.Countries()
	senders := min(o.Senders, len(all))
	var from []string
	for i := 0; i < senders; i++ {
		from = append(from, all[i*len(all)/senders])
	}
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	log := &eventLog{events: map[string][]time.Time{}}
	for _, cc := range from {
		ready := make(chan struct{})
		go followEvents(evctx, c, cc, log, ready)
		<-ready
	}
	l := &rep.Load
	l.Senders, l.RatePerS, l.DurationS = senders, o.Rate, o.LoadFor.Seconds()
	var (
		mu    sync.Mutex
		cases []*loadCase
		wg    sync.WaitGroup
	)
	pids := c.pids()
	cpu0 := map[int]int64{}
	for _, p := range pids {
		cpu0[p], _ = cpuTicks(p)
	}
	tl := time.Now()
	end := tl.Add(o.LoadFor)
	for si, cc := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			iv := time.Duration(float64(time.Second) / o.Rate)
			// Spread the senders' ticks over one interval.
			sleepCtx(ctx, time.Duration(si)*iv/time.Duration(senders))
			t := time.NewTicker(iv)
			defer t.Stop()
			for k := 0; time.Now().Before(end) && ctx.Err() == nil; k++ {
				to := all[rand.N(len(all))]
				for to == cc {
					to = all[rand.N(len(all))]
				}
				kind := kinds[(si+k)%len(kinds)]
				doc, err := ex.Request(kind, to)
				if err != nil {
					return
				}
				lc := &loadCase{from: cc, to: to, kind: kind, submitted: time.Now()}
				id, err := c.Submit(ctx, cc, doc)
				lc.posted = time.Now()
				mu.Lock()
				if err != nil {
					l.SubmitErrors++
				} else {
					lc.id = id
					cases = append(cases, lc)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	// Wait for every submitted request, confirming with the case lists.
	deadline := time.Now().Add(2 * time.Minute)
	for ctx.Err() == nil {
		pending := map[string][]*loadCase{}
		for _, lc := range cases {
			if lc.delivered.IsZero() {
				pending[lc.from] = append(pending[lc.from], lc)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		for cc, lcs := range pending {
			rows, err := c.Cases(ctx, cc, "outgoing")
			if err != nil {
				continue
			}
			now := time.Now()
			state := map[string]string{}
			for _, r := range rows {
				state[r.ID] = r.Delivery
			}
			for _, lc := range lcs {
				if state[lc.id] != "delivered" {
					continue
				}
				if at, ok := log.deliveredAt(lc.id); ok {
					lc.delivered, lc.precise = at, true
				} else {
					lc.delivered = now
				}
			}
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	var cpu int64
	for _, p := range pids {
		if t, ok := cpuTicks(p); ok {
			cpu += t - cpu0[p]
		}
	}
	l.CPU = float64(cpu) / 100 / time.Since(tl).Seconds()
	stopEvents()

	var sub, del, recv []float64
	for _, lc := range cases {
		l.Submitted++
		sub = append(sub, ms(lc.posted.Sub(lc.submitted)))
		if lc.delivered.IsZero() {
			continue
		}
		l.Delivered++
		if !lc.precise {
			l.Imprecise++
		}
		del = append(del, ms(lc.delivered.Sub(lc.submitted)))
	}
	// The nodes' own clocks: created (durable outbox) → receipt signed at
	// the receiver (durable inbox), from the verified receipt.
	for _, lc := range cases {
		if lc.delivered.IsZero() {
			continue
		}
		d, err := c.Case(ctx, lc.from, lc.id)
		if err != nil || len(d.Messages) == 0 || d.Messages[0].Receipt == nil {
			continue
		}
		if d.Messages[0].Receipt.Verified {
			l.Verified++
		}
		recv = append(recv, ms(d.Messages[0].Receipt.ReceivedAt.Sub(d.CreatedAt)))
	}
	l.SubmitMs, l.DeliveredMs, l.ReceiverMs = summarize(sub), summarize(del), summarize(recv)
	if l.Delivered < l.Submitted {
		return fmt.Errorf("%d of %d requests delivered within 2 minutes of the load's end", l.Delivered, l.Submitted)
	}
	return nil
}

// WriteText prints the report for people.
func (b *BenchReport) WriteText(w io.Writer) {
	m := b.Machine
	fmt.Fprintf(w, "MACHINE  %s, %d CPUs, %s, Linux %s, %s\n", m.CPU, m.CPUs, m.MemTotal, m.Kernel, m.Go)
	fmt.Fprintf(w, "         fd limit %d; load %s → %s; node env %s; transport %s\n", m.FDLimit, m.LoadStart, m.LoadEnd, m.ChildEnv, m.Transports)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODES\t%d in %d processes (%d per process; the first alone)\n", b.Nodes, b.Processes, b.PerProcess)
	fmt.Fprintln(tw, "FLOOR (this run)\tRSS MiB\tanon\tfile\tPSS")
	f := b.Floor
	fmt.Fprintf(tw, "  idle libp2p host process\t%.1f\t%.1f\t%.1f\t%.1f\n", f.IdleHostMiB.RSS, f.IdleHostMiB.Anon, f.IdleHostMiB.File, f.IdleHostMiB.PSS)
	fmt.Fprintf(tw, "  one node alone (others down)\t%.1f\t%.1f\t%.1f\t%.1f\tboot %.0f ms, CPU %.3f cores\n", f.OneNodeMiB.RSS, f.OneNodeMiB.Anon, f.OneNodeMiB.File, f.OneNodeMiB.PSS, f.OneNodeBootMs, f.OneNodeCPU)
	if lf := f.Latency; lf != nil {
		fmt.Fprintln(tw, "  latency ms\tp50\tp99")
		fmt.Fprintf(tw, "  fsync 4 KiB\t%.2f\t%.2f\n", lf.FsyncMs.P50, lf.FsyncMs.P99)
		fmt.Fprintf(tw, "  libp2p round trip (warm stream)\t%.3f\t%.3f\n", lf.RoundTripMs.P50, lf.RoundTripMs.P99)
		fmt.Fprintf(tw, "  request crypto\t%.3f\t%.3f\n", lf.CryptoMs.P50, lf.CryptoMs.P99)
		fmt.Fprintf(tw, "  request floor (2×fsync + round trip + crypto)\t%.2f\n", lf.RequestMs)
	}
	fmt.Fprintf(tw, "BOOT\tall healthy %.1f s\tper node p50 %.0f ms\tp99 %.0f ms\tmax %.0f ms\n", b.BootAllHealthyS, b.NodeBootMs.P50, b.NodeBootMs.P99, b.NodeBootMs.Max)
	fmt.Fprintf(tw, "FULL MESH\t%d/%d nodes\t%.1f s after all-healthy\t%.1f s after boot began\n", b.MeshComplete, b.Nodes, b.MeshAfterBootS, b.MeshTotalS)
	if b.TCPConnsWant > 0 {
		fmt.Fprintf(tw, "  TCP connections\t%d\t(full mesh without duplicates: %d)\n", b.TCPConns, b.TCPConnsWant)
	}
	fmt.Fprintf(tw, "PER PROCESS RSS MiB\tp50 %.1f\tmax %.1f\n", b.ProcRSSMiB.P50, b.ProcRSSMiB.Max)
	fmt.Fprintln(tw, "PER NODE (mesh idle)\tp50\tp90\tmax\tsum")
	for _, r := range []struct {
		name string
		s    Stats
	}{{"  RSS MiB", b.RSSMiB}, {"  anon MiB", b.AnonMiB}, {"  file MiB (shared binary)", b.FileMiB}, {"  PSS MiB", b.PSSMiB}, {"  threads", b.Threads}} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.0f\n", r.name, r.s.P50, r.s.P90, r.s.Max, r.s.Sum)
	}
	fmt.Fprintf(tw, "  idle CPU, all nodes\t%.2f cores\n", b.IdleCPU)
	fmt.Fprintf(tw, "  machine memory used by the run\t%.1f GiB\t(available now %.1f GiB)\n", b.MemUsedGiB, b.MemAvailGiB)
	for _, d := range b.Drills {
		if d.Error != "" {
			fmt.Fprintf(tw, "DRILL from %s\t%s\n", d.From, d.Error)
			continue
		}
		fmt.Fprintf(tw, "DRILL from %s\t%d/%d reachable\tin %.0f ms\trtt p50 %.1f ms\tp99 %.1f ms\tmax %.1f ms\n", d.From, d.Reachable, d.Targets, d.WallMs, d.RTTMs.P50, d.RTTMs.P99, d.RTTMs.Max)
	}
	fmt.Fprintf(tw, "ROSTER serial %d\t%d/%d nodes\tall after %.2f s\tp50 %.2f s\t(polled from the push)\n", b.RosterSerial, b.RosterNodesAtEnd, b.Nodes, b.RosterAllS, b.RosterP50S)
	if b.RosterLogged > 0 {
		fmt.Fprintf(tw, "  applied, from node logs\t%d/%d nodes\tall after %.2f s\tp50 %.2f s\t(after the first node applied it)\n", b.RosterLogged, b.Nodes, b.RosterLogAllS, b.RosterLogP50S)
	}
	l := b.Load
	if l.Submitted > 0 {
		fmt.Fprintf(tw, "LOAD\t%d senders × %.1f/s for %.0f s\t%d/%d delivered\t%d receipts verified\tCPU %.2f cores\n", l.Senders, l.RatePerS, l.DurationS, l.Delivered, l.Submitted, l.Verified, l.CPU)
		fmt.Fprintln(tw, "  latency ms\tp50\tp99\tmax")
		fmt.Fprintf(tw, "  submit (HTTP, durable outbox)\t%.1f\t%.1f\t%.1f\n", l.SubmitMs.P50, l.SubmitMs.P99, l.SubmitMs.Max)
		fmt.Fprintf(tw, "  submit → receipt durable at sender\t%.1f\t%.1f\t%.1f\t(%d timed by poll, not event)\n", l.DeliveredMs.P50, l.DeliveredMs.P99, l.DeliveredMs.Max, l.Imprecise)
		fmt.Fprintf(tw, "  created → durable at receiver (node clocks)\t%.1f\t%.1f\t%.1f\n", l.ReceiverMs.P50, l.ReceiverMs.P99, l.ReceiverMs.Max)
		if lf := f.Latency; lf != nil && lf.RequestMs > 0 {
			fmt.Fprintf(tw, "  receipt latency ÷ request floor\t%.1f×\t%.1f×\n", l.DeliveredMs.P50/lf.RequestMs, l.DeliveredMs.P99/lf.RequestMs)
		}
	}
	fmt.Fprintf(tw, "SHUTDOWN\t%.1f s\t%d orphan processes\n", b.ShutdownS, b.Orphans)
	for _, e := range b.Errors {
		fmt.Fprintf(tw, "ERROR\t%s\n", e)
	}
	tw.Flush()
}

// WriteJSON writes the report as JSON.
func (b *BenchReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}
