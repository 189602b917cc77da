package main

import (
	"encoding/json"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/bench/flood"
	"github.com/vigil-network/vigil/node/config"
)

func benchCmd() *cobra.Command {
	var (
		o        = bench.DefaultOptions()
		asJSON   bool
		logLevel string
		runFlood bool
		fo       = flood.DefaultOptions()
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure request latency and throughput between two local nodes against the machine's floor",
		Long: `bench creates a two-node testnet in a temporary directory, runs both nodes in
this process on loopback and measures, in one run:

  - the floor: fsync latency of the data directory, a libp2p round trip on a
    warm stream, and the request's cryptography (seal, open, sign, verify);
  - the floor: also a 4 KiB overwrite + fdatasync in a preallocated file,
    the cheapest durable write the disk offers (what the journal pays);
  - end-to-end latency of one request (submit → durable at the receiver →
    signed receipt durable at the sender), p50, p99 and p999 of the whole
    and of each segment, sequentially;
  - durable requests per second one sender sustains to one receiver with
    --concurrency submitters that each wait for their receipt;
  - CPU time per request, and the stores' syncs and commits per request
    from their own counters.

Each result is reported as a ratio to the floor and to the goals (p50
within 1.5× the floor, p99 within 3×, at least 3,000 requests/s at no more
than 0.6 ms CPU per request). --compare runs the same again on a fresh pair
whose stores use Badger's own synced commits (durability "badger", the path
before the journal), submitting without idempotency keys (each request sent
only once its outbox commit is durable), and prints both side by side. Node logs are off unless
--log-level is given; logging is not part of what is measured.

With --flood it instead runs three parties on a three-node testnet: a victim,
an honest member sending --honest-rate requests/s, and a hostile member (the
third member's keys on a bare libp2p host) flooding the victim with valid
requests at 10× the victim's per-peer delivery rate limit (--flood-rate
overrides). It reports the honest member's p50/p99 with and without the
flood (goal: p99 within 2×), the victim's store growth per minute, the
process's heap, RSS and CPU, and the victim's refusals by code.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if logLevel != "" {
				log, err := node.NewLogger(config.LogConfig{Format: "json", Level: logLevel})
				if err != nil {
					return err
				}
				defer log.Sync()
				node.RouteLibp2pLogs(log)
				o.Logger = log
			} else {
				o.Logger = zap.NewNop()
			}
			o.Progress = cmd.ErrOrStderr()
			if runFlood {
				fo.Harness = o.Harness
				rep, err := flood.Run(cmd.Context(), fo)
				if err != nil {
					return err
				}
				return writeBenchReport(cmd.OutOrStdout(), asJSON, rep)
			}
			rep, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			return writeBenchReport(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	f := c.Flags()
	f.IntVar(&o.Requests, "requests", o.Requests, "sequential requests timed for latency")
	f.IntVar(&o.Warmup, "warmup", o.Warmup, "untimed sequential requests before the latency phase (negative: none)")
	f.IntVar(&o.ThroughputRequests, "throughput-requests", o.ThroughputRequests, "requests in the throughput phase")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "concurrent submitters in the throughput phase")
	f.IntVar(&o.FloorSamples, "floor-samples", 0, "samples per floor measurement (default 200 fsyncs, 200 pings, 500 crypto rounds)")
	f.StringVar(&o.Dir, "dir", "", "parent directory for the temporary testnet; its filesystem is what gets measured (default "+os.TempDir()+")")
	f.BoolVar(&o.Keep, "keep", false, "keep the testnet directory afterwards")
	f.StringVar(&o.StoreProfile, "store-profile", o.StoreProfile, "store profile of both nodes: default or small")
	f.StringVar(&o.Durability, "durability", "", "store durability of both nodes: journal or badger (default: the configuration's, journal)")
	f.StringVar(&o.Keys, "keys", "uuidv7", "how requests are submitted: uuidv7 (each under a new UUIDv7 Idempotency-Key, as vigil request send does: sent while the sender's commit syncs) none (stored, synced, then sent), or random (keys that are no UUIDv7: the ordinary path, with idempotency records)")
	f.BoolVar(&o.Compare, "compare", false, "run again with durability badger and no idempotency keys (the previous code path) and report both")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&runFlood, "flood", false, "run the hostile-member flood benchmark (issue 9) instead")
	f.DurationVar(&fo.Duration, "flood-duration", fo.Duration, "--flood: length of each phase (unloaded, flooded)")
	f.Float64Var(&fo.HonestRate, "honest-rate", fo.HonestRate, "--flood: the honest member's requests per second")
	f.Float64Var(&fo.FloodRate, "flood-rate", 0, "--flood: hostile envelopes per second (default 10× the victim's delivery rate limit; as fast as possible if it has none)")
	f.IntVar(&fo.FloodStreams, "flood-streams", fo.FloodStreams, "--flood: delivery streams the hostile member uses")
	f.IntVar(&fo.FloodSize, "flood-size", 0, "--flood: JSON bytes per flooded request (default about 2 KiB)")
	f.StringVar(&logLevel, "log-level", "", "write node logs to stderr at this level (debug, info, warn, error)")
	return c
}

// writeBenchReport prints a benchmark report as indented JSON or text.
func writeBenchReport(out io.Writer, asJSON bool, rep interface{ WriteText(io.Writer) error }) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(out)
}
