package main

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	c.AddCommand(newRosterAuthorityInitCmd(), newRosterAddCmd(), newRosterSetCmd(), newRosterRemoveCmd(), newRosterSignCmd(), newRosterVerifyCmd(),
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

// treatyBasisHelp is the treaty basis part of 'roster add' and 'roster
// set', listing the treaties and kinds the protocol knows.
func treatyBasisHelp() string {
	var b strings.Builder
	b.WriteString(`The treaty basis decides which requests two members may exchange and on
which grounds the requested one may refuse; it is signed with the roster.
Dates are YYYY-MM-DD: FROM is the day the treaty or declaration takes
effect for the member, UNTIL (optional) the day a denunciation or
withdrawal takes effect. Record a withdrawal with its UNTIL date rather
than dropping the entry: cases dated before it are judged by it.

  --treaty TREATY:FROM[:UNTIL]
`)
	for _, t := range slices.Sorted(maps.Keys(protocol.Treaties)) {
		fmt.Fprintf(&b, "      %-17s%s\n", t, protocol.Treaties[t])
	}
	b.WriteString("  --declaration KIND:FROM[:UNTIL][:TEXT]\n")
	for _, k := range slices.Sorted(maps.Keys(protocol.DeclarationKinds)) {
		fmt.Fprintf(&b, "      %-17s%s\n", k, cmp.Or(declarationNames[k], "(under "+string(protocol.DeclarationKinds[k])+")"))
	}
	b.WriteString(`    The third field is UNTIL if it is a date; KIND:FROM::TEXT gives a text
    without an end date. TEXT is what the declaration specifies, such as the
    format and channel of Protocol Art. 9(5).
  --preservation-days N, --preservation-max-days M
      the domestic preservation period usually applied, and the most the
      law allows with extensions (Art. 29(7): at least 60 days); 0 means
      not stated.

A member that lists no treaties is read as Party to the Budapest
Convention only.`)
	return b.String()
}

// memberFlags are the member fields 'roster add' and 'roster set' take.
type memberFlags struct {
	m                                 protocol.Member
	treaties, declarations            []string
	dropTreaties, dropDeclarations    []string
	preservationDays, preservationMax int
}

// register defines the flags; edit adds those only an edit of an existing
// member has (dropping entries).
func (mf *memberFlags) register(c *cobra.Command, edit bool) {
	f, m := c.Flags(), &mf.m
	f.StringVar((*string)(&m.Country), "country", "", "ISO 3166-1 alpha-2 code")
	f.StringVar(&m.Organisation, "organisation", "", "organisation running the point of contact")
	f.StringVar(&m.PeerID, "peer-id", "", "node peer ID")
	f.StringSliceVar(&m.Addrs, "addr", nil, "node multiaddr (repeatable)")
	f.StringVar(&m.EncryptionKey, "encryption-key", "", "node X25519 public key (base64)")
	f.StringSliceVar(&m.Languages, "language", nil, "language requests are accepted in (repeatable)")
	f.StringVar(&m.TimeZone, "time-zone", "", "IANA time zone, e.g. Europe/Berlin")
	f.StringVar(&m.OfficeHours, "office-hours", "", `office hours, e.g. "Mon-Fri 08:00-18:00"`)
	f.StringVar(&m.FallbackPhone, "phone", "", "fallback phone")
	f.StringVar(&m.FallbackEmail, "email", "", "fallback e-mail")
	f.StringArrayVar(&mf.treaties, "treaty", nil, "treaty the member is Party to, TREATY:FROM[:UNTIL] (repeatable)")
	f.StringArrayVar(&mf.declarations, "declaration", nil, "reservation or declaration, KIND:FROM[:UNTIL][:TEXT] (repeatable)")
	f.IntVar(&mf.preservationDays, "preservation-days", 0, "preservation period the member's law usually applies, in days")
	f.IntVar(&mf.preservationMax, "preservation-max-days", 0, "longest preservation the member's law allows, extensions included, in days")
	if edit {
		f.StringArrayVar(&mf.dropTreaties, "drop-treaty", nil, "remove the entry for a treaty, to correct a mistake (repeatable)")
		f.StringArrayVar(&mf.dropDeclarations, "drop-declaration", nil, "remove declarations KIND[:FROM], to correct a mistake (repeatable)")
	}
}

// basisChange parses the treaty basis flags.
func (mf *memberFlags) basisChange() (authority.BasisChange, error) {
	var c authority.BasisChange
	for _, s := range mf.treaties {
		p, err := authority.ParseParty(s)
		if err != nil {
			return c, fmt.Errorf("--treaty: %w", err)
		}
		c.Treaties = append(c.Treaties, p)
	}
	for _, s := range mf.declarations {
		d, err := authority.ParseDeclaration(s)
		if err != nil {
			return c, fmt.Errorf("--declaration: %w", err)
		}
		c.Declarations = append(c.Declarations, d)
	}
	for _, s := range mf.dropTreaties {
		c.DropTreaties = append(c.DropTreaties, protocol.Treaty(strings.ToLower(strings.TrimSpace(s))))
	}
	for _, s := range mf.dropDeclarations {
		ref, err := authority.ParseDeclarationRef(s)
		if err != nil {
			return c, fmt.Errorf("--drop-declaration: %w", err)
		}
		c.DropDeclarations = append(c.DropDeclarations, ref)
	}
	return c, nil
}

// overlay lays every flag the command line set over base.
func (mf *memberFlags) overlay(cmd *cobra.Command, base *protocol.Member) error {
	f, m := cmd.Flags(), mf.m
	set := func(name string, dst *string, v string) {
		if f.Changed(name) {
			*dst = v
		}
	}
	set("country", (*string)(&base.Country), strings.ToUpper(strings.TrimSpace(string(m.Country))))
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
	if f.Changed("preservation-days") {
		base.Preservation.PeriodDays = mf.preservationDays
	}
	if f.Changed("preservation-max-days") {
		base.Preservation.MaxTotalDays = mf.preservationMax
	}
	change, err := mf.basisChange()
	if err != nil {
		return err
	}
	return change.Apply(base)
}

func newRosterAddCmd() *cobra.Command {
	var (
		draft, memberFile string
		mf                memberFlags
	)
	c := &cobra.Command{
		Use:   "add",
		Short: "Add or replace a member in an unsigned roster draft",
		Long: `add inserts a member (replacing one with the same country) into the draft.
Give the member as the member.json that 'vigil init' wrote (--member), and/or
with flags; flags override the file. Replacing a member keeps the treaty
basis the draft has for it unless the file or the flags give one; to change
some fields of a member already in the draft, use 'vigil roster set'.

` + treatyBasisHelp(),
		Example: `  vigil roster add --member member.json --organisation 'Bundeskriminalamt' \
    --time-zone Europe/Berlin --treaty budapest:2009-07-01 --treaty un:2026-09-01 \
    --declaration budapest_25_3:2009-07-01 --preservation-days 90 --preservation-max-days 180`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return addMember(cmd, draft, memberFile, &mf)
		},
	}
	c.Flags().StringVar(&draft, "draft", "roster.draft.json", "unsigned roster draft to edit")
	c.Flags().StringVar(&memberFile, "member", "", "member.json written by 'vigil init'")
	mf.register(c, false)
	return c
}

