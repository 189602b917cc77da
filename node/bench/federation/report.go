package federation

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vigil-network/vigil/node/bench"
)

// WriteText prints the report for people.
func (b *Report) WriteText(w io.Writer) error {
	m := b.Machine
	fmt.Fprintf(w, "MACHINE  %s, %d CPUs, %s, Linux %s, %s\n", m.CPU, m.CPUs, m.MemTotal, m.Kernel, m.Go)
	fmt.Fprintf(w, "         fd limit %d; load %s → %s; node env %s; transport %s\n", m.FDLimit, m.LoadStart, m.LoadEnd, m.ChildEnv, m.Transports)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODES\t%d in %d processes (%d per process; the first alone)\n", b.Nodes, b.Processes, b.PerProcess)
	fmt.Fprintln(tw, "FLOOR (this run)\tRSS MiB\tanon\tfile\tPSS")
	f := b.Floor
	fmt.Fprintf(tw, "  idle libp2p host process\t%.1f\t%.1f\t%.1f\t%.1f\n", f.IdleHostMiB.RSS, f.IdleHostMiB.Anon, f.IdleHostMiB.File, f.IdleHostMiB.PSS)
	fmt.Fprintf(tw, "  one node alone (others down)\t%.1f\t%.1f\t%.1f\t%.1f\tboot %.0f ms, CPU %.3f cores\n", f.OneNodeMiB.RSS, f.OneNodeMiB.Anon, f.OneNodeMiB.File, f.OneNodeMiB.PSS, f.OneNodeBootMs, f.OneNodeCPU)
	if lf := f.Latency; lf != nil {
		fmt.Fprintln(tw, "  latency ms\tp50\tp99")
		fmt.Fprintf(tw, "  fsync 4 KiB\t%.2f\t%.2f\n", lf.Fsync.P50.Ms(), lf.Fsync.P99.Ms())
		fmt.Fprintf(tw, "  libp2p round trip (warm stream)\t%.3f\t%.3f\n", lf.RoundTrip.P50.Ms(), lf.RoundTrip.P99.Ms())
		fmt.Fprintf(tw, "  request crypto\t%.3f\t%.3f\n", lf.Crypto.P50.Ms(), lf.Crypto.P99.Ms())
		fmt.Fprintf(tw, "  request floor (2×fsync + round trip + crypto)\t%.2f\n", lf.Latency.Ms())
	}
	fmt.Fprintf(tw, "BOOT\tall healthy %.1f s\tper node p50 %.0f ms\tp99 %.0f ms\tmax %.0f ms\n", b.BootAllHealthyS, b.NodeBootMs.P50, b.NodeBootMs.P99, b.NodeBootMs.Max)
	fmt.Fprintf(tw, "FULL MESH\t%d/%d nodes\t%.1f s after all-healthy\t%.1f s after boot began\n", b.MeshComplete, b.Nodes, b.MeshAfterBootS, b.MeshTotalS)
	if b.TCPConnsWant > 0 {
		fmt.Fprintf(tw, "  TCP connections\t%d\t(full mesh without duplicates: %d)\n", b.TCPConns, b.TCPConnsWant)
	}
	fmt.Fprintf(tw, "PER PROCESS RSS MiB\tp50 %.1f\tmax %.1f\n", b.ProcRSSMiB.P50, b.ProcRSSMiB.Max)
	fmt.Fprintln(tw, "PER NODE (mesh idle)\tp50\tp90\tmax\tsum")
	for _, r := range []struct {
		name string
		s    bench.Stats[float64]
	}{{"  RSS MiB", b.RSSMiB}, {"  anon MiB", b.AnonMiB}, {"  file MiB (shared binary)", b.FileMiB}, {"  PSS MiB", b.PSSMiB}, {"  threads", b.Threads}} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.0f\n", r.name, r.s.P50, r.s.P90, r.s.Max, r.s.Sum)
	}
	fmt.Fprintf(tw, "  idle CPU, all nodes\t%.2f cores\n", b.IdleCPU)
	fmt.Fprintf(tw, "  machine memory used by the run\t%.1f GiB\t(available now %.1f GiB)\n", b.MemUsedGiB, b.MemAvailGiB)
	for _, d := range b.Drills {
		if d.Error != "" {
			fmt.Fprintf(tw, "DRILL from %s\t%s\n", d.From, d.Error)
			continue
		}
		fmt.Fprintf(tw, "DRILL from %s\t%d/%d reachable\tin %.0f ms\trtt p50 %.1f ms\tp99 %.1f ms\tmax %.1f ms\n", d.From, d.Reachable, d.Targets, d.WallMs, d.RTTMs.P50, d.RTTMs.P99, d.RTTMs.Max)
	}
	fmt.Fprintf(tw, "ROSTER serial %d\t%d/%d nodes\tall after %.2f s\tp50 %.2f s\t(polled from the push)\n", b.RosterSerial, b.RosterNodesAtEnd, b.Nodes, b.RosterAllS, b.RosterP50S)
	if b.RosterLogged > 0 {
		fmt.Fprintf(tw, "  applied, from node logs\t%d/%d nodes\tall after %.2f s\tp50 %.2f s\t(after the first node applied it)\n", b.RosterLogged, b.Nodes, b.RosterLogAllS, b.RosterLogP50S)
	}
	l := b.Load
	if l.Submitted > 0 {
		fmt.Fprintf(tw, "LOAD\t%d senders × %.1f/s for %.0f s\t%d/%d delivered\t%d receipts verified\tCPU %.2f cores\n", l.Senders, l.RatePerS, l.DurationS, l.Delivered, l.Submitted, l.Verified, l.CPU)
		fmt.Fprintln(tw, "  latency ms\tp50\tp99\tmax")
		fmt.Fprintf(tw, "  submit (HTTP, durable outbox)\t%.1f\t%.1f\t%.1f\n", l.SubmitMs.P50, l.SubmitMs.P99, l.SubmitMs.Max)
		fmt.Fprintf(tw, "  submit → receipt durable at sender\t%.1f\t%.1f\t%.1f\t(%d timed by poll, not event)\n", l.DeliveredMs.P50, l.DeliveredMs.P99, l.DeliveredMs.Max, l.Imprecise)
		fmt.Fprintf(tw, "  created → durable at receiver (node clocks)\t%.1f\t%.1f\t%.1f\n", l.ReceiverMs.P50, l.ReceiverMs.P99, l.ReceiverMs.Max)
		if lf := f.Latency; lf != nil && lf.Latency > 0 {
			fmt.Fprintf(tw, "  receipt latency ÷ request floor\t%.1f×\t%.1f×\n", l.DeliveredMs.P50/lf.Latency.Ms(), l.DeliveredMs.P99/lf.Latency.Ms())
		}
	}
	fmt.Fprintf(tw, "SHUTDOWN\t%.1f s\t%d orphan processes\n", b.ShutdownS, b.Orphans)
	for _, e := range b.Errors {
		fmt.Fprintf(tw, "ERROR\t%s\n", e)
	}
	return tw.Flush()
}
