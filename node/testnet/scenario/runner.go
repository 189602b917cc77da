package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
)

// Options configures Run.
type Options struct {
	// Dir is an initialised testnet; empty creates one with Nodes nodes
	// (the scenario's nodes: if 0) in a temporary directory.
	Dir    string
	Nodes  int
	Parent string
	Keep   bool
	Exe    string
	// TimeScale overrides the scenario's time_scale if positive.
	TimeScale float64
	// Examples is the directory of the example requests; "" uses the
	// copies of configs/examples built into the binary.
	Examples string
	// CheckTimeout bounds the final check's wait for deliveries (default 2m).
	CheckTimeout time.Duration
	Out          io.Writer
}

// runner plays one scenario against one testnet; the steps act through
// it.
type runner struct {
	sc    *Scenario
	o     Options
	c     *testnet.Cluster
	ex    testnet.Examples
	rep   *Report
	t0    time.Time
	scale float64

	// Faults the runner re-applies when it restarts a node: they belong
	// to the network, not the process.
	cut  map[string]map[string]bool // node → countries it is cut off from
	skew map[string]string
}

// Run plays a scenario against a testnet and checks the result.
// The error is for failures to run; failed checks are in the report.
func Run(ctx context.Context, sc *Scenario, o Options) (*Report, error) {
	ex, err := testnet.LoadExamples(o.Examples)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		nodes := o.Nodes
		if nodes == 0 {
			nodes = sc.Nodes
		}
		if nodes == 0 {
			nodes = 3
		}
		if dir, err = os.MkdirTemp(o.Parent, "vigil-scenario-"); err != nil {
			return nil, err
		}
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
		if _, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: nodes}); err != nil {
			return nil, err
		}
	}
	c, err := testnet.NewCluster(dir, o.Exe)
	if err != nil {
		return nil, err
	}
	r := newRunner(sc, o, c, ex)
	if err := r.checkSteps(); err != nil {
		return nil, err
	}
	defer func() {
		// Whatever happened, leave no node running.
		if err := r.c.StopAll(32, 15*time.Second); err != nil {
			r.fail("stop: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		if orphans := r.c.Orphans(); len(orphans) > 0 {
			r.rep.Orphans = len(orphans)
			r.fail("%d node processes still running after the stop: %v", len(orphans), orphans)
		}
	}()

	r.t0 = time.Now()
	r.logf("scenario %q on %d nodes in %s (time scale %g)", sc.Name, r.rep.Nodes, dir, r.scale)
	if _, err := r.c.StartAll(ctx, 8); err != nil {
		return r.rep, fmt.Errorf("start testnet: %w", err)
	}
	if err := r.waitConnected(ctx, 2*time.Minute); err != nil {
		return r.rep, fmt.Errorf("testnet did not connect: %w", err)
	}
	r.logf("all %d nodes up and connected", r.rep.Nodes)

	for i, st := range sc.Steps {
		if err := st.Action.run(ctx, r); err != nil {
			r.fail("step %d (%s, line %d): %v", i+1, st.Kind, st.Line, err)
			r.logf("step %d (%s) FAILED: %v", i+1, st.Kind, err)
			r.rep.Elapsed = time.Since(r.t0)
			return r.rep, nil
		}
	}
	r.finalCheck(ctx) // check.go
	r.rep.Elapsed = time.Since(r.t0)
	return r.rep, nil
}

// newRunner prepares to play sc on the testnet c runs.
func newRunner(sc *Scenario, o Options, c *testnet.Cluster, ex testnet.Examples) *runner {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 2 * time.Minute
	}
	r := &runner{sc: sc, o: o, c: c, ex: ex, cut: map[string]map[string]bool{}, skew: map[string]string{},
		rep: &Report{Name: sc.Name, Dir: c.Dir, Nodes: len(c.M.Nodes)}}
	r.scale = sc.TimeScale
	if o.TimeScale > 0 {
		r.scale = o.TimeScale
	}
	if r.scale <= 0 {
		r.scale = 1
	}
	r.rep.Scale = r.scale
	return r
}

// checkSteps checks every step against the testnet before anything starts.
func (r *runner) checkSteps() error {
	for i, st := range r.sc.Steps {
		if err := st.Action.check(r); err != nil {
			return fmt.Errorf("step %d (line %d): %w", i+1, st.Line, err)
		}
	}
	return nil
}

func (r *runner) logf(format string, a ...any) {
	line := fmt.Sprintf("[%7.1fs] %s", time.Since(r.t0).Seconds(), fmt.Sprintf(format, a...))
	if r.t0.IsZero() {
		line = fmt.Sprintf("[%7s] %s", "", fmt.Sprintf(format, a...))
	}
	r.rep.Steps = append(r.rep.Steps, line)
	fmt.Fprintln(r.o.Out, line)
}

func (r *runner) fail(format string, a ...any) {
	r.rep.Failures = append(r.rep.Failures, fmt.Sprintf(format, a...))
}