// addMember puts the member of memberFile, with the flags given on top, into
// the draft, checking it now rather than at signing time.
func addMember(cmd *cobra.Command, draft, memberFile string, mf *memberFlags) error {
	var base protocol.Member
	if memberFile != "" {
		b, err := os.ReadFile(memberFile)
		if err != nil {
			return fmt.Errorf("read member %s: %w", memberFile, err)
		}
		if err := json.Unmarshal(b, &base); err != nil {
			return fmt.Errorf("parse member %s: %w", memberFile, err)
		}
	}
	if err := mf.overlay(cmd, &base); err != nil {
		return err
	}
	r, err := authority.LoadDraft(draft)
	if err != nil {
		return err
	}
	old := authority.FindMember(r, base.Country)
	replaced := old != nil && authority.HasTreatyBasis(*old)
	kept := authority.CarryTreatyBasis(r, &base)
	if err := authority.CheckMember(base); err != nil {
		return err
	}
	authority.AddMember(r, base)
	if err := authority.SaveDraft(draft, r); err != nil {
		return err
	}
	warnAddresses(cmd, base)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: %d members; run 'vigil roster sign' to publish\n", draft, len(r.Members))
	switch {
	case kept:
		fmt.Fprintf(out, "kept the treaty basis the draft had for %s\n", base.Country)
	case replaced:
		fmt.Fprintf(out, "replaced the treaty basis the draft had for %s (to change only some of it, use 'vigil roster set')\n", base.Country)
	}
	return printTreatyBasis(out, []protocol.Member{base}, time.Now())
}

