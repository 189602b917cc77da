package testnet

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/config"
)

// Several nodes per process.
//
// A node process costs the Go runtime's fixed overhead: its own scheduler,
// sysmon thread, GC and timers. 193 of them on 2 cores spend most of the
// CPU on that overhead once they are busy (handshakes at boot), time out,
// retry and never converge; BENCHMARKS.md ("193-node testnet") has the
// numbers. Large testnets therefore run their nodes in groups: each group
// process (`vigil testnet run-nodes --config A --config B ...`) runs
// several complete nodes, each with its own keys, store, libp2p host, API
// and node.log, sharing one runtime. A group stops and crashes as a whole;
// scenarios, which stop and kill single nodes, run one node per process.

// NodesPerProcess is the group size RunAll and the bench use for a testnet
// of n nodes: one node per process up to 24 nodes, then groups so that at
// most 8 processes run.
func NodesPerProcess(n int) int {
	if n <= 24 {
		return 1
	}
	return (n + 7) / 8
}

// groupEnv is the environment of a group process: the per-node memory
// limit times the group size. A group keeps one P: eight groups already
// keep both cores busy at boot, and one P idles cheaper (no second thread
// woken for every ready goroutine).
func groupEnv(k int) []string {
	env := Environ()
	if k <= 1 {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		switch name {
		case "GOMEMLIMIT":
			if _, set := os.LookupEnv(name); !set {
				if b, ok := parseBytes(v); ok {
					kv = fmt.Sprintf("GOMEMLIMIT=%dMiB", b*int64(k)>>20)
				}
			}
		}
		out = append(out, kv)
	}
	return out
}

// parseBytes reads a GOMEMLIMIT value (B, KiB, MiB or GiB suffix).
func parseBytes(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err == nil
}

// StartGroup launches one process running the given nodes, logging the
// process's own output to group.log in the first node's directory, and
// waits until every node's API answers /healthz. It returns when each
// node became healthy, from the launch.
func StartGroup(ctx context.Context, exe string, entries []NodeEntry) (*Process, []time.Duration, error) {
	t0 := time.Now()
	if len(entries) == 1 {
		p, err := Start(ctx, exe, entries[0])
		return p, []time.Duration{time.Since(t0)}, err
	}
	logPath := filepath.Join(entries[0].Dir, "group.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	args := []string{"testnet", "run-nodes"}
	for _, e := range entries {
		args = append(args, "--config", e.Config)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = groupEnv(len(entries))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, nil, fmt.Errorf("start group %s…: %w", entries[0].Country, err)
	}
	p := &Process{Entry: entries[0], cmd: cmd, log: lf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	var took []time.Duration
	for _, e := range entries {
		if err := waitUp(ctx, p, e.API, e.PeerID, 60*time.Second+time.Duration(len(entries))*time.Second, 100*time.Millisecond); err != nil {
			p.Kill()
			return nil, nil, fmt.Errorf("node %s (group of %d) did not come up (see %s and %s): %w", e.Country, len(entries),
				filepath.Join(e.Dir, "node.log"), logPath, err)
		}
		took = append(took, time.Since(t0))
	}
	return p, took, nil
}

// RunNodes runs several nodes in this process until ctx ends (the group
// process of StartGroup). Each node logs to node.log in its directory.
func RunNodes(ctx context.Context, configs []string, stderr io.Writer) error {
	var (
		nodes []*node.Node
		logs  []*os.File
	)
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); n.Close() }()
		}
		wg.Wait()
		for _, f := range logs {
			f.Close()
		}
	}()
	for i, path := range configs {
		if ctx.Err() != nil {
			return nil // stopped while starting: close what runs
		}
		cfg, err := config.LoadConfig(path)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(filepath.Dir(path), "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("%s: node log: %w", path, err)
		}
		logs = append(logs, f)
		log, err := node.NewLoggerTo(cfg.Log, f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if i == 0 {
			// libp2p's logs are process-wide: to the group's own log.
			if gl, err := node.NewLoggerTo(cfg.Log, stderr); err == nil {
				node.RouteLibp2pLogs(gl)
			}
		}
		n, err := node.New(cfg, node.Options{Logger: log.Named("node")})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := n.Start(ctx); err != nil {
			n.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		nodes = append(nodes, n)
	}
	fmt.Fprintf(stderr, "%d nodes running\n", len(nodes))
	<-ctx.Done()
	return nil
}
