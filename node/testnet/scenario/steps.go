package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The kinds of step, each an Action (format.go) decoded from its YAML;
// roster.go holds the two that sign rosters.

// Send sends requests: count of each kind from each sender to each
// recipient (a sender never sends to itself).
type Send struct {
	From  NodeList `yaml:"from"`
	To    NodeList `yaml:"to"`
	Kind  NodeList `yaml:"kind"` // preservation, emergency, assistance or all (default all)
	Count int      `yaml:"count"`
	Label string   `yaml:"label"`
}

func (s *Send) check(r *runner) error {
	if _, err := r.kinds(s.Kind); err != nil {
		return err
	}
	return r.checkLists(s.From, s.To)
}

func (s *Send) run(ctx context.Context, r *runner) error {
	from, err := r.resolve(s.From, nil)
	if err != nil {
		return err
	}
	to, err := r.resolve(s.To, nil)
	if err != nil {
		return err
	}
	kinds, err := r.kinds(s.Kind)
	if err != nil {
		return err
	}
	count := max(s.Count, 1)
	sent := 0
	for _, f := range from {
		for _, t := range to {
			if f == t {
				continue
			}
			for _, k := range kinds {
				for range count {
					doc, err := r.ex.Request(k, t)
					if err != nil {
						return err
					}
					at := time.Since(r.t0)
					id, err := r.c.Submit(ctx, f, doc)
					if err != nil {
						return err
					}
					r.rep.Requests = append(r.rep.Requests, &SentRequest{Label: s.Label, From: f, To: t, Kind: k, CaseID: id, SentAt: at})
					sent++
				}
			}
		}
	}
	label := ""
	if s.Label != "" {
		label = " (" + s.Label + ")"
	}
	r.logf("sent %d requests%s from %s to %s", sent, label, strings.Join(from, ","), strings.Join(to, ","))
	return nil
}

// Stop stops nodes with SIGTERM and waits for them to exit.
type Stop struct{ NodeList }

func (s *Stop) check(r *runner) error { return r.checkLists(s.NodeList) }

func (s *Stop) run(ctx context.Context, r *runner) error {
	return r.eachNode(s.NodeList, "stopped (SIGTERM)", func(cc string) error { return r.c.StopNode(cc, 15*time.Second) })
}

// Kill kills nodes with SIGKILL, as a crash would.
type Kill struct{ NodeList }

func (k *Kill) check(r *runner) error { return r.checkLists(k.NodeList) }

func (k *Kill) run(ctx context.Context, r *runner) error {
	return r.eachNode(k.NodeList, "killed (SIGKILL)", r.c.KillNode)
}

// eachNode does something to every node of a list, then logs what.
func (r *runner) eachNode(l NodeList, done string, do func(cc string) error) error {
	nodes, err := r.resolve(l, nil)
	if err != nil {
		return err
	}
	for _, cc := range nodes {
		if err := do(cc); err != nil {
			return err
		}
	}
	r.logf("%s %s", strings.Join(nodes, ", "), done)
	return nil
}

// Start starts nodes and waits until they are healthy.
type Start struct{ NodeList }

func (s *Start) check(r *runner) error { return r.checkLists(s.NodeList) }

func (s *Start) run(ctx context.Context, r *runner) error {
	return r.startNodes(ctx, s.NodeList, false)
}

// Restart stops nodes with SIGTERM, then starts them.
type Restart struct{ NodeList }

func (s *Restart) check(r *runner) error { return r.checkLists(s.NodeList) }

func (s *Restart) run(ctx context.Context, r *runner) error {
	return r.startNodes(ctx, s.NodeList, true)
}

// startNodes starts (after stopping, for a restart) every node of a list.
func (r *runner) startNodes(ctx context.Context, l NodeList, stopFirst bool) error {
	nodes, err := r.resolve(l, nil)
	if err != nil {
		return err
	}
	for _, cc := range nodes {
		if stopFirst {
			if err := r.c.StopNode(cc, 15*time.Second); err != nil {
				return err
			}
		}
		d, err := r.startNode(ctx, cc)
		if err != nil {
			return err
		}
		r.logf("%s started, healthy after %s", cc, d.Round(time.Millisecond))
	}
	return nil
}

// Partition cuts the network: every node of a group from every node of
// the other groups, or each isolated node from all others.
type Partition struct {
	Groups  []NodeList `yaml:"groups"`
	Isolate NodeList   `yaml:"isolate"`
}

