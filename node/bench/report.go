package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report for people: the floor, latency and its
// segments, throughput, CPU and syncs per request, the goals, and the
// baseline beside it when there is one.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	m, s, f, l, t := r.Machine, r.Setup, r.Floor, r.Latency, r.Throughput
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(&b, "Vigil benchmark, %s: %s → %s on loopback, in one process\n", r.Started.Format(time.RFC3339), s.Sender, s.Receiver)
	fmt.Fprintf(&b, "machine: %d CPUs (%s), GOMAXPROCS %d, %s %s/%s\n", m.CPUs, cpu, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	if m.LoadAvgStart != "" {
		fmt.Fprintf(&b, "load average: %s at start, %s at end (other work on the machine inflates every number)\n", m.LoadAvgStart, m.LoadAvgEnd)
	}
	kept := "removed"
	if s.Kept {
		kept = "kept"
	}
	fmt.Fprintf(&b, "data: %s (%s), store profile %q, durability %q, keys %q\n", s.DataDir, kept, s.StoreProfile, s.Durability, s.Keys)
	fmt.Fprintf(&b, "request: %d B preservation request JSON, %d B envelope; connections: %s\n\n",
		s.PayloadBytes, s.EnvelopeBytes, strings.Join(s.Connections, ", "))

	fmt.Fprintln(tw, "FLOOR (this run)\tp50\tp99\tp999\tn\t")
	row := func(name string, st Stats[Duration]) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t\n", name, st.P50, st.P99, st.P999, st.N)
	}
	row("F: 4 KiB append + fsync, data dir*", f.Fsync)
	row("F_pre: 4 KiB overwrite, preallocated + fdatasync*", f.FdatasyncPrealloc)
	row("libp2p round trip, warm ping stream", f.RoundTrip)
	row(fmt.Sprintf("  the same after %s idle (wake-up)", roundTripIdle), f.RoundTripIdle)
	row("crypto: seal+open+sign+verify", f.Crypto)
	row("  seal (encrypt + sign)", f.Seal)
	row("  open (verify + decrypt)", f.Open)
	row("  sign receipt", f.Sign)
	row("  verify receipt", f.Verify)
	fmt.Fprintf(tw, "  floor = 2F + round trip + crypto\t%s\t\t\t\t\n", f.Latency)
	fmt.Fprintf(tw, "  (3F, this design's three durable writes: %s)\t\t\t\t\t\n", f.LatencyThreeSyncs)
	fmt.Fprintf(tw, "  (3F_pre + round trip + crypto, the disk's own limit: %s)\t\t\t\t\t\n", f.LatencyDisk)
	fmt.Fprintf(tw, "  (2F + idle round trip + crypto: %s)\t\t\t\t\t\n", f.LatencyIdle)
	fmt.Fprintf(tw, "  naive ceiling 1/(2F)\t%.0f req/s\t\t\t\t\n", f.NaiveCeiling)
	fmt.Fprintf(tw, "  * sampled between the timed sequential requests\t\t\t\t\t\n")
	fmt.Fprintln(tw, "\t\t\t\t\t")

	fmt.Fprintf(tw, "LATENCY (%d sequential, after %d warm-up)\tp50\tp99\tp999\tmean\t\n", l.Requests, l.Warmup)
	lrow := func(name string, st Stats[Duration]) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", name, st.P50, st.P99, st.P999, st.Mean)
	}
	lrow("end to end: submit → receipt durable at sender", l.EndToEnd)
	fmt.Fprintf(tw, "    ÷ floor\t%.2f×\t%.2f×\t%.2f×\t\t\n", l.P50Ratio, l.P99Ratio, l.P999Ratio)
	fmt.Fprintf(tw, "    ÷ floor with the idle round trip\t%.2f×\t\t\t\t\n", l.P50RatioIdle)
	lrow("  submit (validate, seal, durable outbox)", l.Submit)
	lrow("  → durable at receiver", l.ToReceiver)
	lrow("  → receipt durable at sender", l.ReceiptBack)
	if l.CPUPerRequest > 0 {
		fmt.Fprintf(tw, "  CPU (both nodes)\t%s/request\t\t\t\t\n", l.CPUPerRequest)
	}
	storeRow(tw, l.Store)
	criticalPath(tw, l, f, s.Keys)
	fmt.Fprintln(tw, "\t\t\t\t\t")

	fmt.Fprintf(tw, "THROUGHPUT (%d requests, %d concurrent submitters)\t\t\t\t\t\n", t.Requests, t.Concurrency)
	fmt.Fprintf(tw, "  delivered\t%d in %s\t\t\t\t\n", t.Delivered, t.Wall)
	fmt.Fprintf(tw, "  durable requests/s\t%.0f\t\t\t\t\n", t.PerSecond)
	fmt.Fprintf(tw, "    ÷ goal %.0f/s\t%.2f×\t\t\t\t\n", GoalThroughput, t.GoalRatio)
	fmt.Fprintf(tw, "    ÷ naive ceiling %.0f/s\t%.1f×\t\t\t\t\n", f.NaiveCeiling, t.CeilingRatio)
	fmt.Fprintf(tw, "  latency under load\tp50\tp99\tp999\tmean\t\n")
	lrow("  end to end", t.EndToEnd)
	lrow("    submit", t.Submit)
	lrow("    → durable at receiver", t.ToReceiver)
	lrow("    → receipt durable at sender", t.ReceiptBack)
	if t.CPU > 0 {
		fmt.Fprintf(tw, "  CPU (both nodes + load)\t%s/request\t%.0f%% of %d CPUs\t\t\t\n", t.CPUPerRequest, 100*t.Utilisation, m.CPUs)
	}
	storeRow(tw, t.Store)
	fmt.Fprintln(tw, "\t\t\t\t\t")
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	g := r.Goals
	fmt.Fprintf(&b, "GOALS\n")
	fmt.Fprintf(&b, "  latency p50 ≤ %.1f× floor: %.2f× — %s\n", g.LatencyRatio, l.P50Ratio, verdict(g.LatencyMet))
	fmt.Fprintf(&b, "  latency p99 ≤ %.1f× floor: %.2f× — %s\n", g.P99Ratio, l.P99Ratio, verdict(g.P99Met))
	fmt.Fprintf(&b, "  throughput ≥ %.0f/s: %.0f/s — %s\n", g.Throughput, t.PerSecond, verdict(g.ThroughputMet))
	fmt.Fprintf(&b, "  CPU under load ≤ %s/request: %s — %s\n", g.CPUPerRequest, t.CPUPerRequest, verdict(g.CPUMet))
	if base := r.Baseline; base != nil {
		writeComparison(&b, r, base)
	}
	// tabwriter pads the last cell of each line; drop the trailing spaces.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// storeRow prints the stores' counters per request.
