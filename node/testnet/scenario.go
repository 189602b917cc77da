package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/protocol"
)

// Scenarios are scripted exercises (`vigil testnet scenario FILE.yaml`):
// the runner starts the testnet's nodes as child processes, so it can stop,
// kill and restart them, then plays the steps in order: requests between
// named countries, node failures, partitions, clock skew, roster updates
// and waits. At the end it checks that every request was delivered
// exactly once with a verified receipt and that both sides agree on each
// case's state. configs/scenarios holds examples; the format:
//
//	name: continent-partitioned
//	description: ...
//	nodes: 12            # testnet size when the runner creates one
//	time_scale: 60       # waits of `duration` are divided by this
//	groups:              # named sets of countries for any node list
//	  eu: [FR, DE, NL, IT, ES, PL]
//	steps:
//	  - send: {from: FR, to: [DE, US], kind: all, count: 2, label: before}
//	  - stop: DE          # SIGTERM; also kill (SIGKILL), start, restart
//	  - partition: {groups: [eu, others]}   # or {isolate: [DE]}
//	  - heal: all
//	  - clock: {node: FR, skew: 10m}        # "0s" restores
//	  - wait: {duration: 1h}                # scaled by time_scale
//	  - wait: {delivered: all, timeout: 2m} # or a label; also connected: all, settled: all
//	  - expect: {undelivered: during}       # or delivered: LABEL
//	  - acknowledge: all                    # the receivers acknowledge (or a label)
//	  - roster: {via: FR}                   # sign serial+1, push, wait for all nodes
//	  - rotate_key: {node: DE, via: FR, grace: 1h} # new encryption key, old one accepted for grace
//	  - say: "text for the report"
//
// Node lists take a country, a list, a group, "all", or (in partition
// groups) "others": every node not in another group. Partitions and clock
// skews belong to the network, not the process: the runner re-applies them
// to a node it restarts, until heal (or a skew of 0s).

// Scenario is a parsed scenario file.
type Scenario struct {
	Name        string              `yaml:"name"`
	Description string              `yaml:"description"`
	Nodes       int                 `yaml:"nodes"`
	TimeScale   float64             `yaml:"time_scale"`
	Groups      map[string]NodeList `yaml:"groups"`
	Steps       []Step              `yaml:"steps"`
}

// NodeList is a country, a group name, "all"/"others", or a list of them.
type NodeList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (n *NodeList) UnmarshalYAML(v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		*n = NodeList{v.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := v.Decode(&s); err != nil {
			return err
		}
		*n = s
		return nil
	}
	return fmt.Errorf("line %d: want a country, a group or a list of them", v.Line)
}

// Step is one scenario step; exactly one action is set.
type Step struct {
	Send        *SendStep      `yaml:"send"`
	Stop        NodeList       `yaml:"stop"`
	Kill        NodeList       `yaml:"kill"`
	Start       NodeList       `yaml:"start"`
	Restart     NodeList       `yaml:"restart"`
	Partition   *PartitionStep `yaml:"partition"`
	Heal        NodeList       `yaml:"heal"`
	Clock       *ClockStep     `yaml:"clock"`
	Wait        *WaitStep      `yaml:"wait"`
	Expect      *ExpectStep    `yaml:"expect"`
	Acknowledge string         `yaml:"acknowledge"`
	Roster      *RosterStep    `yaml:"roster"`
	RotateKey   *RotateKeyStep `yaml:"rotate_key"`
	Say         string         `yaml:"say"`

	line int
}

// SendStep sends requests: count of each kind from each sender to each
// recipient (a sender never sends to itself).
type SendStep struct {
	From  NodeList `yaml:"from"`
	To    NodeList `yaml:"to"`
	Kind  NodeList `yaml:"kind"` // preservation, emergency, assistance or all (default all)
	Count int      `yaml:"count"`
	Label string   `yaml:"label"`
}

// PartitionStep cuts the network: every node of a group from every node of
// the other groups, or each isolated node from all others.
type PartitionStep struct {
	Groups  []NodeList `yaml:"groups"`
	Isolate NodeList   `yaml:"isolate"`
}

