// Package scenario plays scripted exercises (`vigil testnet scenario
// FILE.yaml`) against a local testnet: the runner starts the testnet's
// nodes as child processes, so it can stop, kill and restart them, then
// plays the steps in order: requests between named countries, node
// failures, partitions, clock skew, roster updates and waits. At the end
// it checks that every request was delivered exactly once with a verified
// receipt and that both sides agree on each case's state.
//
// The package is in four parts: the file format (this file), the runner
// (runner.go), one type per kind of step (steps.go, roster.go) and the
// checks of what the nodes hold (check.go), with the report (report.go).
// It stays one package (about 1,500 lines) because the steps, the runner
// and the checks share the runner's record of what was sent where;
// splitting them would export that record only for each other.
//
// configs/scenarios holds examples; the format:
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
package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scenario is a parsed scenario file.
type Scenario struct {
	Name        string              `yaml:"name"`
	Description string              `yaml:"description"`
	Nodes       int                 `yaml:"nodes"`
	TimeScale   float64             `yaml:"time_scale"`
	Groups      map[string]NodeList `yaml:"groups"`
	// Steps are parsed one by one (parseStep), each into its own type.
	Steps []Step `yaml:"-"`
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

// Step is one step of a scenario: a mapping with one key, the kind of
// step, whose value the step's Action is decoded from.
type Step struct {
	Kind   string // send, stop, ...: a key of actions
	Line   int    // in the scenario file
	Action Action
}

// Action is what a step does. Each kind of step is its own type; the
// runner checks every step before the testnet starts, then runs them in
// order.
type Action interface {
	// check validates the step against the testnet (its countries, the
	// scenario's groups, the example requests) before anything runs.
	check(r *runner) error
	// run plays the step.
	run(ctx context.Context, r *runner) error
}

// actions makes an empty Action of each kind of step, for the step's YAML
// to be decoded into.
var actions = map[string]func() Action{
	"send":        func() Action { return new(Send) },
	"stop":        func() Action { return new(Stop) },
	"kill":        func() Action { return new(Kill) },
	"start":       func() Action { return new(Start) },
	"restart":     func() Action { return new(Restart) },
	"partition":   func() Action { return new(Partition) },
	"heal":        func() Action { return new(Heal) },
	"clock":       func() Action { return new(Clock) },
	"wait":        func() Action { return new(Wait) },
	"expect":      func() Action { return new(Expect) },
	"acknowledge": func() Action { return new(Acknowledge) },
	"roster":      func() Action { return new(Roster) },
	"rotate_key":  func() Action { return new(RotateKey) },
	"say":         func() Action { return new(Say) },
}

// Parse reads a scenario, refusing unknown keys and steps that do not
// name exactly one action.
func Parse(b []byte) (*Scenario, error) {
	var doc struct {
		Scenario `yaml:",inline"`
		Steps    []yaml.Node `yaml:"steps"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if len(doc.Steps) == 0 {
		return nil, errors.New("scenario: no steps")
	}
	sc := &doc.Scenario
	for i := range doc.Steps {
		st, err := parseStep(&doc.Steps[i])
		if err != nil {
			return nil, fmt.Errorf("scenario: step %d (line %d): %w", i+1, doc.Steps[i].Line, err)
		}
		sc.Steps = append(sc.Steps, st)
	}
	if sc.TimeScale < 0 {
		return nil, errors.New("scenario: time_scale must be positive")
	}
	return sc, nil
}

// Load reads and parses a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// parseStep reads one step. A key with an empty (null) value names no
// action, as if it were absent.
func parseStep(n *yaml.Node) (Step, error) {
	if n.Kind != yaml.MappingNode {
		return Step{}, errors.New("a step is a mapping that names one action, e.g. {stop: DE}")
	}
	var kinds []string
	var body *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if actions[k.Value] == nil {
			return Step{}, fmt.Errorf("line %d: unknown action %q (want one of %s)", k.Line, k.Value,
				strings.Join(slices.Sorted(maps.Keys(actions)), ", "))
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		kinds, body = append(kinds, k.Value), v
	}
	if len(kinds) != 1 {
		return Step{}, fmt.Errorf("must name exactly one action, names %d (%s)", len(kinds), strings.Join(kinds, ", "))
	}
	a := actions[kinds[0]]()
	if err := decodeStrict(body, a); err != nil {
		return Step{}, err
	}
	return Step{Kind: kinds[0], Line: n.Line, Action: a}, nil
}

// decodeStrict decodes a step's value into its action, refusing keys the
// action does not have, as the file's decoder does for the rest of the
// file: yaml.v3's Node.Decode does not carry KnownFields over, and a
// misspelt key (send: {fro: FR}) must not silently do nothing.
func decodeStrict(n *yaml.Node, a Action) error {
	t := reflect.TypeOf(a).Elem()
	if _, custom := a.(yaml.Unmarshaler); !custom && n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct {
		known := map[string]bool{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			known[name] = true
		}
		var unknown []string
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; !known[k.Value] {
				unknown = append(unknown, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
			}
		}
		if len(unknown) > 0 {
			return &yaml.TypeError{Errors: unknown}
		}
	}
	return n.Decode(a)
}
