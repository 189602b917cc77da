package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/store"
)

func auditCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "audit", Short: "Verify and export the node's tamper-evident audit log"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole audit log (hash chain, Merkle tree, signed checkpoints); exit 1 on the first inconsistency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := cl.do("GET", "/api/v1/audit/verify", nil, &raw); err != nil {
				return err
			}
			var rep store.AuditReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return fmt.Errorf("decode report: %w", err)
			}
			if f.json {
				printJSON(cmd.OutOrStdout(), raw)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "records: %d\nroot:    %s\ncheckpoints: %d\n", rep.Records, rep.Root, rep.Checkpoints)
			}
			if !rep.OK {
				return fmt.Errorf("audit log is NOT intact: %s", rep.FirstProblem)
			}
			if !f.json {
				fmt.Fprintln(cmd.OutOrStdout(), "audit log intact")
			}
			return nil
		},
	}
	var out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit log as JSON lines (records, then signed checkpoints) for an oversight body",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), "GET", cl.base+"/api/v1/audit/export", nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+cl.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				return fmt.Errorf("export: %s: %s", resp.Status, b)
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				fh, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer fh.Close()
				w = fh
			}
			if _, err := io.Copy(w, resp.Body); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "-", "file to write (created, mode 0600), - for stdout")
	c.AddCommand(verify, export)
	f.register(c)
	return c
}
