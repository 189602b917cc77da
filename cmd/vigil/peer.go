package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// peerCmd manages how this node treats one roster member: quarantine and
// release (issue 9, admission control). Both are API calls, admin only.
func peerCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "peer", Short: "Quarantine or release a roster member (admin)"}

	var reason string
	quarantine := &cobra.Command{
		Use:   "quarantine CC --reason TEXT",
		Short: "Stop accepting from a member: its envelopes, pings and roster exchanges are refused (retryable)",
		Long: `quarantine stops this node accepting from the member of country CC.
Its node keeps what it sends queued and retries; everything already accepted
stays. The quarantine is audited, survives restarts and shows in 'vigil peers'.
Undo it with 'vigil peer release CC'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--reason is required (it goes into the audit log)")
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"reason": reason})
			var raw json.RawMessage
			cc := strings.ToUpper(args[0])
			if err := cl.do("POST", "/api/v1/peers/"+url.PathEscape(cc)+"/quarantine", body, &raw); err != nil {
				return fmt.Errorf("%s NOT quarantined: %w", cc, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s quarantined: its envelopes are refused (it retries) until 'vigil peer release %s'\n", cc, cc)
			return nil
		},
	}
	quarantine.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")

	release := &cobra.Command{
		Use:   "release CC",
		Short: "Accept from a quarantined member again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			cc := strings.ToUpper(args[0])
			if err := cl.do("DELETE", "/api/v1/peers/"+url.PathEscape(cc)+"/quarantine", nil, &raw); err != nil {
				return fmt.Errorf("%s NOT released: %w", cc, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s released: its queued envelopes arrive with its next retry\n", cc)
			return nil
		},
	}
	for _, s := range []*cobra.Command{quarantine, release} {
		f.register(s)
		c.AddCommand(s)
	}
	return c
}
