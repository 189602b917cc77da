package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/store"
)

func drillCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "drill", Short: "Run network drills (reachability, human response) and show their results"}

	var kind, operator string
	var countries []string
	run := &cobra.Command{
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
			cl, err := f.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			switch kind {
			case store.DrillReachability:
				if len(countries) > 0 {
					return fmt.Errorf("--country applies to response drills; a reachability drill pings every member")
				}
				if err := cl.do("POST", "/api/v1/drills/reachability", nil, &raw); err != nil {
					return fmt.Errorf("drill not run: %w", err)
				}
				if f.json {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				var r store.DrillRun
				if err := json.Unmarshal(raw, &r); err != nil {
					return fmt.Errorf("decode run: %w", err)
				}
				return printReachability(cmd.OutOrStdout(), &r)
			case store.DrillResponse:
				var cc []string
				for _, c := range countries {
					for _, p := range strings.Split(c, ",") {
						if p = strings.TrimSpace(p); p != "" {
							cc = append(cc, strings.ToUpper(p))
						}
					}
				}
				body, _ := json.Marshal(node.ResponseDrillRequest{Countries: cc, Operator: operator})
				if err := cl.do("POST", "/api/v1/drills/response", body, &raw); err != nil {
					return fmt.Errorf("drill not run: %w", err)
				}
				if f.json {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				var out struct {
					Run store.DrillRun `json:"run"`
				}
				if err := json.Unmarshal(raw, &out); err != nil {
					return fmt.Errorf("decode run: %w", err)
				}
				return printResponseRun(cmd.OutOrStdout(), &out.Run)
			default:
				return fmt.Errorf("--kind %q: want reachability or response", kind)
			}
		},
	}
	run.Flags().StringVar(&kind, "kind", store.DrillReachability, "reachability or response")
	run.Flags().StringSliceVar(&countries, "country", nil, "response drill: country to drill (repeat or comma-separate; default every member)")
	run.Flags().StringVar(&operator, "operator", os.Getenv("VIGIL_OPERATOR"), "response drill: your name, given as the requesting person (env VIGIL_OPERATOR)")

	report := &cobra.Command{
		Use:   "report",
		Short: "Per member: reachable, round trip, time to acknowledge drill requests, misses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := cl.do("GET", "/api/v1/drills/report", nil, &raw); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var rep node.DrillReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return fmt.Errorf("decode report: %w", err)
			}
			return printDrillReport(cmd.OutOrStdout(), &rep)
		},
	}
	c.AddCommand(run, report)
	f.register(c)
	return c
}

func printReachability(w io.Writer, r *store.DrillRun) error {
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

func printResponseRun(w io.Writer, r *store.DrillRun) error {
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

func printDrillReport(w io.Writer, rep *node.DrillReport) error {
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
