package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/types"
)

// operatorCmds are the commands of the operator's day: cases, one case,
// requests, actions, peers and alerts.
func operatorCmds() []*cobra.Command {
	return []*cobra.Command{newCasesCmd(), newCaseCmd(), newRequestCmd(), newActCmd(), newPeersCmd(), newAlertsCmd()}
}

func newCasesCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "cases",
		Short: "List cases (filter with --state, --direction, --kind)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showCaseList(cmd, &f)
		},
	}
	c.Flags().String("state", "", "only cases in this legal state")
	c.Flags().String("direction", "", "incoming or outgoing")
	c.Flags().String("kind", "", "preservation, emergency or assistance")
	f.register(c)
	return c
}

func showCaseList(cmd *cobra.Command, f *clientFlags) error {
	q := url.Values{}
	for _, k := range []string{"state", "direction", "kind"} {
		if v, _ := cmd.Flags().GetString(k); v != "" {
			q.Set(k, v)
		}
	}
	var out types.CaseList
	if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/cases?"+q.Encode(), nil, &out, ""); printed || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tDIR\tPEER\tKIND\tURGENCY\tSTATE\tDELIVERY\tACK DUE (UTC)\tEXPIRES\tCREATED (UTC)")
	for _, cs := range out.Cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cs.ID, short(cs.Direction), cs.Country, cs.Kind,
			cs.Urgency, cs.State, cs.Delivery, fmtTime(cs.AckDueAt, cs.AcknowledgedAt == nil), fmtDate(cs.ExpiresAt, cs.Hold),
			cs.CreatedAt.UTC().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func newCaseCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "case", Short: "Work on one case"}
	c.AddCommand(newCaseShowCmd(&f))
	f.register(c)
	return c
}

func newCaseShowCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show CASE-ID",
		Short: "Show a case: request, history, deadlines and next actions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v types.CaseView
			if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/cases/"+args[0], nil, &v, ""); printed || err != nil {
				return err
			}
			printCase(cmd.OutOrStdout(), &v)
			return nil
		},
	}
}

func newRequestCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "request", Short: "Send requests"}
	c.AddCommand(newRequestSendCmd(&f))
	f.register(c)
	return c
}

func newRequestSendCmd(f *clientFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "send",
		Short: "Send a request from a JSON file (see configs/examples/)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendRequest(cmd, f)
		},
	}
	c.Flags().String("file", "", "request JSON file, or - for stdin (required)")
	c.Flags().String("to", "", "override the recipient country")
	_ = c.MarkFlagRequired("file")
	return c
}

func sendRequest(cmd *cobra.Command, f *clientFlags) error {
	file, _ := cmd.Flags().GetString("file")
	body, err := readInput(file)
	if err != nil {
		return err
	}
	if to, _ := cmd.Flags().GetString("to"); to != "" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("%s is not JSON: %w", file, err)
		}
		m["to"] = strings.ToUpper(to)
		if body, err = json.Marshal(m); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	var sub types.Submission
	if printed, err := f.fetch(cmd, http.MethodPost, "/api/v1/requests", body, &sub, "request not sent"); printed || err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "accepted and stored; delivering\ncase:    %s\nmessage: %s\n", sub.CaseID, sub.MessageID)
	return nil
}

func newActCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "act CASE-ID ACTION [field=value ...]",
		Short: "Take an action on a case, e.g. vigil act ID acknowledge operator='J. Doe'",
		Long: `act sends one lifecycle action. Fields are given as field=value pairs
(numbers are sent as numbers) or as a JSON file with --file. The node checks
the action against the case's state and refuses what is not allowed.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(cmd, &f, args)
		},
	}
	c.Flags().String("file", "", "JSON file with the action's fields")
	c.Flags().String("operator", os.Getenv("VIGIL_OPERATOR"), "your name, recorded with the action (env VIGIL_OPERATOR)")
	f.register(c)
	return c
}

// act sends args[1] on case args[0] with the fields of --file and the
// field=value pairs after them.
func act(cmd *cobra.Command, f *clientFlags, args []string) error {
	fields, err := actionFields(cmd, args)
	if err != nil {
		return err
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("action %s: %w", args[1], err)
	}
	var res types.ActResult
	if printed, err := f.fetch(cmd, http.MethodPost, "/api/v1/cases/"+args[0]+"/actions", body, &res, "action not taken"); printed || err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s recorded; case is now %s (message %s)\n", args[1], res.State, res.MessageID)
	return nil
}

// actionFields is the action document: --file's fields, then the
// field=value pairs (period_days as a number), the action and --operator.
func actionFields(cmd *cobra.Command, args []string) (map[string]any, error) {
	fields := map[string]any{}
	if file, _ := cmd.Flags().GetString("file"); file != "" {
		b, err := readInput(file)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object: %w", file, err)
		}
	}
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("field %q: want field=value", kv)
		}
		var n json.Number
		if json.Unmarshal([]byte(v), &n) == nil && k == "period_days" {
			fields[k] = n
		} else {
			fields[k] = v
		}
	}
	fields["action"] = args[1]
	if op, _ := cmd.Flags().GetString("operator"); op != "" {
		fields["operator"] = op
	}
	return fields, nil
}

func newPeersCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "peers",
		Short: "List roster members with connection state, local time and fallback contacts",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out types.PeerList
			if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/peers", nil, &out, ""); printed || err != nil {
				return err
			}
			return printPeers(cmd.OutOrStdout(), &out)
		},
	}
	f.register(c)
	return c
}

func printPeers(w io.Writer, pl *types.PeerList) error {
	fmt.Fprintf(w, "roster serial %d\n", pl.RosterSerial)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tCONNECTED\tRTT\tOUTBOX\tLOCAL TIME\tOFFICE HOURS\tPHONE\tE-MAIL")
	for _, p := range pl.Peers {
		conn := "no"
		switch {
		case p.Self:
			conn = "(this node)"
		case p.Connected:
			conn = "yes"
		}
		if p.Quarantine != nil {
			conn += " (QUARANTINED: " + p.Quarantine.Reason + ")"
		}
		local := ""
		if loc, err := time.LoadLocation(p.TimeZone); err == nil {
			local = time.Now().In(loc).Format("Mon 15:04 MST")
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%d\t%s\t%s\t%s\t%s\n", p.Country, conn, p.RTTMillis, p.Outbox, local,
			p.OfficeHours, p.Phone, p.Email)
	}
	return tw.Flush()
}

func newAlertsCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "alerts",
		Short: "List open alerts: overdue acknowledgements, expiring preservations",
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/alerts"
			if all, _ := cmd.Flags().GetBool("all"); all {
				path += "?all=true"
			}
			var out types.AlertList
			if printed, err := f.fetch(cmd, http.MethodGet, path, nil, &out, ""); printed || err != nil {
				return err
			}
			return printAlerts(cmd.OutOrStdout(), out.Alerts)
		},
	}
	c.Flags().Bool("all", false, "include cleared alerts")
	f.register(c)
	return c
}

func printAlerts(w io.Writer, alerts []types.Alert) error {
	if len(alerts) == 0 {
		fmt.Fprintln(w, "no open alerts")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tKIND\tCASE\tPEER\tDUE (UTC)\tRAISED (UTC)\tMESSAGE")
	for _, a := range alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Severity, a.Kind, a.CaseID, a.Country,
			a.DueAt.UTC().Format("2006-01-02 15:04"), a.RaisedAt.UTC().Format("2006-01-02 15:04"), a.Message)
	}
	return tw.Flush()
}

func readInput(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return b, nil
}

func short(dir string) string {
	if dir == "incoming" {
		return "in"
	}
	return "out"
}

func fmtTime(t *time.Time, pending bool) string {
	if t == nil {
		return "-"
	}
	s := t.UTC().Format("2006-01-02 15:04")
	if !pending {
		s += " (done)"
	}
	return s
}

func fmtDate(t *time.Time, hold bool) string {
	if hold {
		return "held (MLA)"
	}
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func printCase(w io.Writer, v *types.CaseView) {
	fmt.Fprintf(w, "case %s  (%s, %s %s)\n", v.ID, v.Kind, v.Direction, v.Country)
	fmt.Fprintf(w, "state:      %s   delivery: %s   urgency: %s\n", v.State, v.Delivery, v.Urgency)
	fmt.Fprintf(w, "created:    %s UTC\n", v.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
	if v.AckDueAt != nil {
		fmt.Fprintf(w, "ack due:    %s UTC", v.AckDueAt.UTC().Format("2006-01-02 15:04"))
		if v.AcknowledgedAt != nil {
			fmt.Fprintf(w, " (acknowledged %s)", v.AcknowledgedAt.UTC().Format("2006-01-02 15:04"))
		}
		fmt.Fprintln(w)
	}
	if v.ExpiresAt != nil || v.Hold {
		fmt.Fprintf(w, "preserved:  until %s\n", fmtDate(v.ExpiresAt, v.Hold))
	}
	if v.RequesterTimeZone != "" {
		fmt.Fprintf(w, "requester:  %s, office hours %s, local time now %s\n", v.RequesterTimeZone, v.RequesterOfficeHours, v.RequesterLocalTime)
	}
	if len(v.Flags) > 0 {
		fmt.Fprintf(w, "flags:      %s\n", strings.Join(v.Flags, ", "))
	}
	fmt.Fprintln(w, "\nhistory:")
	fmt.Fprintf(w, "  %s  request received/sent\n", v.CreatedAt.UTC().Format("2006-01-02 15:04"))
	for _, h := range v.History {
		line := fmt.Sprintf("  %s  %-9s %-22s %s → %s  by %s", h.At.UTC().Format("2006-01-02 15:04"), h.By, h.Action, h.From, h.To, h.Operator)
		if h.Invalid != "" {
			line += "  [NOT APPLIED: " + h.Invalid + "]"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "\nmessages:")
	for _, m := range v.Messages {
		rc := ""
		if m.Receipt != nil {
			rc = fmt.Sprintf(" receipt %s verified=%v", m.Receipt.ReceivedAt.UTC().Format("15:04:05"), m.Receipt.Verified)
		}
		fmt.Fprintf(w, "  %s %-8s %-8s %-9s attempts=%d%s\n", m.ID, m.Type, m.Direction, m.State, m.Attempts, rc)
	}
	if len(v.Available) > 0 {
		fmt.Fprintf(w, "\nnext actions: %s\n", strings.Join(v.Available, ", "))
	}
	if len(v.Request) > 0 {
		fmt.Fprintln(w, "\nrequest:")
		printJSON(w, v.Request)
	}
}
