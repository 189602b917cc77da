package scenario

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// SentRequest is one request a scenario sent, and what the check found.
type SentRequest struct {
	Label, From, To, Kind, CaseID string
	SentAt                        time.Duration // since the scenario began

	SenderState, Delivery, ReceiverState string
	Verified                             bool
	IncomingCases, RequestMessages       int
	Problem                              string
}

// Report is the outcome of a run.
type Report struct {
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
func (rep *Report) OK() bool { return len(rep.Failures) == 0 }

// WriteText prints the report.
func (rep *Report) WriteText(w io.Writer) {
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
		label := q.Label
		if label == "" {
			label = "-"
		}
		rc := "verified"
		if !q.Verified {
			rc = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\t%s\t%d case, %d request\t%s/%s\n", label, q.From, q.To, q.Kind,
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
