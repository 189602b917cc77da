package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
)

func newAuditCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "audit", Short: "Verify and export the node's tamper-evident audit log"}
	c.AddCommand(newAuditVerifyCmd(&f), newAuditExportCmd(&f))
	f.register(c)
	return c
}

func newAuditVerifyCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the whole audit log (hash chain, Merkle tree, signed checkpoints); exit 1 on the first inconsistency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return verifyAudit(cmd, f)
		},
	}
}

// verifyAudit prints the node's audit report (as it came with --json)
// and fails if the log is not intact.
func verifyAudit(cmd *cobra.Command, f *clientFlags) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cl.do(cmd.Context(), http.MethodGet, "/api/v1/audit/verify", nil, &raw); err != nil {
		return err
	}
	var rep types.AuditReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	out := cmd.OutOrStdout()
	if f.json {
		printJSON(out, raw)
	} else {
		fmt.Fprintf(out, "records: %d\nroot:    %s\ncheckpoints: %d\n", rep.Records, rep.Root, rep.Checkpoints)
	}
	if !rep.OK {
		return fmt.Errorf("audit log is NOT intact: %s", rep.FirstProblem)
	}
	if !f.json {
		fmt.Fprintln(out, "audit log intact")
	}
	return nil
}

func newAuditExportCmd(f *clientFlags) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the audit log as JSON lines (records, then signed checkpoints) for an oversight body",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exportAudit(cmd, f, out)
		},
	}
	c.Flags().StringVar(&out, "out", "-", "file to write (created, mode 0600), - for stdout")
	return c
}

// exportAudit writes the node's audit export to out (created, never
// overwritten) or to stdout.
func exportAudit(cmd *cobra.Command, f *clientFlags, out string) error {
	// A long log takes as long as it takes: no timeout but Ctrl-C.
	cl, err := f.client(client.WithTimeout(0))
	if err != nil {
		return err
	}
	var lines json.RawMessage // JSON lines, as they came
	if _, err := cl.Do(cmd.Context(), http.MethodGet, "/api/v1/audit/export", nil, &lines); err != nil {
		var e *client.Error
		if errors.As(err, &e) {
			return fmt.Errorf("export: %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
		}
		return fmt.Errorf("export: %w", err)
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
	if _, err := w.Write(lines); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