func storeRow(tw io.Writer, st StorePerRequest) {
	fmt.Fprintf(tw, "  store syncs/request (sender + receiver)\t%.2f\t(%.2f + %.2f)\t\t\t\n", st.Syncs, st.SenderSyncs, st.ReceiverSyncs)
	fmt.Fprintf(tw, "  store commits/request, writes/request\t%.2f\t%.2f\t\t\t\n", st.Commits, st.Writes)
	fmt.Fprintf(tw, "  commits run by their caller (no hand-off)/request\t%.2f\t\t\t\t\n", st.CallerCommits)
	fmt.Fprintf(tw, "  durable commit time/request (of it fdatasync)\t%s\t(%s)\t\t\t\n", st.CommitTime, st.SyncTime)
	fmt.Fprintf(tw, "  committer staging time/request\t%s\t\t\t\t\n", st.StageTime)
}

// criticalPath splits the mean sequential request into what the
// measurements account for: the stores' staging (their committers
// running the requests' reads, records and audit appends) and durable
// commits (all on the path, one request at a time), the cryptography and
// the round trip (their floor p50s), and the rest, which is software:
// parsing, validation, framing and goroutine hand-offs. Under UUIDv7
// keys the sender's outbox commit overlaps the send, so the parts overlap
// too and "the rest" (what is left after subtracting them) reads low.
func criticalPath(tw io.Writer, l Latency, f Floor, keys string) {
	mean := l.EndToEnd.Mean
	if mean <= 0 {
		return
	}
	rest := mean - l.Store.StageTime - l.Store.CommitTime - f.Crypto.P50 - f.RoundTrip.P50
	pct := func(d Duration) string { return fmt.Sprintf("%.0f%%", 100*float64(d)/float64(mean)) }
	fmt.Fprintf(tw, "  mean request, split\t%s\t\t\t\t\n", mean)
	fmt.Fprintf(tw, "    committer staging: reads, records, audit\t%s\t%s\t\t\t\n", l.Store.StageTime, pct(l.Store.StageTime))
	order, restLabel := "one after another", "the rest: parsing, framing, hand-offs"
	if keys == KeysUUIDv7 {
		order, restLabel = "the sender's first overlaps the send", "the rest, less that overlap"
	}
	fmt.Fprintf(tw, "    durable commits (%.1f, %s)\t%s\t%s\t\t\t\n", l.Store.Commits, order, l.Store.CommitTime, pct(l.Store.CommitTime))
	fmt.Fprintf(tw, "      of it fdatasync\t%s\t%s\t\t\t\n", l.Store.SyncTime, pct(l.Store.SyncTime))
	fmt.Fprintf(tw, "    crypto (floor p50)\t%s\t%s\t\t\t\n", f.Crypto.P50, pct(f.Crypto.P50))
	fmt.Fprintf(tw, "    round trip (floor p50)\t%s\t%s\t\t\t\n", f.RoundTrip.P50, pct(f.RoundTrip.P50))
	fmt.Fprintf(tw, "    %s\t%s\t%s\t\t\t\n", restLabel, rest, pct(rest))
}

