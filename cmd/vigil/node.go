package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/config"
)

func newInitCmd() *cobra.Command {
	var o config.InitOptions
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a node: identity and encryption keys, API token and a commented config",
		Long: `init creates DIR/vigil.yaml, DIR/keys/ (mode 0700, key files 0600) and
DIR/member.json, the roster entry to send to the network authority.
Existing keys and config are never overwritten, so running it again is safe.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := config.Init(o)
			if err != nil {
				return err
			}
			memberPath := filepath.Join(o.Dir, "member.json")
			b, _ := json.MarshalIndent(res.Member, "", "  ")
			b = append(b, '\n')
			// member.json is derived from the keys and the config; it is
			// written only when it says something new, so "nothing
			// changed" is true.
			if old, err := os.ReadFile(memberPath); err != nil || !bytes.Equal(old, b) {
				if err := config.WriteFileAtomic(memberPath, b, 0o644); err != nil {
					return err
				}
				label := memberPath
				if err == nil {
					label += " (updated)"
				}
				res.Created = append(res.Created, label)
			}
			out := cmd.OutOrStdout()
			if len(res.Created) == 0 {
				fmt.Fprintf(out, "node in %s already initialised; nothing changed\n", o.Dir)
			}
			for _, f := range res.Created {
				if name, ok := strings.CutSuffix(f, " (updated)"); ok {
					fmt.Fprintf(out, "updated %s\n", name)
				} else {
					fmt.Fprintf(out, "created %s\n", f)
				}
			}
			fmt.Fprintf(out, "country:  %s\npeer id:  %s\nconfig:   %s\nmember:   %s (send to the network authority)\ntoken:    %s\n",
				o.Country, res.PeerID, res.ConfigPath, memberPath, filepath.Join(o.Dir, "keys", "api.token"))
			if o.AuthorityKey == "" {
				fmt.Fprintln(out, "note: set roster.authority_key in the config to the authority's public key before 'vigil run'")
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Dir, "dir", ".", "node directory")
	c.Flags().StringVar(&o.Country, "country", "", "ISO 3166-1 alpha-2 code of this node's state (required)")
	c.Flags().StringVar(&o.AuthorityKey, "authority-key", "", "network authority public key (base64) to pin")
	c.Flags().StringSliceVar(&o.Listen, "listen", nil, "libp2p listen multiaddrs (default TCP and QUIC on port 4701)")
	c.Flags().StringVar(&o.APIListen, "api-listen", "", "API listen address (default 127.0.0.1:8470)")
	c.Flags().StringVar(&o.LogFormat, "log-format", "json", "json or console")
	_ = c.MarkFlagRequired("country")
	return c
}

func newRunCmd() *cobra.Command {
	var (
		cfgPath, apiListen, logFormat, logLevel string
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the node daemon until SIGTERM or Ctrl-C",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("api-listen") {
				cfg.API.Listen = apiListen
			}
			if cmd.Flags().Changed("log-format") {
				cfg.Log.Format = logFormat
			}
			if cmd.Flags().Changed("log-level") {
				cfg.Log.Level = logLevel
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config %s: %w", cfgPath, err)
			}
			log, err := node.NewLogger(cfg.Log)
			if err != nil {
				return err
			}
			defer log.Sync()
			node.RouteLibp2pLogs(log.Named("node")) // node.libp2p.swarm2 beside node.delivery
			n, err := node.New(cfg, node.Options{Logger: log.Named("node")})
			if err != nil {
				return err
			}
			return n.Run(cmd.Context())
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "vigil.yaml", "config file")
	c.Flags().StringVar(&apiListen, "api-listen", "", "override api.listen")
	c.Flags().StringVar(&logFormat, "log-format", "", "override log.format (json or console)")
	c.Flags().StringVar(&logLevel, "log-level", "", "override log.level")
	return c
}
