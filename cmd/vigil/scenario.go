package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/bench/federation"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/node/testnet/scenario"
)

// testnetExtraCmds are the testnet subcommands for exercises at scale:
// bench (measurements), scenario (scripted exercises) and the hidden
// floor-host the bench measures as its floor.
func testnetExtraCmds() []*cobra.Command {
	return []*cobra.Command{testnetBench(), testnetScenario(), testnetFloorHost(), testnetRunNodes()}
}

func ownBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	return exe, nil
}

func testnetBench() *cobra.Command {
	var (
		o       = federation.DefaultOptions()
		asJSON  bool
		nodeEnv []string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure a whole federation on this machine: boot, mesh, memory, drill, roster propagation, latency under load",
		Long: `bench starts N nodes as child processes on 127.0.0.1 (a new testnet in a
temporary directory, or the initialised testnet in --dir) and measures:

  - the floor: fsync, a warm libp2p round trip and a request's crypto
    (two nodes in one process, before the testnet starts), an idle libp2p
    host in its own process, and one node alone;
  - boot time until every node answers /healthz, per node and in total;
  - time until every node shows every other member connected (full mesh);
  - memory per node (VmRSS, anonymous, file-backed and PSS from /proc) and
    the CPU the idle mesh uses;
  - a reachability drill (POST /api/v1/drills/reachability) from a few nodes;
  - how long a roster signed with serial+1 and posted to one node takes to
    reach every node (polling /healthz);
  - submit → verified receipt latency under steady load from several senders;
  - a clean SIGTERM shutdown, and that no node process is left behind.

Node processes get GOMEMLIMIT, GOGC and GOMAXPROCS (see --node-env).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := ownBinary()
			if err != nil {
				return err
			}
			o.Exe = exe
			if err := setNodeEnv(nodeEnv); err != nil {
				return err
			}
			if _, err := os.Stat(o.Examples); err != nil {
				return fmt.Errorf("example requests: %w (give --examples)", err)
			}
			o.Progress = cmd.ErrOrStderr()
			if o.Dir == "" && o.Nodes == 0 {
				o.Nodes = 193
			}
			rep, err := federation.Run(cmd.Context(), o)
			if rep != nil {
				if werr := writeBenchReport(cmd.OutOrStdout(), asJSON, rep); err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if len(rep.Errors) > 0 || rep.Orphans > 0 {
				return errors.New("bench finished with errors (see above)")
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Nodes, "nodes", 0, "number of nodes for a new testnet (default 193)")
	f.StringVar(&o.Dir, "dir", "", "an initialised testnet to run instead of a new one")
	f.StringVar(&o.Parent, "tmp", "", "parent directory of the temporary testnet")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary testnet")
	f.StringVar(&o.Transport, "transport", "tcp", "transport of a new testnet: tcp, quic or both")
	f.IntVar(&o.PerProcess, "per-process", 0, "nodes per process (default: 1 up to 24 nodes, else at most 8 processes)")
	f.IntVar(&o.BootParallel, "boot-parallel", o.BootParallel, "processes started at once")
	f.DurationVar(&o.Settle, "settle", o.Settle, "wait after the full mesh before sampling memory and CPU")
	f.DurationVar(&o.CPUWindow, "cpu-window", o.CPUWindow, "idle CPU sampling window")
	f.DurationVar(&o.MeshTimeout, "mesh-timeout", o.MeshTimeout, "longest wait for the full mesh")
	f.IntVar(&o.Drills, "drills", o.Drills, "reachability drills to run")
	f.IntVar(&o.Senders, "senders", o.Senders, "nodes submitting requests during the load phase")
	f.Float64Var(&o.Rate, "rate", o.Rate, "requests per second per sender")
	f.DurationVar(&o.LoadFor, "load-for", o.LoadFor, "length of the load phase")
	f.StringVar(&o.Examples, "examples", "configs/examples", "directory of the example requests")
	f.StringSliceVar(&nodeEnv, "node-env", nil, "override node environment, e.g. GOMEMLIMIT=32MiB,GOGC=100 (NAME= removes one)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

// setNodeEnv overrides testnet.ChildEnv entries ("NAME=" drops one).
func setNodeEnv(kvs []string) error {
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--node-env %q: want NAME=VALUE", kv)
		}
		var out []string
		for _, e := range testnet.ChildEnv {
			if !strings.HasPrefix(e, k+"=") {
				out = append(out, e)
			}
		}
		if v != "" {
			out = append(out, kv)
		}
		testnet.ChildEnv = out
	}
	return nil
}

func testnetScenario() *cobra.Command {
	var o scenario.Options
	c := &cobra.Command{
		Use:   "scenario FILE.yaml",
		Short: "Replay a scripted exercise (failures, partitions, clock skew, roster updates) and check every request arrived once",
		Long: `scenario runs a testnet's nodes as child processes (a new testnet in a
temporary directory, or the initialised testnet in --dir) and plays the
scenario's steps: requests between named countries (the examples in
--examples, readdressed), SIGTERM, SIGKILL and restarts of nodes, network
partitions and heals, clock skew, signed roster updates, encryption-key
rotations and waits. It then
checks that every request was delivered exactly once with a verified
receipt and that both sides agree on every case's state, prints a report,
stops every node and exits non-zero if anything failed.

