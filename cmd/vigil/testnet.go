package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/testnet"
)

func testnetCmd() *cobra.Command {
	var nodes int
	var keep bool
	c := &cobra.Command{
		Use:   "testnet",
		Short: "Run a local federation of N nodes on 127.0.0.1 until Ctrl-C",
		Long: `testnet creates a temporary testnet (authority key, N nodes, signed roster)
and runs its nodes as child processes: one process per node up to 24 nodes,
and for larger testnets (up to 193, one per UN member state) at most 8
processes that each run a group of complete nodes. Use 'testnet init' and
'testnet run' to keep the directory.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "vigil-testnet-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(dir)
			}
			m, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: nodes})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "testnet in %s\n", dir)
			return runTestnet(cmd, m)
		},
	}
	c.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	c.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory after exit")
	c.AddCommand(testnetInit(), testnetRun(), testnetEnv())
	c.AddCommand(testnetExtraCmds()...) // bench, scenario (scenario.go)
	return c
}

func testnetInit() *cobra.Command {
	var (
		o     testnet.InitOptions
		bases string
	)
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a testnet directory with N nodes, a signed roster and DIR/testnet.json",
		Long: `init creates the testnet. Every member is Party to the Budapest Convention
and its Second Additional Protocol unless --treaty-bases gives it a treaty
basis of its own: a JSON object by country, e.g.
  {"NL": {"treaties": [{"treaty": "un", "from": "2026-01-01"}]},
   "DE": {"treaties": [{"treaty": "budapest", "from": "2009-07-01"}],
          "declarations": [{"kind": "budapest_29_4", "from": "2009-07-01"}]}}`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bases != "" {
				b, err := testnet.LoadTreatyBases(bases)
				if err != nil {
					return err
				}
				o.TreatyBases = b
			}
			m, err := testnet.Init(o)
			if err != nil {
				return err
			}
			printManifest(cmd, m)
			fmt.Fprintf(cmd.OutOrStdout(), "run it with: vigil testnet run --dir %s\n", o.Dir)
			return nil
		},
	}
	c.Flags().StringVar(&o.Dir, "dir", "testnet", "directory to create")
	c.Flags().IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	c.Flags().StringVar(&o.Transport, "transport", "tcp", "libp2p transport of every node: tcp, quic or both")
	c.Flags().StringVar(&bases, "treaty-bases", "", "JSON file of treaty bases by country (see above)")
	return c
}

func testnetRun() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run every node of a testnet directory as a child process until Ctrl-C",
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := testnet.LoadManifest(dir)
			if err != nil {
				return err
			}
			return runTestnet(cmd, m)
		},
	}
	c.Flags().StringVar(&dir, "dir", "testnet", "testnet directory")
	return c
}

func testnetEnv() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "env",
		Short: "Print shell assignments of every node's API URL and token (CC_API, CC_TOKEN)",
		Long: `env prints, for each node of a testnet directory, CC_API=URL and
CC_TOKEN=TOKEN lines, so a shell can set them with
  eval "$(vigil testnet env --dir testnet)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := testnet.LoadManifest(dir)
			if err != nil {
				return err
			}
			for _, n := range m.Nodes {
				fmt.Fprintf(cmd.OutOrStdout(), "%s_API=%s %s_TOKEN=%s\n", n.Country, shellQuote(n.API), n.Country, shellQuote(n.Token))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "testnet", "testnet directory")
	return c
}

// shellQuote quotes s for sh: single quotes, with any single quote in s
// closed, escaped and reopened.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runTestnet(cmd *cobra.Command, m *testnet.Manifest) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "starting %d nodes...\n", len(m.Nodes))
	err = testnet.RunAll(cmd.Context(), exe, m, func([]*testnet.Process) {
		printManifest(cmd, m)
		fmt.Fprintln(out, "all nodes up; logs in each node's node.log. Ctrl-C stops them.")
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "all nodes stopped")
	return nil
}

func printManifest(cmd *cobra.Command, m *testnet.Manifest) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTRY\tPEER ID\tAPI\tTOKEN")
	for _, n := range m.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Country, n.PeerID, n.API, n.Token)
	}
	tw.Flush()
}