func newRosterSetCmd() *cobra.Command {
	var (
		draft string
		mf    memberFlags
	)
	c := &cobra.Command{
		Use:   "set --country CC [flags]",
		Short: "Change a member already in the roster draft: only the fields given",
		Long: `set edits the draft's member of --country and changes only what the flags
give. --addr and --language replace those lists. --treaty replaces the entry
for that treaty or adds it; --declaration replaces the entry of the same kind
and FROM date or adds it, so a withdrawal is recorded by giving the same
declaration again with its UNTIL date. --drop-treaty and --drop-declaration
remove entries made by mistake; they apply before the additions, so a wrong
date is corrected in one command.

` + treatyBasisHelp(),
		Example: `  # The UN Convention enters into force for DE; DE's Art. 29(4) reservation is withdrawn.
  vigil roster set --country DE --treaty un:2026-09-01 \
    --declaration budapest_29_4:2013-12-01:2019-07-05`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return setMember(cmd, draft, &mf)
		},
	}
	c.Flags().StringVar(&draft, "draft", "roster.draft.json", "unsigned roster draft to edit")
	mf.register(c, true)
	_ = c.MarkFlagRequired("country")
	return c
}

// setMember changes the given fields of a member already in the draft.
func setMember(cmd *cobra.Command, draft string, mf *memberFlags) error {
	r, err := authority.LoadDraft(draft)
	if err != nil {
		return err
	}
	cc := protocol.CountryCode(strings.ToUpper(strings.TrimSpace(string(mf.m.Country))))
	cur := authority.FindMember(r, cc)
	if cur == nil {
		return fmt.Errorf("draft %s has no member %s: add it with 'vigil roster add'", draft, cc)
	}
	m := *cur
	m.Treaties, m.Declarations = slices.Clone(m.Treaties), slices.Clone(m.Declarations)
	if err := mf.overlay(cmd, &m); err != nil {
		return err
	}
	if err := authority.CheckMember(m); err != nil {
		return err
	}
	*cur = m
	if err := authority.SaveDraft(draft, r); err != nil {
		return err
	}
	warnAddresses(cmd, m)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: updated %s; run 'vigil roster sign' to publish\n", draft, cc)
	return printTreatyBasis(out, []protocol.Member{m}, time.Now())
}

// warnAddresses tells the authority, on standard error, about addresses
// other members could not dial.
func warnAddresses(cmd *cobra.Command, m protocol.Member) {
	for _, w := range authority.AddressWarnings(m) {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: member %s: %s\n", m.Country, w)
	}
}

func newRosterRemoveCmd() *cobra.Command {
	var draft, country string
	c := &cobra.Command{
		Use:   "remove --country CC",
		Short: "Remove a member from the roster draft (revocation once signed and pushed)",
		Long: `remove drops the member of --country from the draft. Sign and push the draft
to revoke the member: every node then closes its connections to it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := protocol.ParseCountryCode(country)
			if err != nil {
				return fmt.Errorf("--country: %w", err)
			}
			if _, err := os.Stat(draft); err != nil {
				return fmt.Errorf("roster draft %s: %w", draft, err)
			}
			r, err := authority.LoadDraft(draft)
			if err != nil {
				return err
			}
			if !authority.RemoveMember(r, cc) {
				have := make([]string, len(r.Members))
				for i, m := range r.Members {
					have[i] = string(m.Country)
				}
				return fmt.Errorf("draft %s has no member %s (it has: %s)", draft, cc, strings.Join(have, ", "))
			}
			if err := authority.SaveDraft(draft, r); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: removed %s, %d members left; run 'vigil roster sign' and 'vigil roster push' to revoke it\n",
				draft, cc, len(r.Members))
			return nil
		},
	}
	c.Flags().StringVar(&draft, "draft", "roster.draft.json", "unsigned roster draft to edit")
	c.Flags().StringVar(&country, "country", "", "ISO 3166-1 alpha-2 code of the member to remove (required)")
	_ = c.MarkFlagRequired("country")
	return c
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
	var path, on string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Print a roster's members and treaty bases (signed roster or draft; does not verify)",
		Long: `show prints the members, then each member's treaty basis: the treaties it
is Party to, its reservations and declarations, each with its dates and
whether it is in force on --on (today by default), and its preservation
regime. --json prints the roster as signed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day := time.Now()
			if on != "" {
				d, err := time.Parse(time.DateOnly, on)
				if err != nil {
					return fmt.Errorf("--on %q: want a date as YYYY-MM-DD", on)
				}
				day = d
			}
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
			fmt.Fprintln(tw, "COUNTRY\tORGANISATION\tPEER ID\tTIME ZONE\tOFFICE HOURS\tLANGUAGES\tPHONE\tE-MAIL")
			for _, m := range r.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Country, m.Organisation, m.PeerID,
					m.TimeZone, m.OfficeHours, strings.Join(m.Languages, ","), m.FallbackPhone, m.FallbackEmail)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out)
			return printTreatyBasis(out, r.Members, day)
		},
	}
	c.Flags().StringVar(&path, "roster", "roster.json", "roster file")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&on, "on", "", "say what is in force on this date, YYYY-MM-DD (default today)")
	return c
}

