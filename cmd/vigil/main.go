// Command vigil runs and administers a Vigil node: the 24/7 point of
// contact for urgent cybercrime cooperation (Budapest Art. 35, UN Art. 41).
//
// It is the one binary, so its ~3,200 lines are one small constructor per
// subcommand (a file per command group); the work is in the packages it
// calls.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// Everything the node writes (Badger's files, keys, the audit log,
	// exports) is for its own user only, even when run by hand under a
	// umask of 022.
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd, err := newRootCmd().ExecuteContextC(ctx); err != nil {
		reportError(os.Stderr, cmd, err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: signed, encrypted 24/7 point-of-contact network for urgent cybercrime requests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCmd(), newRunCmd(), newRosterCmd(), testnetCmd(), benchCmd())
	root.AddCommand(operatorCmds()...)
	root.AddCommand(newAuditCmd(), newUserCmd())
	root.AddCommand(newDrillCmd(), newPeerCmd(), newVersionCmd())
	root.AddCommand(newBackupCmd(), newRestoreCmd())
	hardenCommands(root)
	return root
}