Waits given as a duration are divided by the time scale (the scenario's
time_scale, or --time-scale), so "a national node lost for an hour" runs in
a minute at --time-scale 60. Only those waits are compressed: the nodes'
clocks, retry backoff (at most 30 s) and deadlines run in real time.
Partitions and clock skew use the fault-injection API that 'vigil testnet
init' enables (testing.fault_injection). See configs/scenarios/.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := scenario.Load(args[0])
			if err != nil {
				return err
			}
			if o.Exe, err = ownBinary(); err != nil {
				return err
			}
			o.Out = cmd.OutOrStdout()
			rep, err := scenario.Run(cmd.Context(), sc, o)
			if rep != nil {
				rep.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("scenario %s failed %d checks", sc.Name, len(rep.Failures))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Dir, "dir", "", "an initialised testnet (vigil testnet init) to run instead of a new one")
	f.IntVar(&o.Nodes, "nodes", 0, "nodes of a new testnet (default: the scenario's nodes, else 3)")
	f.StringVar(&o.Parent, "tmp", "", "parent directory of the temporary testnet")
	f.BoolVar(&o.Keep, "keep", false, "keep the temporary testnet (node logs, stores)")
	f.Float64Var(&o.TimeScale, "time-scale", 0, "divide duration waits by this (default: the scenario's time_scale, else 1)")
	f.StringVar(&o.Examples, "examples", "", "directory of the example requests (default: the copies of configs/examples built into the binary, so it runs from any directory)")
	f.DurationVar(&o.CheckTimeout, "check-timeout", 2*time.Minute, "longest wait for deliveries in the final check")
	return c
}

// testnetFloorHost runs a bare libp2p host on 127.0.0.1 until SIGTERM: the
// memory floor `testnet bench` compares nodes with.
func testnetFloorHost() *cobra.Command {
	var transports []string
	c := &cobra.Command{
		Use:    "floor-host",
		Short:  "Run an idle libp2p host (the bench's floor) until SIGTERM",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []libp2p.Option{libp2p.DisableRelay(), libp2p.DisableMetrics()}
			for _, t := range transports {
				switch t {
				case "tcp":
					opts = append(opts, libp2p.Transport(tcp.NewTCPTransport), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
				case "quic":
					opts = append(opts, libp2p.Transport(quic.NewTransport), libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
				default:
					return fmt.Errorf("--transport %q: want tcp or quic", t)
				}
			}
			h, err := libp2p.New(opts...)
			if err != nil {
				return err
			}
			defer h.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "ready", h.ID())
			<-cmd.Context().Done()
			return nil
		},
	}
	c.Flags().StringSliceVar(&transports, "transport", []string{"tcp"}, "tcp and/or quic")
	return c
}

// testnetRunNodes runs several testnet nodes in one process (a group that
// 'vigil testnet' and 'testnet bench' start for large testnets).
func testnetRunNodes() *cobra.Command {
	var configs []string
	c := &cobra.Command{
		Use:    "run-nodes",
		Short:  "Run several nodes in this process until SIGTERM (large testnets)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(configs) == 0 {
				return errors.New("give --config at least once")
			}
			return testnet.RunNodes(cmd.Context(), configs, cmd.ErrOrStderr())
		},
	}
	c.Flags().StringArrayVar(&configs, "config", nil, "node config (repeat)")
	return c
}