// ClockStep skews nodes' clocks.
type ClockStep struct {
	Node NodeList `yaml:"node"`
	Skew string   `yaml:"skew"`
}

// WaitStep waits for a time or a condition.
type WaitStep struct {
	Duration  time.Duration `yaml:"duration"`  // divided by the time scale
	Delivered string        `yaml:"delivered"` // all or a label: verified receipt at the sender
	Settled   string        `yaml:"settled"`   // all or a label: both sides in the same state
	Connected string        `yaml:"connected"` // all: every running node sees every other reachable one
	Timeout   time.Duration `yaml:"timeout"`   // for conditions; default 2m (not scaled)
}

// ExpectStep asserts the current state.
type ExpectStep struct {
	Delivered   string `yaml:"delivered"`
	Undelivered string `yaml:"undelivered"`
}

// RosterStep signs the authority's draft with the next serial, installs it
// on one node and waits until every running node holds it.
type RosterStep struct {
	Via     string        `yaml:"via"`
	Timeout time.Duration `yaml:"timeout"`
}

// RotateKeyStep rotates a node's encryption key the way an operator and
// the authority would: the node stops (if running), a new X25519 key is
// generated in its keys directory, the authority signs a roster with the
// new key and the old one as previous_encryption_key (accepted for
// grace), pushes it through another node and waits for the running nodes
// to hold it; the node's config gets the new key, the old one under
// previous_encryption_keys (to open envelopes sealed to it), and it starts.
type RotateKeyStep struct {
	Node  string        `yaml:"node"`
	Via   string        `yaml:"via"`
	Grace time.Duration `yaml:"grace"` // default 1h
}

func (s *Step) action() (string, int) {
	n, name := 0, ""
	count := func(set bool, a string) {
		if set {
			n++
			name = a
		}
	}
	count(s.Send != nil, "send")
	count(s.Stop != nil, "stop")
	count(s.Kill != nil, "kill")
	count(s.Start != nil, "start")
	count(s.Restart != nil, "restart")
	count(s.Partition != nil, "partition")
	count(s.Heal != nil, "heal")
	count(s.Clock != nil, "clock")
	count(s.Wait != nil, "wait")
	count(s.Expect != nil, "expect")
	count(s.Acknowledge != "", "acknowledge")
	count(s.Roster != nil, "roster")
	count(s.RotateKey != nil, "rotate_key")
	count(s.Say != "", "say")
	return name, n
}

// ParseScenario reads a scenario, refusing unknown keys and steps that do
// not name exactly one action.
func ParseScenario(b []byte) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	// Line numbers for messages.
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) > 0 {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "steps" {
				for j, st := range root.Content[i+1].Content {
					if j < len(sc.Steps) {
						sc.Steps[j].line = st.Line
					}
				}
			}
		}
	}
	if len(sc.Steps) == 0 {
		return nil, errors.New("scenario: no steps")
	}
	for i := range sc.Steps {
		if a, n := sc.Steps[i].action(); n != 1 {
			return nil, fmt.Errorf("scenario: step %d (line %d) must name exactly one action, names %d (%s)", i+1, sc.Steps[i].line, n, a)
		}
	}
	if sc.TimeScale < 0 {
		return nil, errors.New("scenario: time_scale must be positive")
	}
	return &sc, nil
}

// LoadScenario reads and parses a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ScenarioOptions configures RunScenario.
type ScenarioOptions struct {
	// Dir is an initialised testnet; empty creates one with Nodes nodes
	// (the scenario's nodes: if 0) in a temporary directory.
	Dir    string
	Nodes  int
	Parent string
	Keep   bool
	Exe    string
	// TimeScale overrides the scenario's time_scale if positive.
	TimeScale float64
	// Examples is the directory of the example requests.
	Examples string
	// CheckTimeout bounds the final check's wait for deliveries (default 2m).
	CheckTimeout time.Duration
	Out          io.Writer
}

// SentRequest is one request a scenario sent, and what the check found.
type SentRequest struct {
	Label, From, To, Kind, CaseID string
	SentAt                        time.Duration // since the scenario began

	SenderState, Delivery, ReceiverState string
	Verified                             bool
	IncomingCases, RequestMessages       int
	Problem                              string
}

