package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// hardenCommands makes every mistake on the command line an error that
// names the fix. Cobra checks the subcommand only on the root: a typo one
// level down ("vigil roster sgin") printed help and exited 0, and a group
// that runs itself ("vigil testnet") ran with the typo as a stray argument.
func hardenCommands(c *cobra.Command) {
	c.SetFlagErrorFunc(flagError)
	c.SuggestionsMinimumDistance = 2
	if c.HasSubCommands() {
		c.Args = unknownSubcommand
		if !c.Runnable() {
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	for _, sub := range c.Commands() {
		hardenCommands(sub)
	}
}

// unknownSubcommand refuses any argument to a command group: the only
// arguments it takes are its subcommands, which cobra has already matched.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return fmt.Errorf("%s\nrun '%s --help' for its commands", msg, cmd.CommandPath())
}

// flagError adds the nearest flag names to pflag's "unknown flag" error.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var typed string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		typed = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -xyz": a single dash before a
		// long name is the usual slip.
		if i := strings.LastIndex(msg, " in -"); i >= 0 {
			typed = msg[i+len(" in -"):]
		}
	}
	if typed == "" {
		return fmt.Errorf("%w\nrun '%s --help' for its flags", err, cmd.CommandPath())
	}
	var names []string
	visit := func(f *pflag.Flag) {
		if !f.Hidden && (levenshtein(typed, f.Name) <= 2 || strings.HasPrefix(f.Name, typed)) {
			names = append(names, "--"+f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return fmt.Errorf("%w\nrun '%s --help' for its flags", err, cmd.CommandPath())
	}
	return fmt.Errorf("%w; did you mean %s?", err, strings.Join(names, " or "))
}

// levenshtein is the edit distance between a and b (cobra's own, which
// suggests subcommands, is not exported).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// legalStates are the case states the protocol's transition table can
// reach, from Rules itself so that a new state is listed without an edit.
func legalStates() []string {
	seen := map[protocol.State]bool{protocol.StateOpen: true}
	for _, r := range protocol.Rules {
		seen[r.To] = true
		for _, s := range r.From {
			seen[s] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		if s != "" { // a rule whose target depends on the action's fields
			out = append(out, string(s))
		}
	}
	slices.Sort(out)
	return out
}

// caseFilters are the values each filter of 'vigil cases' accepts. An
// unknown value is an error: the API would answer an empty list, which at
// 3 a.m. reads as "no cases".
func caseFilters() map[string][]string {
	return map[string][]string{
		"state":     legalStates(),
		"direction": {string(store.Incoming), string(store.Outgoing)},
		"kind": {string(protocol.KindPreservation), string(protocol.KindEmergency),
			string(protocol.KindEmergencyMLA), string(protocol.KindAssistance)},
	}
}

// checkChoice refuses a flag value outside valid, listing what is valid.
func checkChoice(flag, v string, valid []string) error {
	if v == "" || slices.Contains(valid, v) {
		return nil
	}
	return fmt.Errorf("--%s %q is not one of: %s", flag, v, strings.Join(valid, ", "))
}

// explain turns an error into what the operator needs: a node that does not
// answer is named with its address instead of a raw dial error.
func explain(err error) error {
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	addr := "the API address"
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		addr = op.Addr.String()
	}
	return fmt.Errorf("is the node running? (connection refused at %s; check 'vigil run', or --config/--api)", addr)
}

// reportError prints a failed command's error: as one JSON object when the
// command was given --json (scripts read stderr too), in plain text
// otherwise.
func reportError(w io.Writer, cmd *cobra.Command, err error) {
	err = explain(err)
	if cmd == nil || !jsonWanted(cmd) {
		fmt.Fprintln(w, "vigil:", err)
		return
	}
	out := struct {
		Error  string                `json:"error"`
		Status int                   `json:"status,omitempty"`
		Fields []protocol.FieldError `json:"fields,omitempty"`
	}{Error: err.Error()}
	var ce *client.Error
	if errors.As(err, &ce) {
		out.Status, out.Fields = ce.Status, ce.Fields
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(w, string(b))
}

func jsonWanted(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.String() == "true"
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the binary's module version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if asJSON {
				b, _ := json.MarshalIndent(v, "", "  ")
				_, err := fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			}
			if v.Modified {
				commit += " (modified)"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vigil %s\ncommit: %s %s\ngo:     %s\n", v.Version, commit, v.CommitTime, v.Go)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Go         string `json:"go"`
}

// buildVersion reads what the Go toolchain stamped into the binary: the
// module version ("(devel)" for a build from a checkout) and the VCS
// revision.
func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Version, v.Go = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}