// declarationNames say what each reservation or declaration is, with the
// article it is made under (protocol.DeclarationKinds).
var declarationNames = map[protocol.DeclarationKind]string{
	protocol.ReservationDualCriminality:    "reservation, Budapest Art. 29(4): may refuse preservation for want of dual criminality (offences other than Arts. 2-11)",
	protocol.ReservationDualCriminalityUN:  "reservation, UN Art. 42(4): may refuse preservation for want of dual criminality (offences other than Arts. 7-11)",
	protocol.DeclarationFormalConfirmation: "declaration, Budapest Art. 25(3): formal confirmation to follow urgent requests",
	protocol.DeclarationSubscriberOnly:     "declaration, Protocol Art. 9(1)(b): no emergency requests for subscriber information only",
	protocol.DeclarationResubmission:       "declaration, Protocol Art. 9(5): request to be submitted again after execution",
	protocol.DeclarationEmergencyMLA:       "declaration, Protocol Art. 10(9): emergency mutual assistance through the 24/7 point",
}

// inForceWord says whether an entry is in force on day: inForce is the
// protocol's answer for that entry alone (Member.PartyTo, Member.Declared);
// FROM only tells "not yet" from "ended".
func inForceWord(inForce bool, from string, day time.Time) string {
	switch {
	case inForce:
		return "in force"
	case from > day.UTC().Format(time.DateOnly):
		return "not yet"
	}
	return "ended"
}

// printTreatyBasis lists each member's treaties, reservations and
// declarations with their dates and whether they are in force on day, and
// its preservation regime.
func printTreatyBasis(w io.Writer, members []protocol.Member, day time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "COUNTRY\tTREATY BASIS\tFROM\tUNTIL\tON %s\tDETAILS\n", day.UTC().Format(time.DateOnly))
	for _, m := range members {
		if len(m.Treaties) == 0 {
			fmt.Fprintf(tw, "%s\ttreaty %s\t-\t-\t%s\tno treaties listed: read as Party to the Budapest Convention only\n",
				m.Country, protocol.TreatyBudapest, inForceWord(m.PartyTo(protocol.TreatyBudapest, day), "", day))
		}
		for _, p := range m.Treaties {
			fmt.Fprintf(tw, "%s\ttreaty %s\t%s\t%s\t%s\t%s\n", m.Country, p.Treaty, p.From, cmp.Or(p.Until, "-"),
				inForceWord(protocol.Member{Treaties: []protocol.Party{p}}.PartyTo(p.Treaty, day), p.From, day), cmp.Or(protocol.Treaties[p.Treaty], "unknown treaty"))
		}
		for _, d := range m.Declarations {
			_, in := protocol.Member{Treaties: m.Treaties, Declarations: []protocol.Declaration{d}}.Declared(d.Kind, day)
			details := cmp.Or(declarationNames[d.Kind], "unknown reservation or declaration")
			if d.Text != "" {
				details += fmt.Sprintf("; %q", d.Text)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Country, d.Kind, d.From, cmp.Or(d.Until, "-"),
				inForceWord(in, d.From, day), details)
		}
		if p := m.Preservation; p != (protocol.PreservationRegime{}) {
			fmt.Fprintf(tw, "%s\tpreservation\t-\t-\t-\t%s\n", m.Country, preservationText(p))
		}
	}
	return tw.Flush()
}

// preservationText describes a member's preservation regime.
func preservationText(p protocol.PreservationRegime) string {
	var parts []string
	if p.PeriodDays != 0 {
		parts = append(parts, fmt.Sprintf("%d days usually", p.PeriodDays))
	}
	if p.MaxTotalDays != 0 {
		parts = append(parts, fmt.Sprintf("at most %d days with extensions", p.MaxTotalDays))
	}
	return strings.Join(parts, ", ")
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