// ScenarioReport is the outcome of a run.
type ScenarioReport struct {
	Name     string
	Dir      string
	Nodes    int
	Scale    float64
	Steps    []string
	Requests []*SentRequest
	Orphans  int
	Elapsed  time.Duration
	Failures []string
}

// OK reports whether every check passed.
func (r *ScenarioReport) OK() bool { return len(r.Failures) == 0 }

type scenarioRun struct {
	sc    *Scenario
	o     ScenarioOptions
	c     *Cluster
	ex    Examples
	rep   *ScenarioReport
	t0    time.Time
	scale float64

	// Faults the runner re-applies when it restarts a node.
	cut  map[string]map[string]bool // node → countries it is cut off from
	skew map[string]string

	rosterSerial uint64
}

// RunScenario plays a scenario against a testnet and checks the result.
// The error is for failures to run; failed checks are in the report.
func RunScenario(ctx context.Context, sc *Scenario, o ScenarioOptions) (*ScenarioReport, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 2 * time.Minute
	}
	r := &scenarioRun{sc: sc, o: o, rep: &ScenarioReport{Name: sc.Name}, cut: map[string]map[string]bool{}, skew: map[string]string{}}
	r.scale = sc.TimeScale
	if o.TimeScale > 0 {
		r.scale = o.TimeScale
	}
	if r.scale <= 0 {
		r.scale = 1
	}
	r.rep.Scale = r.scale
	ex, err := LoadExamples(o.Examples)
	if err != nil {
		return nil, err
	}
	r.ex = ex
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
		if _, err := Init(InitOptions{Dir: dir, Nodes: nodes}); err != nil {
			return nil, err
		}
	}
	r.rep.Dir = dir
	if r.c, err = NewCluster(dir, o.Exe); err != nil {
		return nil, err
	}
	r.rep.Nodes = len(r.c.M.Nodes)
	if err := r.validate(); err != nil {
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

	for i := range sc.Steps {
		st := &sc.Steps[i]
		name, _ := st.action()
		if err := r.step(ctx, st); err != nil {
			r.fail("step %d (%s, line %d): %v", i+1, name, st.line, err)
			r.logf("step %d (%s) FAILED: %v", i+1, name, err)
			r.rep.Elapsed = time.Since(r.t0)
			return r.rep, nil
		}
	}
	r.check(ctx)
	r.rep.Elapsed = time.Since(r.t0)
	return r.rep, nil
}

func (r *scenarioRun) logf(format string, a ...any) {
	line := fmt.Sprintf("[%7.1fs] %s", time.Since(r.t0).Seconds(), fmt.Sprintf(format, a...))
	if r.t0.IsZero() {
		line = fmt.Sprintf("[%7s] %s", "", fmt.Sprintf(format, a...))
	}
	r.rep.Steps = append(r.rep.Steps, line)
	fmt.Fprintln(r.o.Out, line)
}

func (r *scenarioRun) fail(format string, a ...any) {
	r.rep.Failures = append(r.rep.Failures, fmt.Sprintf(format, a...))
}

