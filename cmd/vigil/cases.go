package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
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
	c.Flags().String("state", "", "only cases in this legal state: "+strings.Join(legalStates(), ", "))
	c.Flags().String("direction", "", "incoming or outgoing")
	c.Flags().String("kind", "", strings.Join(caseFilters()["kind"], ", "))
	c.Flags().String("country", "", "only cases with this member (ISO code)")
	c.Flags().String("urgency", "", "emergency, urgent or routine")
	c.Flags().String("search", "", "case or request ID prefix, or part of the reference")
	c.Flags().Int("limit", 500, "show at most this many cases, newest first (0: all)")
	f.register(c)
	return c
}

func showCaseList(cmd *cobra.Command, f *clientFlags) error {
	q := url.Values{}
	valid := caseFilters()
	for _, k := range []string{"state", "direction", "kind"} {
		if v, _ := cmd.Flags().GetString(k); v != "" {
			if err := checkChoice(k, v, valid[k]); err != nil {
				return err
			}
			q.Set(k, v)
		}
	}
	for k, param := range map[string]string{"country": "country", "urgency": "urgency", "search": "q"} {
		if v, _ := cmd.Flags().GetString(k); v != "" {
			q.Set(param, v)
		}
	}
	limit, _ := cmd.Flags().GetInt("limit")
	if limit < 0 {
		return fmt.Errorf("--limit must be 0 (all) or more")
	}
	// The API pages its answer; follow the cursor until the limit, so a
	// busy night's list is never cut short without saying so.
	var out types.CaseList
	for cursor := ""; ; {
		page := url.Values{}
		for k, v := range q {
			page[k] = v
		}
		if cursor != "" {
			page.Set("cursor", cursor)
		}
		var got types.CaseList
		if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/cases?"+page.Encode(), nil, &got, ""); printed || err != nil {
			return err // --json prints one page as the API sent it, with its next_cursor
		}
		out.Total = got.Total
		out.Cases = append(out.Cases, got.Cases...)
		if cursor = got.NextCursor; cursor == "" || (limit > 0 && len(out.Cases) >= limit) {
			break
		}
	}
	if limit > 0 && len(out.Cases) > limit {
		out.Cases = out.Cases[:limit]
	}
	defer func() {
		if len(out.Cases) < out.Total {
			fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d cases shown; --limit 0 shows all, filters narrow the list\n", len(out.Cases), out.Total)
		}
	}()
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tDIR\tPEER\tKIND\tURGENCY\tSTATE\tDELIVERY\tACK DUE (UTC)\tEXPIRES (UTC)\tCREATED (UTC)")
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
		Short: "Show a case: treaty basis, pending facts, history, and next actions with their articles and grounds",
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
		Long: `Send a request from a JSON file (see configs/examples/).

The request is sent with an Idempotency-Key: --idempotency-key, or a
new UUIDv7 made for this invocation. If the node does not answer (a
timeout or a broken connection), the request is sent once more with the
same key, so it is stored at most once. To retry by hand later, give the
same --idempotency-key and the same file: within 24 hours the node
answers with the original case instead of opening a second one.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sendRequest(cmd, f)
		},
	}
	c.Flags().String("file", "", "request JSON file, or - for stdin (required)")
	c.Flags().String("to", "", "override the recipient country")
	c.Flags().String("idempotency-key", "", "Idempotency-Key to send (1-128 printable ASCII characters); a new UUIDv7 if not given")
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
	key, _ := cmd.Flags().GetString("idempotency-key")
	if key == "" {
		key = client.NewIdempotencyKey()
	}
	cl, err := f.client()
	if err != nil {
		return err
	}
	hdr := http.Header{types.IdempotencyKeyHeader: {key}}
	var raw json.RawMessage
	_, rh, err := cl.doHeader(cmd.Context(), http.MethodPost, "/api/v1/requests", hdr, body, &raw)
	if err != nil && client.StatusOf(err) == 0 && cmd.Context().Err() == nil {
		// No answer: the request may or may not be stored. The same key
		// makes a second try safe.
		fmt.Fprintf(cmd.ErrOrStderr(), "no answer (%v); sending again with Idempotency-Key %s\n", err, key)
		_, rh, err = cl.doHeader(cmd.Context(), http.MethodPost, "/api/v1/requests", hdr, body, &raw)
	}
	if err != nil {
		if client.StatusOf(err) == 0 {
			return fmt.Errorf("request not sent: %w (it may have been stored: retry with --idempotency-key %s)", err, key)
		}
		return fmt.Errorf("request not sent: %w", err)
	}
	if f.json {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var sub types.Submission
	if err := json.Unmarshal(raw, &sub); err != nil {
		return fmt.Errorf("POST /api/v1/requests: decode answer: %w", err)
	}
	if rh.Get(types.IdempotentReplayedHeader) == "true" {
		fmt.Fprintf(cmd.OutOrStdout(), "accepted earlier with this Idempotency-Key; not sent again\ncase:    %s\nmessage: %s\n", sub.CaseID, sub.MessageID)
		return nil
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
		return withGrounds(cmd, f, args[0], args[1], err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s recorded; case is now %s (message %s)\n", args[1], res.State, res.MessageID)
	return nil
}

// actionFields is the action document: --file's fields, then the
// field=value pairs (period_days as a number, reasons_to_believe as a
// boolean), the action and --operator.
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
		b, berr := strconv.ParseBool(v)
		switch {
		case k == "period_days" && json.Unmarshal([]byte(v), &n) == nil:
			fields[k] = n
		case k == "reasons_to_believe" && berr == nil:
			fields[k] = b
		default:
			fields[k] = v
		}
	}
	fields["action"] = args[1]
	if op, _ := cmd.Flags().GetString("operator"); op != "" {
		fields["operator"] = op
	}
	return fields, nil
}

// withGrounds adds to an action refused for its ground (HTTP 422 naming
// the field) the grounds the case's treaty basis allows for that action,
// with their text and article, so the operator can pick one. Any other
// error, or one the case cannot be read for, is returned as it was.
func withGrounds(cmd *cobra.Command, f *clientFlags, caseID, action string, err error) error {
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity ||
		!slices.ContainsFunc(e.Fields, func(fe protocol.FieldError) bool { return fe.Field == "ground" }) {
		return err
	}
	cl, cerr := f.client()
	if cerr != nil {
		return err
	}
	var v types.CaseView
	if cl.do(cmd.Context(), http.MethodGet, "/api/v1/cases/"+caseID, nil, &v) != nil || v.Legal == nil {
		return err
	}
	opt, ok := v.Legal.Actions[action]
	if !ok || len(opt.Grounds) == 0 {
		return fmt.Errorf("%w\n%s is not open on this case now", err, action)
	}
	var b strings.Builder
	basis := treatyName(v.Legal.Terms.Treaty)
	if v.Legal.Terms.Treaty == "" {
		basis = "no treaty basis"
	}
	fmt.Fprintf(&b, "grounds for %s on this case (%s):\n", action, basis)
	printGrounds(&b, "  ", opt.Grounds)
	return fmt.Errorf("%w\n%s", err, strings.TrimRight(b.String(), "\n"))
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

// fmtDate is a preservation expiry in UTC. It keeps the time: the period
// ends at midnight in the requested state's zone, which is the day before
// in UTC for zones east of it ('case show' gives it in both states' zones).
func fmtDate(t *time.Time, hold bool) string {
	if hold {
		return "held (MLA)"
	}
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
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
	if v.Legal == nil && (v.ExpiresAt != nil || v.Hold) {
		// A node without the legal view: its expiry, in UTC.
		until := fmtDate(v.ExpiresAt, v.Hold)
		if !v.Hold {
			until += " UTC"
		}
		fmt.Fprintf(w, "preserved:  until %s\n", until)
	}
	if v.RequesterTimeZone != "" {
		fmt.Fprintf(w, "requester:  %s, office hours %s, local time now %s\n", v.RequesterTimeZone, v.RequesterOfficeHours, v.RequesterLocalTime)
	}
	if len(v.Flags) > 0 {
		fmt.Fprintf(w, "flags:      %s\n", strings.Join(v.Flags, ", "))
	}
	if v.Legal != nil {
		printLegal(w, v)
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
	printNextActions(w, v)
	if len(v.Request) > 0 {
		fmt.Fprintln(w, "\nrequest:")
		printJSON(w, v.Request)
	}
}

// printLegal prints the legal side of a case as the node derived it from
// the signed roster: the treaty basis (or why there is none), the
// reservations and declarations that apply, what is pending and when the
// preservation expires, in the requested state's zone and the requester's.
func printLegal(w io.Writer, v *types.CaseView) {
	t, lf := v.Legal.Terms, v.Legal.Facts
	fmt.Fprintln(w, "\nlegal:")
	on := ""
	if !t.RequestedAt.IsZero() {
		on = fmt.Sprintf(", judged on %s (UTC) under roster serial %d", t.RequestedAt.UTC().Format(time.DateOnly), t.RosterSerial)
	}
	if t.Treaty == "" {
		fmt.Fprintf(w, "  treaty basis:   NONE: %s\n", t.Problem)
		fmt.Fprintln(w, "                  the request can only be taken up, asked about, withdrawn or refused on that ground")
	} else {
		fmt.Fprintf(w, "  treaty basis:   %s%s\n", treatyName(t.Treaty), on)
	}
	if t.Legacy {
		fmt.Fprintln(w, "                  (assumed: the case was stored before treaty bases were kept)")
	}
	applying := reservationsApplying(t)
	if len(applying) == 0 {
		applying = []string{"none apply to this request"}
	}
	fmt.Fprintf(w, "  reservations:   %s\n", strings.Join(applying, "\n                  "))
	if t.Kind == protocol.KindPreservation {
		// The same rules under either Convention, by their own articles.
		art30, art29 := cite(t, "30", "43"), cite(t, "29(7)", "42(7)")
		traffic := "not asked for (no disclosure or withholding under " + art30 + ")"
		if t.Traffic {
			traffic = "asked for (" + art30 + ")"
		}
		fmt.Fprintf(w, "  traffic data:   %s\n", traffic)
		limit := "not stated"
		if t.MaxTotalDays > 0 {
			limit = fmt.Sprintf("%d days in all", t.MaxTotalDays)
		}
		fmt.Fprintf(w, "  period:         at least %d days from the actual start (%s); requested state's maximum %s\n",
			protocol.MinPreservationDays, art29, limit)
	}
	pending := pendingFacts(t, lf, v.Hold)
	if len(pending) == 0 {
		pending = []string{"nothing"}
	}
	fmt.Fprintf(w, "  pending:        %s\n", strings.Join(pending, "\n                  "))
	if lv := v.Legal; lv.ExpiresResponder != "" || v.ExpiresAt != nil {
		exp := lv.ExpiresResponder
		if exp == "" {
			exp = v.ExpiresAt.UTC().Format("2006-01-02 15:04") + " UTC"
		}
		if lv.ExpiresRequester != "" && lv.ExpiresRequester != lv.ExpiresResponder {
			exp += " = " + lv.ExpiresRequester
		}
		if v.Hold {
			exp += "; does not run while the MLA hold lasts"
		}
		fmt.Fprintf(w, "  expires:        %s\n", exp)
	}
}

func treatyName(t protocol.Treaty) string {
	if n, ok := protocol.Treaties[t]; ok {
		return n
	}
	return string(t)
}

// reservationsApplying lists the requested state's reservations and
// declarations that the terms say apply to this request.
func reservationsApplying(t protocol.Terms) []string {
	var out []string
	name := func(k protocol.DeclarationKind) string {
		return fmt.Sprintf("requested state's %s (%s)", k, declarationNames[k])
	}
	if t.DualCriminality {
		k := protocol.ReservationDualCriminality
		if t.Treaty == protocol.TreatyUN {
			k = protocol.ReservationDualCriminalityUN
		}
		out = append(out, name(k))
	}
	if t.SubscriberOnlyDeclared {
		out = append(out, name(protocol.DeclarationSubscriberOnly))
	}
	if t.Confirmation != "" {
		s := name(t.Confirmation)
		if t.ConfirmationText != "" {
			s += ": " + t.ConfirmationText
		}
		out = append(out, s)
	}
	return out
}

// pendingFacts says what the case is waiting for, each with its article.
func pendingFacts(t protocol.Terms, lf protocol.LegalFacts, hold bool) []string {
	var out []string
	zone := t.ResponderZone
	if zone == "" {
		zone = "UTC"
	}
	local := func(at time.Time) string {
		if loc, err := protocol.LoadZone(zone); err == nil {
			at = at.In(loc)
		}
		return at.Format(time.DateOnly) + " (" + zone + ")"
	}
	if !lf.PreservedFrom.IsZero() {
		out = append(out, "preserved since "+local(lf.PreservedFrom))
	}
	if lf.InfoPending {
		out = append(out, "information asked of the requester, not yet provided (preservation is not held up: "+cite(t, "29(3)", "42(3)")+")")
	}
	if !lf.DecisionDueAt.IsZero() {
		out = append(out, fmt.Sprintf("requester's decision to proceed or withdraw due %s UTC (%s)", lf.DecisionDueAt.UTC().Format("2006-01-02 15:04"), cite(t, "29(6)", "42(6)")))
	}
	switch {
	case hold:
		review := ""
		if !lf.ReviewDueAt.IsZero() {
			review = "; next review " + local(lf.ReviewDueAt) + " (Protocol Art. 14(5))"
		}
		out = append(out, "MLA hold: the data stay preserved pending the decision on the MLA request ("+cite(t, "29(7)", "42(7)")+")"+review)
	case lf.MLASubmitted:
		out = append(out, "the requester says its MLA request was sent; the hold starts when the requested side records its receipt ("+cite(t, "29(7)", "42(7)")+")")
	}
	if lf.ExplanationDue {
		out = append(out, "explanation of the use made of the data due from the requester (Protocol Art. 9(7)(b))")
	}
	if t.Confirmation != "" {
		if lf.ConfirmationSent {
			out = append(out, "formal confirmation sent (Budapest Art. 25(3), Protocol Art. 9(5))")
		} else {
			out = append(out, "formal confirmation due from the requester (Budapest Art. 25(3), Protocol Art. 9(5))")
		}
	}
	if !lf.PostponedUntil.IsZero() {
		out = append(out, "postponed until "+local(lf.PostponedUntil)+" (Budapest Art. 27(5))")
	}
	return out
}

// cite is a paragraph of the preservation article under the treaty the
// case runs under: Budapest Art. 29 or its UN counterpart, Art. 42.
func cite(t protocol.Terms, budapest, un string) string {
	if t.Treaty == protocol.TreatyUN {
		return "UN Art. " + un
	}
	return "Budapest Art. " + budapest
}

// printNextActions lists what this side may do now, each action with the
// article it comes from and, where it takes one, the grounds the treaty
// basis allows.
func printNextActions(w io.Writer, v *types.CaseView) {
	if len(v.Available) == 0 {
		fmt.Fprintf(w, "\nnext actions: none for the %s now\n", cmp.Or(v.Role, "this side"))
		return
	}
	if v.Legal == nil {
		fmt.Fprintf(w, "\nnext actions: %s\n", strings.Join(v.Available, ", "))
		return
	}
	fmt.Fprintf(w, "\nnext actions (%s):\n", cmp.Or(v.Role, "this side"))
	for _, a := range v.Available {
		opt := v.Legal.Actions[a]
		line := "  " + a
		if opt.Doc != "" {
			line += " — " + opt.Doc
		}
		if opt.Article != "" {
			line += " — " + opt.Article
		}
		fmt.Fprintln(w, line)
		if opt.MinPeriodDays > 0 || opt.MaxPeriodDays > 0 {
			fmt.Fprintf(w, "      period_days: %d to %d\n", opt.MinPeriodDays, opt.MaxPeriodDays)
		}
		if len(opt.Grounds) > 0 {
			label := "ground"
			if a == string(protocol.ActDetermine) {
				label = "ground (with decision=refuse)"
			}
			fmt.Fprintf(w, "      %s, one of:\n", label)
			printGrounds(w, "        ", opt.Grounds)
		}
	}
}

func printGrounds(w io.Writer, indent string, gs []protocol.Ground) {
	for _, g := range gs {
		fmt.Fprintf(w, "%s%s — %s — %s\n", indent, g.Key, g.Text, g.Article)
	}
}