// resolve expands a node list; others is the complement of exclude.
func (r *runner) resolve(l NodeList, exclude map[string]bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(cc string) {
		if !seen[cc] {
			seen[cc] = true
			out = append(out, cc)
		}
	}
	for _, name := range l {
		switch {
		case name == "all":
			for _, cc := range r.c.Countries() {
				add(cc)
			}
		case name == "others":
			for _, cc := range r.c.Countries() {
				if !exclude[cc] {
					add(cc)
				}
			}
		case r.sc.Groups[name] != nil:
			for _, cc := range r.sc.Groups[name] {
				if _, err := r.c.Entry(cc); err != nil {
					return nil, fmt.Errorf("group %s: %w", name, err)
				}
				add(cc)
			}
		default:
			cc := strings.ToUpper(name)
			if _, err := r.c.Entry(cc); err != nil {
				return nil, err
			}
			add(cc)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty node list")
	}
	return out, nil
}

// checkLists checks that node lists resolve, before anything starts.
func (r *runner) checkLists(lists ...NodeList) error {
	for _, l := range lists {
		if _, err := r.resolve(l, map[string]bool{}); err != nil {
			return err
		}
	}
	return nil
}

// kinds expands a list of request kinds ("all" or none: every example).
func (r *runner) kinds(l NodeList) ([]string, error) {
	if len(l) == 0 || (len(l) == 1 && l[0] == "all") {
		return r.ex.Kinds(), nil
	}
	for _, k := range l {
		if _, ok := r.ex[k]; !ok {
			return nil, fmt.Errorf("kind %q: want preservation, emergency, assistance or all", k)
		}
	}
	return l, nil
}

// requests selects the sent requests of a label ("all" for every one).
func (r *runner) requests(label string) []*SentRequest {
	var out []*SentRequest
	for _, q := range r.rep.Requests {
		if label == "all" || q.Label == label {
			out = append(out, q)
		}
	}
	return out
}

// startNode starts a node and re-applies the network's faults to it.
func (r *runner) startNode(ctx context.Context, cc string) (time.Duration, error) {
	d, err := r.c.StartNode(ctx, cc)
	if err != nil {
		return d, err
	}
	if cut := r.cut[cc]; len(cut) > 0 {
		if err := r.cutOff(ctx, cc, cut); err != nil {
			return d, err
		}
	}
	if s := r.skew[cc]; s != "" && s != "0s" {
		if err := r.setClock(ctx, cc, s); err != nil {
			return d, err
		}
	}
	return d, nil
}

// cutOff has a node's gater refuse the given countries
// (POST /api/v1/testing/partition).
func (r *runner) cutOff(ctx context.Context, cc string, from map[string]bool) error {
	in := types.PartitionRequest{Countries: slices.Sorted(maps.Keys(from))}
	return r.c.Call(ctx, cc, http.MethodPost, "/api/v1/testing/partition", in, nil)
}

// setClock skews a node's clock (POST /api/v1/testing/clock).
func (r *runner) setClock(ctx context.Context, cc, skew string) error {
	return r.c.Call(ctx, cc, http.MethodPost, "/api/v1/testing/clock", types.ClockRequest{Skew: skew}, nil)
}

// errTimedOut is until's error when the condition did not come true in
// time and the last try had no error of its own.
var errTimedOut = errors.New("timed out")

// until calls try every interval until it reports done, ctx ends or
// timeout passes. It returns nil when done; at the deadline, try's last
// error, or errTimedOut.
func until(ctx context.Context, timeout, every time.Duration, try func() (done bool, err error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := try()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return errTimedOut
		}
		sleepCtx(ctx, every)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *runner) waitConnected(ctx context.Context, timeout time.Duration) error {
	var missing int
	err := until(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		var err error
		missing, err = r.disconnected(ctx)
		return err == nil && missing == 0, err
	})
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("%d expected connections still missing after %s", missing, timeout)
	}
	return err
}

// disconnected counts pairs of running, unpartitioned nodes that do not
// show each other connected.
func (r *runner) disconnected(ctx context.Context) (int, error) {
	running := map[string]bool{}
	for _, cc := range r.c.Running() {
		running[cc] = true
	}
	byPeer := map[string]string{}
	for _, e := range r.c.M.Nodes {
		byPeer[e.PeerID] = e.Country
	}
	var (
		mu      sync.Mutex
		missing int
		errs    []error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, 8)
	)
	for cc := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := r.c.Peers(ctx, cc)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, m := range p.Peers {
				other := byPeer[m.PeerID]
				if m.Self || !running[other] || r.cut[cc][other] || r.cut[other][cc] {
					continue
				}
				if !m.Connected {
					missing++
				}
			}
		}()
	}
	wg.Wait()
	return missing, errors.Join(errs...)
}

// waitSerial waits until every running node holds roster serial.
func (r *runner) waitSerial(ctx context.Context, serial uint64, timeout time.Duration) error {
	var behind int
	err := until(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		behind = 0
		for _, cc := range r.c.Running() {
			if h, err := r.c.Health(ctx, cc); err != nil || h.RosterSerial < serial {
				behind++
			}
		}
		return behind == 0, nil
	})
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("roster serial %d: %d running nodes still behind after %s", serial, behind, timeout)
	}
	return err
}