// resolve expands a node list; others is the complement of exclude.
func (r *scenarioRun) resolve(l NodeList, exclude map[string]bool) ([]string, error) {
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

// validate resolves every node list before anything starts.
func (r *scenarioRun) validate() error {
	for i := range r.sc.Steps {
		st := &r.sc.Steps[i]
		var lists []NodeList
		if st.Send != nil {
			lists = append(lists, st.Send.From, st.Send.To)
			if _, err := r.kinds(st.Send.Kind); err != nil {
				return fmt.Errorf("step %d (line %d): %w", i+1, st.line, err)
			}
		}
		lists = append(lists, st.Stop, st.Kill, st.Start, st.Restart)
		if st.Heal != nil {
			lists = append(lists, st.Heal)
		}
		if st.Clock != nil {
			lists = append(lists, st.Clock.Node)
			if _, err := time.ParseDuration(st.Clock.Skew); err != nil {
				return fmt.Errorf("step %d (line %d): clock skew: %w", i+1, st.line, err)
			}
		}
		if st.Partition != nil {
			lists = append(lists, st.Partition.Groups...)
			if st.Partition.Isolate != nil {
				lists = append(lists, st.Partition.Isolate)
			}
		}
		if st.Roster != nil && st.Roster.Via != "" {
			lists = append(lists, NodeList{st.Roster.Via})
		}
		if k := st.RotateKey; k != nil {
			if k.Node == "" || k.Via == "" || strings.EqualFold(k.Node, k.Via) {
				return fmt.Errorf("step %d (line %d): rotate_key needs node and a different via", i+1, st.line)
			}
			lists = append(lists, NodeList{k.Node}, NodeList{k.Via})
		}
		for _, l := range lists {
			if l == nil {
				continue
			}
			if _, err := r.resolve(l, map[string]bool{}); err != nil {
				return fmt.Errorf("step %d (line %d): %w", i+1, st.line, err)
			}
		}
	}
	return nil
}

func (r *scenarioRun) kinds(l NodeList) ([]string, error) {
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
func (r *scenarioRun) requests(label string) []*SentRequest {
	var out []*SentRequest
	for _, q := range r.rep.Requests {
		if label == "all" || q.Label == label {
			out = append(out, q)
		}
	}
	return out
}

func (r *scenarioRun) step(ctx context.Context, st *Step) error {
	switch {
	case st.Send != nil:
		return r.send(ctx, st.Send)
	case st.Stop != nil, st.Kill != nil:
		l, how := st.Stop, "stopped (SIGTERM)"
		if st.Kill != nil {
			l, how = st.Kill, "killed (SIGKILL)"
		}
		nodes, err := r.resolve(l, nil)
		if err != nil {
			return err
		}
		for _, cc := range nodes {
			if st.Kill != nil {
				err = r.c.KillNode(cc)
			} else {
				err = r.c.StopNode(cc, 15*time.Second)
			}
			if err != nil {
				return err
			}
		}
		r.logf("%s %s", strings.Join(nodes, ", "), how)
	case st.Start != nil, st.Restart != nil:
		l := st.Start
		if st.Restart != nil {
			l = st.Restart
		}
		nodes, err := r.resolve(l, nil)
		if err != nil {
			return err
		}
		for _, cc := range nodes {
			if st.Restart != nil {
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
	case st.Partition != nil:
		return r.partition(ctx, st.Partition)
	case st.Heal != nil:
		nodes, err := r.resolve(st.Heal, nil)
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
			for h := range healed {
				if cut[h] {
					delete(cut, h)
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
			if err := r.c.Call(ctx, cc, "POST", "/api/v1/testing/heal", []byte("{}"), nil); err != nil {
				return err
			}
			if len(cut) > 0 {
				if err := r.cutOff(ctx, cc, keys(cut)); err != nil {
					return err
				}
			}
		}
		r.logf("healed %s", strings.Join(nodes, ", "))
	case st.Clock != nil:
		nodes, err := r.resolve(st.Clock.Node, nil)
		if err != nil {
			return err
		}
		for _, cc := range nodes {
			r.skew[cc] = st.Clock.Skew
			if err := r.c.Call(ctx, cc, "POST", "/api/v1/testing/clock", []byte(fmt.Sprintf(`{"skew":%q}`, st.Clock.Skew)), nil); err != nil {
				return err
			}
		}
		r.logf("clock of %s skewed by %s", strings.Join(nodes, ", "), st.Clock.Skew)
	case st.Wait != nil:
		return r.wait(ctx, st.Wait)
	case st.Expect != nil:
		return r.expect(ctx, st.Expect)
	case st.Acknowledge != "":
		return r.acknowledge(ctx, st.Acknowledge)
	case st.Roster != nil:
		return r.roster(ctx, st.Roster)
	case st.RotateKey != nil:
		return r.rotateKey(ctx, st.RotateKey)
	case st.Say != "":
		r.logf("— %s", st.Say)
	}
	return nil
}

// startNode starts a node and re-applies the network's faults to it.
func (r *scenarioRun) startNode(ctx context.Context, cc string) (time.Duration, error) {
	d, err := r.c.StartNode(ctx, cc)
	if err != nil {
		return d, err
	}
	if cut := r.cut[cc]; len(cut) > 0 {
		if err := r.cutOff(ctx, cc, keys(cut)); err != nil {
			return d, err
		}
	}
	if s := r.skew[cc]; s != "" && s != "0s" {
		if err := r.c.Call(ctx, cc, "POST", "/api/v1/testing/clock", []byte(fmt.Sprintf(`{"skew":%q}`, s)), nil); err != nil {
			return d, err
		}
	}
	return d, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r *scenarioRun) cutOff(ctx context.Context, cc string, from []string) error {
	body := fmt.Sprintf(`{"countries":["%s"]}`, strings.Join(from, `","`))
	return r.c.Call(ctx, cc, "POST", "/api/v1/testing/partition", []byte(body), nil)
}

func (r *scenarioRun) partition(ctx context.Context, p *PartitionStep) error {
	if (p.Isolate != nil) == (len(p.Groups) > 0) {
		return errors.New("partition needs either groups or isolate")
	}
	var groups [][]string
	in := map[string]bool{}
	others := false
	if p.Isolate != nil {
		iso, err := r.resolve(p.Isolate, nil)
		if err != nil {
			return err
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
			return err
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
		return errors.New("partition needs at least two groups")
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
		if err := r.cutOff(ctx, cc, keys(r.cut[cc])); err != nil {
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

func (r *scenarioRun) send(ctx context.Context, s *SendStep) error {
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
				for i := 0; i < count; i++ {
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

// undelivered returns the requests of label not yet delivered, from the
// senders' case lists.
func (r *scenarioRun) undelivered(ctx context.Context, label string) ([]*SentRequest, error) {
	reqs := r.requests(label)
	bySender := map[string][]*SentRequest{}
	for _, q := range reqs {
		bySender[q.From] = append(bySender[q.From], q)
	}
	var out []*SentRequest
	for from, qs := range bySender {
		if r.c.Proc(from) == nil {
			out = append(out, qs...) // cannot tell while the sender is down
			continue
		}
		rows, err := r.c.Cases(ctx, from, "outgoing")
		if err != nil {
			return nil, err
		}
		state := map[string]string{}
		for _, row := range rows {
			state[row.ID] = row.Delivery
		}
		for _, q := range qs {
			if q.Delivery = state[q.CaseID]; q.Delivery != "delivered" {
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// unsettled returns the requests of label whose two sides disagree on the
// case state (or that the receiver does not hold yet).
func (r *scenarioRun) unsettled(ctx context.Context, label string) ([]*SentRequest, error) {
	states := map[string]map[string]string{} // country → case → state
	get := func(cc string) (map[string]string, error) {
		if m, ok := states[cc]; ok {
			return m, nil
		}
		rows, err := r.c.Cases(ctx, cc, "")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, row := range rows {
			m[row.Direction+"/"+row.ID] = row.State
		}
		states[cc] = m
		return m, nil
	}
	var out []*SentRequest
	for _, q := range r.requests(label) {
		if r.c.Proc(q.From) == nil || r.c.Proc(q.To) == nil {
			out = append(out, q)
			continue
		}
		s, err := get(q.From)
		if err != nil {
			return nil, err
		}
		d, err := get(q.To)
		if err != nil {
			return nil, err
		}
		q.SenderState, q.ReceiverState = s["outgoing/"+q.CaseID], d["incoming/"+q.CaseID]
		if q.ReceiverState == "" || q.SenderState != q.ReceiverState {
			out = append(out, q)
		}
	}
	return out, nil
}

func (r *scenarioRun) waitConnected(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing, err := r.disconnected(ctx)
		if err == nil && missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("%d expected connections still missing after %s", missing, timeout)
		}
		sleepCtx(ctx, 250*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// disconnected counts pairs of running, unpartitioned nodes that do not
// show each other connected.
func (r *scenarioRun) disconnected(ctx context.Context) (int, error) {
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

func (r *scenarioRun) wait(ctx context.Context, w *WaitStep) error {
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
	switch {
	case w.Connected != "":
		if err := r.waitConnected(ctx, timeout); err != nil {
			return err
		}
		r.logf("all running nodes connected after %s", time.Since(t0).Round(time.Millisecond))
	case w.Delivered != "", w.Settled != "":
		label, what, check := w.Delivered, "delivered", r.undelivered
		if w.Settled != "" {
			label, what, check = w.Settled, "settled (same state on both sides)", r.unsettled
		}
		deadline := t0.Add(timeout)
		for {
			left, err := check(ctx, label)
			if err == nil && len(left) == 0 {
				r.logf("%d requests (%s) %s after %s", len(r.requests(label)), label, what, time.Since(t0).Round(time.Millisecond))
				return nil
			}
			if time.Now().After(deadline) {
				if err != nil {
					return err
				}
				return fmt.Errorf("%d of %d requests (%s) not %s after %s, e.g. %s→%s %s", len(left), len(r.requests(label)),
					label, what, timeout, left[0].From, left[0].To, left[0].CaseID)
			}
			sleepCtx(ctx, 250*time.Millisecond)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	default:
		return errors.New("wait needs duration, delivered, settled or connected")
	}
	return nil
}

func (r *scenarioRun) expect(ctx context.Context, e *ExpectStep) error {
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

func (r *scenarioRun) acknowledge(ctx context.Context, label string) error {
	n := 0
	for _, q := range r.requests(label) {
		body := []byte(`{"action":"acknowledge","operator":"Duty officer (scenario ` + r.sc.Name + `)"}`)
		if err := r.c.Call(ctx, q.To, "POST", "/api/v1/cases/"+q.CaseID+"/actions", body, nil); err != nil {
			return err
		}
		n++
	}
	r.logf("receivers acknowledged %d requests (%s)", n, label)
	return nil
}

func (r *scenarioRun) roster(ctx context.Context, s *RosterStep) error {
	via := s.Via
	if via == "" {
		via = r.c.Running()[0]
	}
	via = strings.ToUpper(via)
	t0 := time.Now()
	serial, err := r.c.PushRoster(ctx, via, nil)
	if err != nil {
		return err
	}
	r.rosterSerial = serial
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	if err := r.waitSerial(ctx, serial, timeout); err != nil {
		return err
	}
	r.logf("roster serial %d pushed to %s, on every running node after %s", serial, via, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (r *scenarioRun) rotateKey(ctx context.Context, k *RotateKeyStep) error {
	cc, via := strings.ToUpper(k.Node), strings.ToUpper(k.Via)
	e, err := r.c.Entry(cc)
	if err != nil {
		return err
	}
	grace := k.Grace
	if grace <= 0 {
		grace = time.Hour
	}
	if r.c.Proc(cc) != nil {
		if err := r.c.StopNode(cc, 15*time.Second); err != nil {
			return err
		}
	}
	cfg, err := node.LoadConfig(e.Config)
	if err != nil {
		return err
	}
	var rel string
	for i := 2; ; i++ {
		rel = fmt.Sprintf("keys/encryption-%d.key", i)
		if _, err := os.Stat(cfg.Path(rel)); os.IsNotExist(err) {
			break
		} else if err != nil {
			return fmt.Errorf("rotate %s's key: %w", cc, err)
		}
	}
	if _, err := node.EnsureEncryptionKey(cfg.Path(rel)); err != nil {
		return err
	}
	nk, err := node.LoadEncryptionKey(cfg.Path(rel))
	if err != nil {
		return err
	}
	// The node's new config is written and loaded before the network
	// learns the new key: a config the node cannot start with must not
	// leave the others sealing to a key nobody can use.
	prev := append(slices.Clone(cfg.PreviousEncryptionKeys), cfg.EncryptionKey)
	staged, err := stageKeyConfig(e.Config, rel, prev)
	if err != nil {
		return fmt.Errorf("rotate %s's key: %w", cc, err)
	}
	defer os.Remove(staged) // gone after the rename below
	until := time.Now().Add(grace).UTC().Truncate(time.Second)
	serial, err := r.c.PushRoster(ctx, via, func(ro *protocol.Roster) error {
		for i := range ro.Members {
			if m := &ro.Members[i]; m.Country == cc {
				m.PreviousEncryptionKey, m.PreviousKeyUntil = m.EncryptionKey, &until
				m.EncryptionKey = protocol.EncodeKey(nk.Public)
				return nil
			}
		}
		return fmt.Errorf("%s is not in the roster draft", cc)
	})
	if err != nil {
		return err
	}
	if err := os.Rename(staged, e.Config); err != nil {
		return fmt.Errorf("rotate %s's key: install config: %w", cc, err)
	}
	if err := r.waitSerial(ctx, serial, time.Minute); err != nil {
		return err
	}
	d, err := r.startNode(ctx, cc)
	if err != nil {
		return err
	}
	r.logf("rotated %s's encryption key (roster serial %d via %s, old key accepted until %s); %s restarted with %s, healthy after %s",
		cc, serial, via, until.Format(time.RFC3339), cc, rel, d.Round(time.Millisecond))
	return nil
}

// stageKeyConfig writes path's config with encryption_key set to current
// and previous_encryption_keys to previous, everything else (comments
// included) as it was, next to path, and checks that it loads with those
// keys. It returns the staged file's path.
func stageKeyConfig(path, current string, previous []string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("%s: not a YAML mapping", path)
	}
	var prevNode yaml.Node
	if err := prevNode.Encode(previous); err != nil {
		return "", err
	}
	prevNode.Style = yaml.FlowStyle
	setKey(doc.Content[0], "encryption_key", &yaml.Node{Kind: yaml.ScalarNode, Value: current})
	setKey(doc.Content[0], "previous_encryption_keys", &prevNode)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	staged := path + ".staged"
	if err := node.WriteFileAtomic(staged, out.Bytes(), 0o644); err != nil {
		return "", err
	}
	cfg, err := node.LoadConfig(staged)
	if err == nil && (cfg.EncryptionKey != current || !slices.Equal(cfg.PreviousEncryptionKeys, previous)) {
		err = errors.New("the keys did not take")
	}
	if err != nil {
		os.Remove(staged)
		return "", fmt.Errorf("staged config %s: %w", staged, err)
	}
	return staged, nil
}

// setKey sets key to v in a YAML mapping, adding it if absent.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// waitSerial waits until every running node holds roster serial.
func (r *scenarioRun) waitSerial(ctx context.Context, serial uint64, timeout time.Duration) error {
	t0 := time.Now()
	for {
		behind := 0
		for _, cc := range r.c.Running() {
			if h, err := r.c.Health(ctx, cc); err != nil || h.RosterSerial < serial {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Since(t0) > timeout {
			return fmt.Errorf("roster serial %d: %d running nodes still behind after %s", serial, behind, timeout)
		}
		sleepCtx(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// check verifies every request: delivered exactly once with a verified
// receipt, one incoming case at the receiver holding one request message,
// and the same state on both sides. Nodes still down are started first:
// the exercise ends with everyone back.
func (r *scenarioRun) check(ctx context.Context) {
	for _, cc := range r.c.Countries() {
		if r.c.Proc(cc) == nil {
			if _, err := r.startNode(ctx, cc); err != nil {
				r.fail("restart %s for the final check: %v", cc, err)
				return
			}
			r.logf("%s was down at the end; started it for the final check", cc)
		}
	}
	if len(r.rep.Requests) == 0 {
		r.logf("no requests sent; nothing to check")
		return
	}
	// Give stragglers (those behind a heal or restart) time to arrive.
	deadline := time.Now().Add(r.o.CheckTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		a, err1 := r.undelivered(ctx, "all")
		b, err2 := r.unsettled(ctx, "all")
		if err1 == nil && err2 == nil && len(a) == 0 && len(b) == 0 {
			break
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	_, _ = r.undelivered(ctx, "all")
	_, _ = r.unsettled(ctx, "all")
	incoming := map[string]map[string]int{} // receiver → case → incoming rows
	for _, q := range r.rep.Requests {
		if incoming[q.To] == nil {
			incoming[q.To] = map[string]int{}
			rows, err := r.c.Cases(ctx, q.To, "incoming")
			if err != nil {
				r.fail("cases at %s: %v", q.To, err)
				continue
			}
			for _, row := range rows {
				incoming[q.To][row.ID]++
			}
		}
		q.IncomingCases = incoming[q.To][q.CaseID]
		var problems []string
		if d, err := r.c.Case(ctx, q.From, q.CaseID); err != nil {
			problems = append(problems, "sender: "+err.Error())
		} else if len(d.Messages) == 0 {
			problems = append(problems, "sender holds no message")
		} else {
			m := d.Messages[0]
			q.Delivery, q.SenderState = m.State, d.State
			q.Verified = m.State == "delivered" && m.Receipt != nil && m.Receipt.Verified
			if !q.Verified {
				problems = append(problems, fmt.Sprintf("not delivered with a verified receipt (state %s, %d attempts, %s)", m.State, m.Attempts, m.LastError))
			}
		}
		if q.IncomingCases != 1 {
			problems = append(problems, fmt.Sprintf("%d incoming cases at %s, want 1", q.IncomingCases, q.To))
		}
		if d, err := r.c.Case(ctx, q.To, q.CaseID); err == nil {
			q.ReceiverState = d.State
			if len(d.Request) == 0 || string(d.Request) == "null" {
				problems = append(problems, fmt.Sprintf("%s cannot read the request (flags %v)", q.To, d.Flags))
			}
			for _, m := range d.Messages {
				if m.Type == "request" {
					q.RequestMessages++
				}
			}
			if q.RequestMessages != 1 {
				problems = append(problems, fmt.Sprintf("%d request messages at %s, want 1", q.RequestMessages, q.To))
			}
		} else if q.IncomingCases > 0 {
			problems = append(problems, "receiver: "+err.Error())
		}
		if q.SenderState != q.ReceiverState {
			problems = append(problems, fmt.Sprintf("states differ: %s at %s, %s at %s", q.SenderState, q.From, q.ReceiverState, q.To))
		}
		if len(problems) > 0 {
			q.Problem = strings.Join(problems, "; ")
			r.fail("%s→%s %s %s: %s", q.From, q.To, q.Kind, q.CaseID, q.Problem)
		}
	}
}

// WriteText prints the report.
func (rep *ScenarioReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nSCENARIO %s: %d nodes, time scale %g, %s\n", rep.Name, rep.Nodes, rep.Scale, rep.Elapsed.Round(time.Millisecond))
	ok, verified, agree := 0, 0, 0
	for _, q := range rep.Requests {
		if q.Problem == "" {
			ok++
		}
		if q.Verified && q.IncomingCases == 1 && q.RequestMessages == 1 {
			verified++
		}
		if q.SenderState != "" && q.SenderState == q.ReceiverState {
			agree++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tFROM\tTO\tKIND\tCASE\tSENT AT\tDELIVERY\tRECEIPT\tAT RECEIVER\tSTATE (sender/receiver)")
	shown := 0
	for _, q := range rep.Requests {
		if shown >= 40 && q.Problem == "" {
			continue // long runs: show the first 40 and every problem
		}
		shown++
		rc := "verified"
		if !q.Verified {
			rc = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\t%s\t%d case, %d request\t%s/%s\n", orDefault(q.Label, "-"), q.From, q.To, q.Kind,
			q.CaseID, q.SentAt.Seconds(), q.Delivery, rc, q.IncomingCases, q.RequestMessages, q.SenderState, q.ReceiverState)
	}
	tw.Flush()
	if shown < len(rep.Requests) {
		fmt.Fprintf(w, "(%d more requests without problems not listed)\n", len(rep.Requests)-shown)
	}
	fmt.Fprintf(w, "\n%d requests: %d delivered exactly once with a verified receipt, %d with the same state on both sides; %d orphan processes\n",
		len(rep.Requests), verified, agree, rep.Orphans)
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAIL: %s\n", f)
	}
	if rep.OK() {
		fmt.Fprintln(w, "PASS")
	}
}
