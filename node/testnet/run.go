package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
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
	cmd.Env = childEnv() // GOMEMLIMIT, GOGC, GOMAXPROCS (procenv.go)
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
	if err := waitHealthy(ctx, e.API, p.done); err != nil {
		p.Kill()
		return nil, fmt.Errorf("node %s did not come up (see %s): %w", e.Country, filepath.Join(e.Dir, "node.log"), err)
	}
	return p, nil
}

func waitHealthy(ctx context.Context, api string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(api + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("no healthy answer within 30s")
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
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// RunAll starts every node in the manifest, calls ready, and stops them all
// when ctx ends.
func RunAll(ctx context.Context, exe string, m *Manifest, ready func([]*Process)) error {
	if k := NodesPerProcess(len(m.Nodes)); k > 1 {
		return runGroups(ctx, exe, m, k, ready) // group.go
	}
	procs := make([]*Process, len(m.Nodes))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 8)
	for i, e := range m.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := Start(ctx, exe, e)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			procs[i] = p
		}()
	}
	wg.Wait()
	stopAll := func() error {
		var serrs []error
		var swg sync.WaitGroup
		var smu sync.Mutex
		for _, p := range procs {
			if p == nil {
				continue
			}
			swg.Add(1)
			go func() {
				defer swg.Done()
				if err := p.Stop(15 * time.Second); err != nil {
					smu.Lock()
					serrs = append(serrs, fmt.Errorf("%s: %w", p.Entry.Country, err))
					smu.Unlock()
				}
			}()
		}
		swg.Wait()
		return errors.Join(serrs...)
	}
	if len(errs) > 0 {
		stopAll()
		return errors.Join(errs...)
	}
	if ready != nil {
		ready(procs)
	}
	<-ctx.Done()
	return stopAll()
}
