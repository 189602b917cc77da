package federation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
)

// transportsOf reads the first node's transports setting.
func transportsOf(c *testnet.Cluster) string {
	cfg, err := config.LoadConfig(c.M.Nodes[0].Config)
	if err != nil {
		return "?"
	}
	return strings.Join(cfg.Transports, "+")
}

// waitMesh polls GET /api/v1/peers on every node until each shows all
// other members connected. Nodes drop out of the poll once complete.
func waitMesh(ctx context.Context, c *testnet.Cluster, timeout time.Duration, say func(string, ...any)) (time.Time, int) {
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
func countTCPMesh(c *testnet.Cluster) (int, error) {
	ports := map[int]bool{}
	for _, e := range c.M.Nodes {
		cfg, err := config.LoadConfig(e.Config)
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

func idleHostMem(ctx context.Context, exe, transports string) (ProcMem, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "testnet", "floor-host", "--transport", strings.ReplaceAll(transports, "+", ","))
	cmd.Env = testnet.Environ()
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
func runDrill(ctx context.Context, c *testnet.Cluster, from string) DrillSample {
	s := DrillSample{From: from}
	var run types.DrillRun
	t0 := time.Now()
	err := c.Call(ctx, from, http.MethodPost, "/api/v1/drills/reachability", []byte("{}"), &run)
	s.WallMs = bench.Duration(time.Since(t0)).Ms()
	if client.StatusOf(err) == http.StatusNotFound {
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
	s.RTTMs = bench.Summarize(rtts)
	return s
}

// measureRoster signs serial+1, installs it on one node and polls every
// node's /healthz until all hold it.
func measureRoster(ctx context.Context, c *testnet.Cluster, via string, rep *Report) error {
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
	st := bench.Summarize(xs)
	rep.RosterAllS, rep.RosterP50S = st.Max, st.P50
	rosterFromLogs(c, serial, rep)
	if len(seen) < len(c.M.Nodes) {
		return fmt.Errorf("only %d of %d nodes hold serial %d after 2 minutes", len(seen), len(c.M.Nodes), serial)
	}
	return nil
}

// rosterFromLogs reads when each node logged applying roster serial.
func rosterFromLogs(c *testnet.Cluster, serial uint64, rep *Report) {
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
	st := bench.Summarize(xs)
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