func (p *Partition) check(r *runner) error {
	if (p.Isolate != nil) == (len(p.Groups) > 0) {
		return errors.New("partition needs either groups or isolate")
	}
	if p.Isolate != nil {
		return r.checkLists(p.Isolate)
	}
	return r.checkLists(p.Groups...)
}

func (p *Partition) run(ctx context.Context, r *runner) error {
	groups, err := p.resolve(r)
	if err != nil {
		return err
	}
	groupOf := map[string]int{}
	for i, g := range groups {
		for _, cc := range g {
			if _, dup := groupOf[cc]; dup {
				return fmt.Errorf("%s is in two partition groups", cc)
			}
			groupOf[cc] = i
		}
	}
	for cc, gi := range groupOf {
		if r.cut[cc] == nil {
			r.cut[cc] = map[string]bool{}
		}
		for other, gj := range groupOf {
			if gi != gj {
				r.cut[cc][other] = true
			}
		}
	}
	for cc := range groupOf {
		if r.c.Proc(cc) == nil {
			continue // applied when it starts
		}
		if err := r.cutOff(ctx, cc, r.cut[cc]); err != nil {
			return err
		}
	}
	var desc []string
	for _, g := range groups {
		desc = append(desc, "["+strings.Join(g, " ")+"]")
	}
	r.logf("partitioned %s", strings.Join(desc, " | "))
	return nil
}

// resolve expands the partition into its groups of countries: each
// isolated node alone, and "others" (implied by isolate) for every node
// in no other group.
func (p *Partition) resolve(r *runner) ([][]string, error) {
	var groups [][]string
	in := map[string]bool{}
	others := false
	if p.Isolate != nil {
		iso, err := r.resolve(p.Isolate, nil)
		if err != nil {
			return nil, err
		}
		for _, cc := range iso {
			groups = append(groups, []string{cc})
			in[cc] = true
		}
		others = true // everybody else
	}
	for _, g := range p.Groups {
		if len(g) == 1 && g[0] == "others" {
			others = true
			continue
		}
		nodes, err := r.resolve(g, nil)
		if err != nil {
			return nil, err
		}
		for _, cc := range nodes {
			in[cc] = true
		}
		groups = append(groups, nodes)
	}
	if others {
		if rest, err := r.resolve(NodeList{"others"}, in); err == nil {
			groups = append(groups, rest)
		}
	}
	if len(groups) < 2 {
		return nil, errors.New("partition needs at least two groups")
	}
	return groups, nil
}

// Heal ends the partitions of nodes, on both sides of each cut.
type Heal struct{ NodeList }

func (h *Heal) check(r *runner) error { return r.checkLists(h.NodeList) }

func (h *Heal) run(ctx context.Context, r *runner) error {
	nodes, err := r.resolve(h.NodeList, nil)
	if err != nil {
		return err
	}
	healed := map[string]bool{}
	for _, cc := range nodes {
		healed[cc] = true
	}
	// Heal the named nodes, and their far ends too: a cut is two-sided.
	// The API heals all of a node's cuts, so the far ends get back
	// the cuts that do not involve a healed node.
	for cc, cut := range r.cut {
		touched := healed[cc]
		for other := range healed {
			if cut[other] {
				delete(cut, other)
				touched = true
			}
		}
		if healed[cc] {
			clear(cut)
		}
		if len(cut) == 0 {
			delete(r.cut, cc)
		}
		if !touched || r.c.Proc(cc) == nil {
			continue
		}
		if err := r.c.Call(ctx, cc, http.MethodPost, "/api/v1/testing/heal", []byte("{}"), nil); err != nil {
			return err
		}
		if len(cut) > 0 {
			if err := r.cutOff(ctx, cc, cut); err != nil {
				return err
			}
		}
	}
	r.logf("healed %s", strings.Join(nodes, ", "))
	return nil
}

// Clock skews nodes' clocks; a skew of 0s restores them.
type Clock struct {
	Node NodeList `yaml:"node"`
	Skew string   `yaml:"skew"`
}

func (c *Clock) check(r *runner) error {
	if _, err := time.ParseDuration(c.Skew); err != nil {
		return fmt.Errorf("clock skew: %w", err)
	}
	return r.checkLists(c.Node)
}

