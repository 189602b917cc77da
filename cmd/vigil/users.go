package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"
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

func userCmd() *cobra.Command {
	var f clientFlags
	c := &cobra.Command{Use: "user", Short: "Manage console users and their API tokens (needs an admin token)"}
	var role string
	var stdin, content bool
	add := &cobra.Command{
		Use:   "add --role ROLE NAME",
		Short: "Add a user (operator, supervisor, auditor or admin) and set their password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, stdin)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"name": args[0], "role": role, "password": pw, "content_access": content})
			if err := cl.do("POST", "/api/v1/users", body, nil); err != nil {
				return fmt.Errorf("user not added: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s)\n", args[0], role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "operator, supervisor, auditor or admin (required)")
	add.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	add.Flags().BoolVar(&content, "content-access", false, "let an auditor read request contents")
	_ = add.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := cl.do("GET", "/api/v1/users", nil, &raw); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var out struct {
				Users []struct {
					Name, Role    string
					Disabled      bool
					ContentAccess bool   `json:"content_access"`
					TOTP          bool   `json:"totp_enabled"`
					LockedUntil   string `json:"locked_until"`
				}
			}
			json.Unmarshal(raw, &out)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tDISABLED\tCONTENTS\t2FA\tLOCKED UNTIL")
			for _, u := range out.Users {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\t%s\n", u.Name, u.Role, u.Disabled, u.ContentAccess || u.Role != "auditor", u.TOTP, u.LockedUntil)
			}
			return tw.Flush()
		},
	}

	patch := func(use, short string, body func(args []string) (map[string]any, error)) *cobra.Command {
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
				b, _ := json.Marshal(m)
				if err := cl.do("PATCH", "/api/v1/users/"+args[0], b, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: done\n", args[0])
				return nil
			},
		}
	}
	var pwStdin bool
	passwd := &cobra.Command{
		Use: "passwd NAME", Short: "Set a user's password (ends their sessions)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, pwStdin)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"password": pw})
			if err := cl.do("PATCH", "/api/v1/users/"+args[0], b, nil); err != nil {
				return fmt.Errorf("password not changed: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: password changed\n", args[0])
			return nil
		},
	}
	passwd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	disable := patch("disable NAME", "Disable a user (ends their sessions and tokens)", func([]string) (map[string]any, error) {
		return map[string]any{"disabled": true}, nil
	})
	enable := patch("enable NAME", "Enable a user", func([]string) (map[string]any, error) {
		return map[string]any{"disabled": false}, nil
	})
	unlock := patch("unlock NAME", "Lift a login lockout", func([]string) (map[string]any, error) {
		return map[string]any{"unlock": true}, nil
	})
	setRole := patch("role NAME ROLE", "Change a user's role", func(args []string) (map[string]any, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf("usage: vigil user role NAME ROLE")
		}
		return map[string]any{"role": args[1]}, nil
	})
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Delete a user with their tokens and sessions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			if err := cl.do("DELETE", "/api/v1/users/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s removed\n", args[0])
			return nil
		},
	}
	var label string
	token := &cobra.Command{
		Use: "token NAME", Short: "Create an API token for a user; it is shown once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]string{"name": label})
			var out struct{ ID, Token string }
			if err := cl.do("POST", "/api/v1/users/"+args[0]+"/tokens", b, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s for %s (shown once, store it now):\n%s\n", out.ID, args[0], out.Token)
			return nil
		},
	}
	token.Flags().StringVar(&label, "label", "cli", "what the token is for")
	c.AddCommand(add, list, passwd, disable, enable, unlock, setRole, remove, token)
	f.register(c)
	return c
}
