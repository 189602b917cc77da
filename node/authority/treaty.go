package authority

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/vigil-network/vigil/protocol"
)

// A member's treaty basis as the secretariat drafts it: the treaties the
// state is Party to, and the reservations and declarations that change
// what the case model allows, each with the dates it is in force
// (protocol/treaty.go). The signed roster carries them, so both nodes of
// a case derive the same rules.

// ParseParty reads a treaty as 'vigil roster add --treaty' takes it:
// TREATY:FROM[:UNTIL], dates as YYYY-MM-DD, e.g. "budapest:2004-07-01".
// Only the shape is checked here; CheckMember applies the protocol's rules
// (known treaty, real dates, UNTIL after FROM).
func ParseParty(spec string) (protocol.Party, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || strings.TrimSpace(parts[0]) == "" {
		return protocol.Party{}, fmt.Errorf("treaty %q: want TREATY:FROM[:UNTIL], e.g. budapest:2004-07-01", spec)
	}
	p := protocol.Party{Treaty: protocol.Treaty(strings.ToLower(strings.TrimSpace(parts[0]))), From: strings.TrimSpace(parts[1])}
	if len(parts) == 3 {
		p.Until = strings.TrimSpace(parts[2])
	}
	return p, nil
}

// ParseDeclaration reads a reservation or declaration as 'vigil roster add
// --declaration' takes it: KIND:FROM[:UNTIL][:TEXT]. The third field is
// UNTIL when it is made of digits and dashes (a date), otherwise it starts
// the text; KIND:FROM::TEXT gives a text without an end date. The text is
// the rest of the spec, colons included.
func ParseDeclaration(spec string) (protocol.Declaration, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) < 2 || strings.TrimSpace(parts[0]) == "" {
		return protocol.Declaration{}, fmt.Errorf("declaration %q: want KIND:FROM[:UNTIL][:TEXT], e.g. budapest_29_4:2013-12-01:2019-07-05", spec)
	}
	d := protocol.Declaration{Kind: protocol.DeclarationKind(strings.ToLower(strings.TrimSpace(parts[0]))),
		From: strings.TrimSpace(parts[1])}
	if len(parts) == 3 {
		rest := parts[2]
		field, text, _ := strings.Cut(rest, ":")
		if field == "" || strings.Trim(strings.TrimSpace(field), "0123456789-") == "" {
			d.Until, d.Text = strings.TrimSpace(field), strings.TrimSpace(text)
		} else {
			d.Text = strings.TrimSpace(rest)
		}
	}
	return d, nil
}

// DeclarationRef names declarations to drop: every one of Kind, or only
// the one in force from From.
type DeclarationRef struct {
	Kind protocol.DeclarationKind
	From string
}

// ParseDeclarationRef reads KIND[:FROM] ('vigil roster set --drop-declaration').
func ParseDeclarationRef(spec string) (DeclarationRef, error) {
	kind, from, _ := strings.Cut(spec, ":")
	if strings.TrimSpace(kind) == "" {
		return DeclarationRef{}, fmt.Errorf("declaration %q: want KIND[:FROM]", spec)
	}
	return DeclarationRef{Kind: protocol.DeclarationKind(strings.ToLower(strings.TrimSpace(kind))), From: strings.TrimSpace(from)}, nil
}

// BasisChange is an edit of a member's treaty basis. Drops apply before
// sets, so a wrong date is corrected by dropping the entry and setting it
// again in one edit.
type BasisChange struct {
	// Treaties are set by treaty: each replaces the member's entry for the
	// same treaty, or is added (a member is Party to a treaty once).
	Treaties []protocol.Party
	// Declarations are set by kind and FROM date: recording a withdrawal
	// is setting the same declaration again with its UNTIL date.
	Declarations     []protocol.Declaration
	DropTreaties     []protocol.Treaty
	DropDeclarations []DeclarationRef
}

// Apply edits m. Dropping an entry the member does not have is an error:
// it is a typo, and a silent no-op would leave a wrong basis signed.
func (c BasisChange) Apply(m *protocol.Member) error {
	for _, t := range c.DropTreaties {
		n := len(m.Treaties)
		m.Treaties = slices.DeleteFunc(m.Treaties, func(p protocol.Party) bool { return p.Treaty == t })
		if len(m.Treaties) == n {
			return fmt.Errorf("member %s lists no treaty %q to drop", m.Country, t)
		}
	}
	for _, ref := range c.DropDeclarations {
		n, which := len(m.Declarations), string(ref.Kind)
		if ref.From != "" {
			which += " from " + ref.From
		}
		m.Declarations = slices.DeleteFunc(m.Declarations, func(d protocol.Declaration) bool {
			return d.Kind == ref.Kind && (ref.From == "" || d.From == ref.From)
		})
		if len(m.Declarations) == n {
			return fmt.Errorf("member %s has no declaration %s to drop", m.Country, which)
		}
	}
	for _, p := range c.Treaties {
		if i := slices.IndexFunc(m.Treaties, func(q protocol.Party) bool { return q.Treaty == p.Treaty }); i >= 0 {
			m.Treaties[i] = p
		} else {
			m.Treaties = append(m.Treaties, p)
		}
	}
	for _, d := range c.Declarations {
		if i := slices.IndexFunc(m.Declarations, func(e protocol.Declaration) bool { return e.Kind == d.Kind && e.From == d.From }); i >= 0 {
			m.Declarations[i] = d
		} else {
			m.Declarations = append(m.Declarations, d)
		}
	}
	// Chronological, then by name: the order a reader expects, and a
	// stable one, so signed rosters diff cleanly.
	slices.SortStableFunc(m.Treaties, func(a, b protocol.Party) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.Treaty, b.Treaty))
	})
	slices.SortStableFunc(m.Declarations, func(a, b protocol.Declaration) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.Kind, b.Kind))
	})
	return nil
}

