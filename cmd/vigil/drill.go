package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/types"
)

func newDrillCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "drill", Short: "Run network drills (reachability, human response) and show their results"}
	c.AddCommand(newDrillRunCmd(&f), newDrillReportCmd(&f))
	f.register(c)
	return c
}

func newDrillRunCmd(f *clientFlags) *cobra.Command {
	var kind, operator string
	var countries []string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run a drill now: signed pings to every member, or test requests a person must acknowledge",
		Long: `run starts a drill on this node.

  --kind reachability  (default) pings every roster member in parallel with a
                       signed ping and waits for its signed pong; prints each
                       member's round trip or error.
  --kind response      sends each member (or those given with --country) an
                       assistance query clearly marked as a drill. A person at
                       the receiving node must acknowledge it; follow the
                       results with 'vigil drill report'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch kind {
			case types.DrillReachability:
				if len(countries) > 0 {
					return fmt.Errorf("--country applies to response drills; a reachability drill pings every member")
				}
				return runReachabilityDrill(cmd, f)
			case types.DrillResponse:
				return runResponseDrill(cmd, f, types.ResponseDrillRequest{Countries: countryList(countries), Operator: operator})
			default:
				return fmt.Errorf("--kind %q: want reachability or response", kind)
			}
		},
	}
	c.Flags().StringVar(&kind, "kind", types.DrillReachability, "reachability or response")
	c.Flags().StringSliceVar(&countries, "country", nil, "response drill: country to drill (repeat or comma-separate; default every member)")
	c.Flags().StringVar(&operator, "operator", os.Getenv("VIGIL_OPERATOR"), "response drill: your name, given as the requesting person (env VIGIL_OPERATOR)")
	return c
}

// countryList is the --country values, split at commas, upper-cased.
func countryList(flags []string) []string {
	var cc []string
	for _, c := range flags {
		for _, p := range strings.Split(c, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cc = append(cc, strings.ToUpper(p))
			}
		}
	}
	return cc
}

func runReachabilityDrill(cmd *cobra.Command, f *clientFlags) error {
	var run types.DrillRun
	if printed, err := f.fetch(cmd, http.MethodPost, "/api/v1/drills/reachability", nil, &run, "drill not run"); printed || err != nil {
		return err
	}
	return printReachability(cmd.OutOrStdout(), &run)
}

func runResponseDrill(cmd *cobra.Command, f *clientFlags, req types.ResponseDrillRequest) error {
	var started types.ResponseDrillStarted
	if printed, err := f.fetch(cmd, http.MethodPost, "/api/v1/drills/response", req, &started, "drill not run"); printed || err != nil {
		return err
	}
	return printResponseRun(cmd.OutOrStdout(), &started.Run)
}

func newDrillReportCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Per member: reachable, round trip, time to acknowledge drill requests, misses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep types.DrillReport
			if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/drills/report", nil, &rep, ""); printed || err != nil {
				return err
			}
			return printDrillReport(cmd.OutOrStdout(), &rep)
		},
	}
}

func printReachability(w io.Writer, r *types.DrillRun) error {
	reached := 0
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tREACHABLE\tRTT\tFAILURES\tERROR")
	for _, res := range r.Results {
		rtt := "-"
		if res.Reachable {
			reached++
			rtt = drillMillis(res.RTTMillis)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", res.Country, drillYesNo(res.Reachable), rtt, res.Failures, res.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "reached %d of %d members in %s (run %s)\n", reached, len(r.Results),
		r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), r.ID)
	return err
}

func printResponseRun(w io.Writer, r *types.DrillRun) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tCASE\tERROR")
	sent := 0
	for _, res := range r.Results {
		if res.CaseID != "" {
			sent++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Country, drillOrDash(res.CaseID), res.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "drill %s sent to %d of %d members; acknowledgement due by %s UTC\nfollow it with: vigil drill report\n",
		r.Reference, sent, len(r.Results), r.DeadlineAt.UTC().Format("2006-01-02 15:04"))
	return err
}

func printDrillReport(w io.Writer, rep *types.DrillReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tREACHABLE\tRTT\tPING FAILURES\tLAST PING (UTC)\tTIME TO ACK\tMEDIAN ACK\tDRILLS\tPENDING\tMISSES")
	for _, c := range rep.Countries {
		reachable, rtt, last := "-", "-", "-"
		if c.Reachable != nil {
			reachable = drillYesNo(*c.Reachable)
		}
		if c.RTTMillis != nil {
			rtt = drillMillis(*c.RTTMillis)
		}
		if c.LastPingAt != nil {
			last = c.LastPingAt.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n", c.Country, reachable, rtt, c.PingFailures, last,
			drillSeconds(c.AckSeconds), drillSeconds(c.AckMedianSeconds), c.DrillsSent, c.Pending, c.Misses)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r := rep.LastRun; r != nil {
		_, err := fmt.Fprintf(w, "last drill: %s by %s at %s UTC\n", r.Kind, r.Actor, r.StartedAt.UTC().Format("2006-01-02 15:04"))
		return err
	}
	_, err := fmt.Fprintln(w, "no drill has been run yet: vigil drill run")
	return err
}

func drillYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func drillOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func drillMillis(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

func drillSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(*s * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
