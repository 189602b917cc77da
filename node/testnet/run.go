package testnet

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
)

// Process is one node running as a child process.
type Process struct {
	Entry NodeEntry
	cmd   *exec.Cmd
	log   *os.File
	done  chan error
}

// Start launches `exe run --config CONFIG` for the entry, logging to
// DIR/node.log, and waits until its API answers /healthz.
func Start(ctx context.Context, exe string, e NodeEntry) (*Process, error) {
	lf, err := os.OpenFile(filepath.Join(e.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", e.Country, err)
	}
	cmd := exec.Command(exe, "run", "--config", e.Config)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = Environ() // GOMEMLIMIT, GOGC, GOMAXPROCS (procenv.go)
	// Own process group: a Ctrl-C on the terminal reaches the harness,
	// which then stops each node in order. Pdeathsig stops them if the
	// harness itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", e.Country, err)
	}
	p := &Process{Entry: e, cmd: cmd, log: lf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	if err := waitUp(ctx, p, e.API, e.PeerID, 30*time.Second, 50*time.Millisecond); err != nil {
		p.Kill()
		return nil, fmt.Errorf("node %s did not come up (see %s): %w", e.Country, filepath.Join(e.Dir, "node.log"), err)
	}
	return p, nil
}

// waitUp polls a node's /healthz every interval until the node with
// peerID answers, the process exits or d passes. The peer ID matters: on a
// busy machine another process can hold the port this node was given, and
// its answer must not count as this node being up.
func waitUp(ctx context.Context, p *Process, api, peerID string, d, every time.Duration) error {
	deadline := time.Now().Add(d)
	cl := client.New(api, client.WithTimeout(5*time.Second))
	for {
		if ended, err := p.exit(); ended {
			return fmt.Errorf("exited: %v", err)
		}
		var h types.Health
		if cl.Get(ctx, "/healthz", &h) == nil {
			if h.PeerID != peerID {
				return fmt.Errorf("%s answers as peer %s, not this node (%s): is another process on its port?", api, h.PeerID, peerID)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no healthy answer within %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// Stop sends SIGTERM and waits up to timeout before killing.
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("node %s ignored SIGTERM for %s; killed", p.Entry.Country, timeout)
	}
}

// Kill stops the node at once with SIGKILL (a crash, for tests and drills).
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	ended, _ := p.exit()
	return ended
}

// exit reports whether the process has ended, and how.
func (p *Process) exit() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// RunAll starts every node in the manifest (NodesPerProcess to a
// process), calls ready with the processes (by country of their first
// node), and stops them all when ctx ends.
func RunAll(ctx context.Context, exe string, m *Manifest, ready func([]*Process)) error {
	c := &Cluster{Dir: filepath.Dir(m.Nodes[0].Dir), M: m, Exe: exe, PerProcess: NodesPerProcess(len(m.Nodes)),
		procs: map[string]*Process{}}
	if _, err := c.StartAll(ctx, 8); err != nil {
		c.StopAll(32, 15*time.Second)
		return err
	}
	if ready != nil {
		procs := slices.Collect(maps.Keys(c.Processes()))
		slices.SortFunc(procs, func(a, b *Process) int { return strings.Compare(a.Entry.Country, b.Entry.Country) })
		ready(procs)
	}
	<-ctx.Done()
	return c.StopAll(32, 15*time.Second)
}