// writeComparison prints this run beside its baseline, one line per
// number that matters.
func writeComparison(b *strings.Builder, r, base *Report) {
	fmt.Fprintf(b, "\nBASELINE: the same run on a fresh pair with durability %q and keys %q (floor %s in its own run)\n",
		base.Setup.Durability, base.Setup.Keys, base.Floor.Latency)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\t%s, keys %s\t%s, keys %s\t\n", r.Setup.Durability, r.Setup.Keys, base.Setup.Durability, base.Setup.Keys)
	dur := func(name string, a, c Duration) { fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", name, a, c) }
	num := func(name, format string, a, c float64) {
		fmt.Fprintf(tw, "  %s\t"+format+"\t"+format+"\t\n", name, a, c)
	}
	dur("sequential p50", r.Latency.EndToEnd.P50, base.Latency.EndToEnd.P50)
	num("  ÷ its floor", "%.2f×", r.Latency.P50Ratio, base.Latency.P50Ratio)
	dur("sequential p99", r.Latency.EndToEnd.P99, base.Latency.EndToEnd.P99)
	dur("sequential p999", r.Latency.EndToEnd.P999, base.Latency.EndToEnd.P999)
	dur("  submit p50", r.Latency.Submit.P50, base.Latency.Submit.P50)
	num("  syncs/request", "%.2f", r.Latency.Store.Syncs, base.Latency.Store.Syncs)
	num("durable requests/s", "%.0f", r.Throughput.PerSecond, base.Throughput.PerSecond)
	dur("  p50 under load", r.Throughput.EndToEnd.P50, base.Throughput.EndToEnd.P50)
	dur("  p99 under load", r.Throughput.EndToEnd.P99, base.Throughput.EndToEnd.P99)
	dur("  CPU/request", r.Throughput.CPUPerRequest, base.Throughput.CPUPerRequest)
	num("  syncs/request", "%.2f", r.Throughput.Store.Syncs, base.Throughput.Store.Syncs)
	num("  commits/request", "%.2f", r.Throughput.Store.Commits, base.Throughput.Store.Commits)
	tw.Flush()
}
