package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/types"
)

// readPassword asks twice on a terminal, or reads one line from stdin.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin || !term.IsTerminal(int(os.Stdin.Fd())) {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "new password (12+ characters): ")
	a, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(cmd.ErrOrStderr(), "again: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", fmt.Errorf("the passwords differ")
	}
	return string(a), nil
}

func newUserCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "user", Short: "Manage console users and their API tokens (needs an admin token)"}
	c.AddCommand(newUserAddCmd(&f), newUserListCmd(&f), newUserPasswdCmd(&f),
		newUserPatchCmd(&f, "disable NAME", "Disable a user (ends their sessions and tokens)", func([]string) (map[string]any, error) {
			return map[string]any{"disabled": true}, nil
		}),
		newUserPatchCmd(&f, "enable NAME", "Enable a user", func([]string) (map[string]any, error) {
			return map[string]any{"disabled": false}, nil
		}),
		newUserPatchCmd(&f, "unlock NAME", "Lift a login lockout", func([]string) (map[string]any, error) {
			return map[string]any{"unlock": true}, nil
		}),
		newUserPatchCmd(&f, "role NAME ROLE", "Change a user's role", func(args []string) (map[string]any, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("usage: vigil user role NAME ROLE")
			}
			if err := checkChoice("role", args[1], roleNames()); err != nil {
				return nil, fmt.Errorf("ROLE %q is not one of: %s", args[1], strings.Join(roleNames(), ", "))
			}
			return map[string]any{"role": args[1]}, nil
		}),
		newUserRemoveCmd(&f), newUserTokenCmd(&f))
	f.register(c)
	return c
}

func newUserAddCmd(f *clientFlags) *cobra.Command {
	var role string
	var stdin, content bool
	c := &cobra.Command{
		Use:   "add --role ROLE NAME",
		Short: "Add a user (operator, supervisor, auditor or admin) and set their password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Before the password prompt: a typo found after typing a
			// password twice costs the operator a second go.
			if err := checkChoice("role", role, roleNames()); err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, stdin)
			if err != nil {
				return err
			}
			in := map[string]any{"name": args[0], "role": role, "password": pw, "content_access": content}
			if err := cl.do(cmd.Context(), http.MethodPost, "/api/v1/users", in, nil); err != nil {
				return fmt.Errorf("user not added: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s)\n", args[0], role)
			return nil
		},
	}
	c.Flags().StringVar(&role, "role", "", "operator, supervisor, auditor or admin (required)")
	c.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	c.Flags().BoolVar(&content, "content-access", false, "let an auditor read request contents")
	_ = c.MarkFlagRequired("role")
	return c
}

func newUserListCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out types.UserList
			if printed, err := f.fetch(cmd, http.MethodGet, "/api/v1/users", nil, &out, ""); printed || err != nil {
				return err
			}
			return printUsers(cmd.OutOrStdout(), out.Users)
		},
	}
}

func printUsers(w io.Writer, users []types.User) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tDISABLED\tCONTENTS\t2FA\tLOCKED UNTIL")
	for _, u := range users {
		locked := "" // as the API sends it
		if !u.LockedUntil.IsZero() {
			locked = u.LockedUntil.Format(time.RFC3339Nano)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\t%s\n", u.Name, u.Role, u.Disabled, u.ContentAccess || u.Role != "auditor", u.TOTPEnabled, locked)
	}
	return tw.Flush()
}

// newUserPatchCmd changes one thing about user args[0]: body says what.
func newUserPatchCmd(f *clientFlags, use, short string, body func(args []string) (map[string]any, error)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			m, err := body(args)
			if err != nil {
				return err
			}
			if err := cl.do(cmd.Context(), http.MethodPatch, "/api/v1/users/"+args[0], m, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: done\n", args[0])
			return nil
		},
	}
}

func newUserPasswdCmd(f *clientFlags) *cobra.Command {
	var stdin bool
	c := &cobra.Command{
		Use: "passwd NAME", Short: "Set a user's password (ends their sessions)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, stdin)
			if err != nil {
				return err
			}
			in := map[string]any{"password": pw}
			if err := cl.do(cmd.Context(), http.MethodPatch, "/api/v1/users/"+args[0], in, nil); err != nil {
				return fmt.Errorf("password not changed: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: password changed\n", args[0])
			return nil
		},
	}
	c.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	return c
}

func newUserRemoveCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "remove NAME", Short: "Delete a user with their tokens and sessions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			if err := cl.do(cmd.Context(), http.MethodDelete, "/api/v1/users/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s removed\n", args[0])
			return nil
		},
	}
}

func newUserTokenCmd(f *clientFlags) *cobra.Command {
	var label string
	c := &cobra.Command{
		Use: "token NAME", Short: "Create an API token for a user; it is shown once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var tok types.NewToken
			if err := cl.do(cmd.Context(), http.MethodPost, "/api/v1/users/"+args[0]+"/tokens", map[string]string{"name": label}, &tok); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s for %s (shown once, store it now):\n%s\n", tok.ID, args[0], tok.Token)
			return nil
		},
	}
	c.Flags().StringVar(&label, "label", "cli", "what the token is for")
	return c
}

// roleNames are the console roles, as accounts defines them.
func roleNames() []string {
	var out []string
	for _, r := range accounts.Roles() {
		out = append(out, string(r))
	}
	return out
}