func (c *Clock) run(ctx context.Context, r *runner) error {
	nodes, err := r.resolve(c.Node, nil)
	if err != nil {
		return err
	}
	for _, cc := range nodes {
		r.skew[cc] = c.Skew
		if err := r.setClock(ctx, cc, c.Skew); err != nil {
			return err
		}
	}
	r.logf("clock of %s skewed by %s", strings.Join(nodes, ", "), c.Skew)
	return nil
}

// Wait waits for a time or a condition.
type Wait struct {
	Duration  time.Duration `yaml:"duration"`  // divided by the time scale
	Delivered string        `yaml:"delivered"` // all or a label: verified receipt at the sender
	Settled   string        `yaml:"settled"`   // all or a label: both sides in the same state
	Connected string        `yaml:"connected"` // all: every running node sees every other reachable one
	Timeout   time.Duration `yaml:"timeout"`   // for conditions; default 2m (not scaled)
}

func (w *Wait) check(*runner) error {
	if w.Duration <= 0 && w.Connected == "" && w.Delivered == "" && w.Settled == "" {
		return errors.New("wait needs duration, delivered, settled or connected")
	}
	return nil
}

func (w *Wait) run(ctx context.Context, r *runner) error {
	if w.Duration > 0 {
		d := time.Duration(float64(w.Duration) / r.scale)
		r.logf("waiting %s (%s at time scale %g)", d.Round(time.Millisecond), w.Duration, r.scale)
		sleepCtx(ctx, d)
		return ctx.Err()
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	t0 := time.Now()
	if w.Connected != "" {
		if err := r.waitConnected(ctx, timeout); err != nil {
			return err
		}
		r.logf("all running nodes connected after %s", time.Since(t0).Round(time.Millisecond))
		return nil
	}
	label, what, pending := w.Delivered, "delivered", r.undelivered
	if w.Settled != "" {
		label, what, pending = w.Settled, "settled (same state on both sides)", r.unsettled
	}
	var left []*SentRequest
	err := until(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		var err error
		left, err = pending(ctx, label)
		return err == nil && len(left) == 0, err
	})
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("%d of %d requests (%s) not %s after %s, e.g. %s→%s %s", len(left), len(r.requests(label)),
			label, what, timeout, left[0].From, left[0].To, left[0].CaseID)
	}
	if err != nil {
		return err
	}
	r.logf("%d requests (%s) %s after %s", len(r.requests(label)), label, what, time.Since(t0).Round(time.Millisecond))
	return nil
}

// Expect asserts that requests are, or are not yet, delivered.
type Expect struct {
	Delivered   string `yaml:"delivered"`
	Undelivered string `yaml:"undelivered"`
}

func (e *Expect) check(*runner) error { return nil }

func (e *Expect) run(ctx context.Context, r *runner) error {
	if e.Delivered != "" {
		left, err := r.undelivered(ctx, e.Delivered)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("expected %s delivered; %d are not", e.Delivered, len(left))
		}
		r.logf("as expected, %d requests (%s) are delivered", len(r.requests(e.Delivered)), e.Delivered)
	}
	if e.Undelivered != "" {
		left, err := r.undelivered(ctx, e.Undelivered)
		if err != nil {
			return err
		}
		all := r.requests(e.Undelivered)
		if len(left) != len(all) {
			return fmt.Errorf("expected none of %s delivered yet; %d of %d are", e.Undelivered, len(all)-len(left), len(all))
		}
		r.logf("as expected, none of %d requests (%s) is delivered yet (still queued at the senders)", len(all), e.Undelivered)
	}
	return nil
}

// Acknowledge has the receivers of a label's requests ("all" for every
// one) acknowledge them.
type Acknowledge string

func (a *Acknowledge) check(*runner) error {
	if *a == "" {
		return errors.New("acknowledge needs a label or all")
	}
	return nil
}

func (a *Acknowledge) run(ctx context.Context, r *runner) error {
	label := string(*a)
	n := 0
	for _, q := range r.requests(label) {
		in := map[string]string{"action": "acknowledge", "operator": "Duty officer (scenario " + r.sc.Name + ")"}
		if err := r.c.Call(ctx, q.To, http.MethodPost, "/api/v1/cases/"+q.CaseID+"/actions", in, nil); err != nil {
			return err
		}
		n++
	}
	r.logf("receivers acknowledged %d requests (%s)", n, label)
	return nil
}

// Say puts a line in the report.
type Say string

func (s *Say) check(*runner) error { return nil }

func (s *Say) run(_ context.Context, r *runner) error {
	r.logf("— %s", string(*s))
	return nil
}
