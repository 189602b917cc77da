package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

func newRosterCmd() *cobra.Command {
	c := &cobra.Command{Use: "roster", Short: "Create, sign, verify and distribute the network roster"}
	c.AddCommand(newRosterAuthorityInitCmd(), newRosterAddCmd(), newRosterSignCmd(), newRosterVerifyCmd(),
		newRosterShowCmd(), newRosterPushCmd())
	return c
}

func newRosterAuthorityInitCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "authority-init",
		Short: "Create the network authority's Ed25519 signing key (kept by the secretariat)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			pub, created, err := authority.Init(dir)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(cmd.OutOrStdout(), "created %s (mode 0600) and %s\n",
					filepath.Join(dir, authority.KeyFile), filepath.Join(dir, authority.PubFile))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "authority key already exists in %s; unchanged\n", dir)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "authority public key (pin in every node's roster.authority_key):\n%s\n", pub)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "authority", "directory for the authority key")
	return c
}

func newRosterAddCmd() *cobra.Command {
	var (
		draft, memberFile string
		m                 protocol.Member
	)
	c := &cobra.Command{
		Use:   "add",
		Short: "Add or replace a member in an unsigned roster draft",
		Long: `add inserts a member (replacing one with the same country) into the draft.
Give the member as the member.json that 'vigil init' wrote (--member), and/or
with flags; flags override the file.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return addMember(cmd, draft, memberFile, m)
		},
	}
	c.Flags().StringVar(&draft, "draft", "roster.draft.json", "unsigned roster draft to edit")
	c.Flags().StringVar(&memberFile, "member", "", "member.json written by 'vigil init'")
	c.Flags().StringVar((*string)(&m.Country), "country", "", "ISO 3166-1 alpha-2 code")
	c.Flags().StringVar(&m.Organisation, "organisation", "", "organisation running the point of contact")
	c.Flags().StringVar(&m.PeerID, "peer-id", "", "node peer ID")
	c.Flags().StringSliceVar(&m.Addrs, "addr", nil, "node multiaddr (repeatable)")
	c.Flags().StringVar(&m.EncryptionKey, "encryption-key", "", "node X25519 public key (base64)")
	c.Flags().StringSliceVar(&m.Languages, "language", nil, "working language (repeatable)")
	c.Flags().StringVar(&m.TimeZone, "time-zone", "", "IANA time zone, e.g. Europe/Berlin")
	c.Flags().StringVar(&m.OfficeHours, "office-hours", "", `office hours, e.g. "Mon-Fri 08:00-18:00"`)
	c.Flags().StringVar(&m.FallbackPhone, "phone", "", "fallback phone")
	c.Flags().StringVar(&m.FallbackEmail, "email", "", "fallback e-mail")
	return c
}

// addMember puts the member of memberFile, with the flags given on top, into
// the draft, checking it now rather than at signing time.
func addMember(cmd *cobra.Command, draft, memberFile string, m protocol.Member) error {
	base, err := memberFrom(cmd, memberFile, m)
	if err != nil {
		return err
	}
	r, err := authority.LoadDraft(draft)
	if err != nil {
		return err
	}
	authority.AddMember(r, base)
	probe := protocol.Roster{Serial: 1, ValidUntil: time.Now().Add(time.Hour), Members: []protocol.Member{base}}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("member %s: %w", base.Country, err)
	}
	if err := authority.SaveDraft(draft, r); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d members; run 'vigil roster sign' to publish\n", draft, len(r.Members))
	return nil
}

// memberFrom is the member of memberFile (if given) with every flag the
// command line set in m laid over it.
func memberFrom(cmd *cobra.Command, memberFile string, m protocol.Member) (protocol.Member, error) {
	var base protocol.Member
	if memberFile != "" {
		b, err := os.ReadFile(memberFile)
		if err != nil {
			return base, fmt.Errorf("read member %s: %w", memberFile, err)
		}
		if err := json.Unmarshal(b, &base); err != nil {
			return base, fmt.Errorf("parse member %s: %w", memberFile, err)
		}
	}
	f := cmd.Flags()
	set := func(name string, dst *string, v string) {
		if f.Changed(name) {
			*dst = v
		}
	}
	set("country", (*string)(&base.Country), strings.ToUpper(string(m.Country)))
	set("organisation", &base.Organisation, m.Organisation)
	set("peer-id", &base.PeerID, m.PeerID)
	set("encryption-key", &base.EncryptionKey, m.EncryptionKey)
	set("time-zone", &base.TimeZone, m.TimeZone)
	set("office-hours", &base.OfficeHours, m.OfficeHours)
	set("phone", &base.FallbackPhone, m.FallbackPhone)
	set("email", &base.FallbackEmail, m.FallbackEmail)
	if f.Changed("addr") {
		base.Addrs = m.Addrs
	}
	if f.Changed("language") {
		base.Languages = m.Languages
	}
	return base, nil
}

func newRosterSignCmd() *cobra.Command {
	var (
		draft, keyPath, out, current string
		validFor                     time.Duration
	)
	c := &cobra.Command{
		Use:   "sign",
		Short: "Sign a roster draft with the authority key, with the next serial",
		Long: `sign stamps the draft with the next serial and signs it. It refuses a
missing or empty draft (it never creates one), and a member with a
previous_encryption_key but no previous_key_until.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return signRoster(cmd, draft, keyPath, out, current, validFor)
		},
	}
	c.Flags().StringVar(&draft, "draft", "roster.draft.json", "roster draft")
	c.Flags().StringVar(&keyPath, "key", "authority/"+authority.KeyFile, "authority private key")
	c.Flags().StringVar(&out, "out", "roster.json", "signed roster to write")
	c.Flags().StringVar(&current, "current", "", "roster in force, so the new serial is higher")
	c.Flags().DurationVar(&validFor, "valid-for", 365*24*time.Hour, "validity period")
	return c
}