// HasTreatyBasis reports whether m states any of its treaty basis.
func HasTreatyBasis(m protocol.Member) bool {
	return len(m.Treaties) > 0 || len(m.Declarations) > 0 || m.Preservation != (protocol.PreservationRegime{})
}

// CarryTreatyBasis gives m, if it states no treaty basis, the one the
// draft holds for the same country, and reports whether it did. Re-adding
// a member from a new member.json (new keys, new addresses) must not drop
// the treaties, reservations and declarations already drafted for it.
func CarryTreatyBasis(r *protocol.Roster, m *protocol.Member) bool {
	old := FindMember(r, m.Country)
	if old == nil || HasTreatyBasis(*m) || !HasTreatyBasis(*old) {
		return false
	}
	m.Treaties = slices.Clone(old.Treaties)
	m.Declarations = slices.Clone(old.Declarations)
	m.Preservation = old.Preservation
	return true
}

// FindMember returns the draft's member of country cc, or nil.
func FindMember(r *protocol.Roster, cc protocol.CountryCode) *protocol.Member {
	for i := range r.Members {
		if r.Members[i].Country == cc {
			return &r.Members[i]
		}
	}
	return nil
}

// ErrDeclarationsWithoutTreaties: a member entry that lists no treaty is
// read as a Party to the Budapest Convention only (Member.PartyTo), so a
// declaration under any other instrument could never apply. The drafting
// tools refuse it rather than sign a declaration no node would honour.
var ErrDeclarationsWithoutTreaties = errors.New("a member that lists no treaties is read as Party to the Budapest Convention only; list its treaties (--treaty)")

// CheckMember validates one member entry as the roster will, now rather
// than at signing time: the protocol's rules for the entry and its treaty
// basis (known treaties and kinds, dates as YYYY-MM-DD, UNTIL after FROM,
// each declaration under a treaty the member is Party to, Art. 29(7)'s
// sixty days at least).
func CheckMember(m protocol.Member) error {
	probe := protocol.Roster{Serial: 1, ValidUntil: time.Now().Add(time.Hour), Members: []protocol.Member{m}}
	if err := probe.Validate(); err != nil {
		return memberError{m.Country, err}
	}
	if err := checkContact(m); err != nil {
		return fmt.Errorf("member %s: %w", m.Country, err)
	}
	if len(m.Treaties) == 0 {
		for _, d := range m.Declarations {
			if protocol.DeclarationKinds[d.Kind] != protocol.TreatyBudapest {
				return fmt.Errorf("member %s: declaration %s: %w", m.Country, d.Kind, ErrDeclarationsWithoutTreaties)
			}
		}
	}
	return nil
}

// memberError is a roster validation error about the one member CheckMember
// probed: the "members[0]." the roster's paths start with says nothing to
// the person who typed the flags, so it is left out.
type memberError struct {
	country protocol.CountryCode
	err     error
}

func (e memberError) Error() string {
	return fmt.Sprintf("member %s: %s", e.country, strings.ReplaceAll(e.err.Error(), "members[0].", ""))
}

func (e memberError) Unwrap() error { return e.err }

// checkContact checks the fields a requesting state's operator relies on at
// 3 a.m. (the member's local time, the fallback phone and e-mail) with the
// same rules the protocol applies to contacts in requests.
func checkContact(m protocol.Member) error {
	var bad []string
	if m.TimeZone != "" && !protocol.ValidTimeZone(m.TimeZone) {
		bad = append(bad, fmt.Sprintf("time zone %q is not an IANA time zone name (e.g. Europe/Berlin)", m.TimeZone))
	}
	if m.FallbackEmail != "" && !protocol.ValidEmail(m.FallbackEmail) {
		bad = append(bad, fmt.Sprintf("e-mail %q is not one address such as 24-7@example.org", m.FallbackEmail))
	}
	if m.FallbackPhone != "" && !protocol.ValidPhone(m.FallbackPhone) {
		bad = append(bad, fmt.Sprintf("phone %q is not a number in international form such as +49 611 55 0", m.FallbackPhone))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// AddressWarnings names the member's addresses that other members cannot
// dial: loopback, unspecified and private ones, such as the placeholders
// 'vigil init' writes into member.json. They are warnings, not errors: a
// test network on one machine uses loopback addresses on purpose.
func AddressWarnings(m protocol.Member) []string {
	var out []string
	for _, a := range m.Addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			continue // Validate reports it
		}
		switch {
		case manet.IsIPLoopback(ma):
			out = append(out, fmt.Sprintf("address %s is loopback: other members cannot reach it (replace the placeholder with the node's public address)", a))
		case manet.IsIPUnspecified(ma):
			out = append(out, fmt.Sprintf("address %s is unspecified (0.0.0.0 or ::): give the node's public address", a))
		case manet.IsPrivateAddr(ma):
			out = append(out, fmt.Sprintf("address %s is private: only members on the same network can reach it", a))
		}
	}
	return out
}
