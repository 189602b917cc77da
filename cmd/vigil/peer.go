package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/types"
)

// newPeerCmd manages how this node treats one roster member: quarantine
// and release (issue 9, admission control). Both are API calls, admin only.
func newPeerCmd() *cobra.Command {
	c := &cobra.Command{Use: "peer", Short: "Quarantine or release a roster member (admin)"}
	c.AddCommand(newPeerQuarantineCmd(), newPeerReleaseCmd())
	return c
}

func newPeerQuarantineCmd() *cobra.Command {
	var f clientFlags
	var reason string
	c := &cobra.Command{
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
			cc := strings.ToUpper(args[0])
			var res types.QuarantineResult
			in := map[string]string{"reason": reason}
			if printed, err := f.fetch(cmd, http.MethodPost, quarantinePath(cc), in, &res, cc+" NOT quarantined"); printed || err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s quarantined: its envelopes are refused (it retries) until 'vigil peer release %s'\n", cc, cc)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	f.register(c)
	return c
}

func newPeerReleaseCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{
		Use:   "release CC",
		Short: "Accept from a quarantined member again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc := strings.ToUpper(args[0])
			var res types.QuarantineResult
			if printed, err := f.fetch(cmd, http.MethodDelete, quarantinePath(cc), nil, &res, cc+" NOT released"); printed || err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s released: its queued envelopes arrive with its next retry\n", cc)
			return nil
		},
	}
	f.register(c)
	return c
}

func quarantinePath(cc string) string {
	return "/api/v1/peers/" + url.PathEscape(cc) + "/quarantine"
}