// signRoster signs the draft with the next serial (above the current
// roster's, if given), writes it to out and keeps the stamped draft.
func signRoster(cmd *cobra.Command, draft, keyPath, out, current string, validFor time.Duration) error {
	r, err := authority.ReadDraftForSigning(draft)
	if err != nil {
		return err
	}
	key, err := authority.LoadKey(keyPath)
	if err != nil {
		return err
	}
	var minSerial uint64
	if current != "" {
		doc, err := os.ReadFile(current)
		if err != nil {
			return fmt.Errorf("read current roster: %w", err)
		}
		cur, err := protocol.VerifyRoster(doc, key.Public().(ed25519.PublicKey))
		if err != nil {
			return fmt.Errorf("current roster %s: %w", current, err)
		}
		minSerial = cur.Serial
	}
	doc, err := authority.SignDraft(r, key, minSerial, validFor, time.Now())
	if err != nil {
		return fmt.Errorf("draft %s: %w", draft, err)
	}
	if err := config.WriteFileAtomic(out, doc, 0o644); err != nil {
		return err
	}
	if err := authority.SaveDraft(draft, r); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "signed %s: serial %d, %d members, valid until %s\n",
		out, r.Serial, len(r.Members), r.ValidUntil.Format(time.RFC3339))
	return nil
}

func authorityFrom(cmd *cobra.Command, key, cfgPath string) (string, error) {
	if key != "" {
		return key, nil
	}
	if cfgPath != "" {
		cfg, err := config.LoadConfig(cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.Roster.AuthorityKey, nil
	}
	return "", fmt.Errorf("give --authority-key or --config")
}

func newRosterVerifyCmd() *cobra.Command {
	var path, key, cfgPath string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check a signed roster against the authority key",
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := authorityFrom(cmd, key, cfgPath)
			if err != nil {
				return err
			}
			pub, err := protocol.ParseAuthorityKey(k)
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read roster: %w", err)
			}
			r, err := protocol.VerifyRoster(doc, pub)
			if err != nil {
				return fmt.Errorf("roster %s: %w", path, err)
			}
			status := "valid"
			if !r.ValidUntil.After(time.Now()) {
				status = "signature valid but EXPIRED"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s; serial %d, %d members, valid until %s\n",
				path, status, r.Serial, len(r.Members), r.ValidUntil.Format(time.RFC3339))
			if status != "valid" {
				return fmt.Errorf("roster expired")
			}
			return nil
		},
	}
	c.Flags().StringVar(&path, "roster", "roster.json", "signed roster")
	c.Flags().StringVar(&key, "authority-key", "", "authority public key (base64)")
	c.Flags().StringVar(&cfgPath, "config", "", "take the authority key from this node config")
	return c
}

func newRosterShowCmd() *cobra.Command {
	var path string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Print a roster's members (signed roster or draft; does not verify)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read roster: %w", err)
			}
			var sr protocol.SignedRoster
			body := doc
			if json.Unmarshal(doc, &sr) == nil && len(sr.Roster) > 0 {
				body = sr.Roster
			}
			var r protocol.Roster
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("parse roster: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			fmt.Fprintf(out, "network %s  serial %d  issued %s  valid until %s\n", r.Network, r.Serial,
				r.IssuedAt.Format(time.RFC3339), r.ValidUntil.Format(time.RFC3339))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COUNTRY\tORGANISATION\tPEER ID\tTIME ZONE\tOFFICE HOURS\tPHONE\tE-MAIL")
			for _, m := range r.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Country, m.Organisation, m.PeerID,
					m.TimeZone, m.OfficeHours, m.FallbackPhone, m.FallbackEmail)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&path, "roster", "roster.json", "roster file")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newRosterPushCmd() *cobra.Command {
	var (
		path, cfgPath string
		force         bool
	)
	c := &cobra.Command{
		Use:   "push",
		Short: "Give a newer signed roster to a running node; it spreads it to the network",
		Long: `push installs a signed roster on a running node, which spreads it.
The node refuses a roster that drops itself, or more than roster.max_drop_share
of the current members, and raises a critical alert. If that is really meant
(a revocation the network agreed on), an admin pushes it again with --force;
the node installs it and raises a critical alert that it was forced. Other
nodes judge it for themselves when it reaches them.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return pushRoster(cmd, path, cfgPath, force)
		},
	}
	c.Flags().StringVar(&path, "roster", "roster.json", "signed roster")
	c.Flags().StringVar(&cfgPath, "config", "vigil.yaml", "config of the node to push to")
	c.Flags().BoolVar(&force, "force", false, "install even if the roster drops this node or more than roster.max_drop_share of the members (admin)")
	return c
}

// pushRoster posts the signed roster at path to the node of cfgPath's API
// with its bootstrap token, and prints the node's answer.
func pushRoster(cmd *cobra.Command, path, cfgPath string, force bool) error {
	cfg, err := config.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read roster: %w", err)
	}
	tok, err := os.ReadFile(cfg.Path(cfg.API.TokenFile))
	if err != nil {
		return fmt.Errorf("read api token: %w", err)
	}
	api := "/api/v1/roster"
	if force {
		api += "?force=true"
	}
	cl := client.New("http://"+cfg.API.Listen, client.WithToken(string(tok)))
	var applied json.RawMessage // types.RosterApplied, printed as it came
	if _, err := cl.Do(cmd.Context(), http.MethodPost, api, doc, &applied); err != nil {
		var e *client.Error
		if errors.As(err, &e) {
			return fmt.Errorf("node refused roster (%d %s): %s", e.Status, http.StatusText(e.Status), strings.TrimSpace(string(e.Body)))
		}
		return fmt.Errorf("push roster to %s: %w", cfg.API.Listen, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "applied: %s\n", strings.TrimSpace(string(applied)))
	return nil
}
