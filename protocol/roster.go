package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Roster is the signed directory of network members. Nodes talk only to the
// peers it lists, and replace it only with a correctly signed roster whose
// serial is higher.
type Roster struct {
	Network    string    `json:"network"`
	Serial     uint64    `json:"serial"`
	IssuedAt   time.Time `json:"issued_at"`
	ValidUntil time.Time `json:"valid_until"`
	Members    []Member  `json:"members"`
}

// Member is one state's 24/7 point of contact.
type Member struct {
	Country       CountryCode `json:"country"` // ISO 3166-1 alpha-2
	Organisation  string      `json:"organisation"`
	PeerID        string      `json:"peer_id"`
	Addrs         []string    `json:"addrs"`
	EncryptionKey string      `json:"encryption_key"` // base64 X25519 public key
	// PreviousEncryptionKey stays accepted for envelopes until
	// PreviousKeyUntil, so messages sealed just before a rotation still open.
	// PreviousKeyUntil is mandatory with it (issue 9 item 11): an old key
	// must never stay valid for ever because a date was forgotten.
	PreviousEncryptionKey string     `json:"previous_encryption_key,omitempty"`
	PreviousKeyUntil      *time.Time `json:"previous_key_until,omitempty"`
	Languages             []string   `json:"languages"`
	TimeZone              string     `json:"time_zone"`    // IANA name, e.g. Europe/Paris
	OfficeHours           string     `json:"office_hours"` // e.g. "Mon-Fri 08:00-18:00"
	FallbackPhone         string     `json:"fallback_phone"`
	FallbackEmail         string     `json:"fallback_email"`
	// Treaties and Declarations give the member's treaty basis, signed with
	// the roster so both nodes of a case derive the same rules from it
	// (docs/legal-model.md). Preservation is its domestic regime.
	Treaties     []Party            `json:"treaties,omitempty"`
	Declarations []Declaration      `json:"declarations,omitempty"`
	Preservation PreservationRegime `json:"preservation,omitzero"`
}

// ID returns the member's decoded peer ID.
func (m Member) ID() (peer.ID, error) { return peer.Decode(m.PeerID) }

// EncryptionPublic decodes the member's current encryption key.
func (m Member) EncryptionPublic() ([32]byte, error) { return decodeKey32(m.EncryptionKey) }

// HasEncryptionKey reports whether k is the member's current key, or its
// previous one while the rotation grace period (PreviousKeyUntil) lasts.
func (m Member) HasEncryptionKey(k [32]byte, now time.Time) bool {
	if pk, err := decodeKey32(m.EncryptionKey); err == nil && pk == k {
		return true
	}
	return m.InKeyGrace(k, now)
}

// InKeyGrace reports whether k is the member's previous encryption key and
// now is before PreviousKeyUntil. A previous key without an end date is
// never in grace (Validate refuses such a roster anyway; issue 9 item 11).
func (m Member) InKeyGrace(k [32]byte, now time.Time) bool {
	if m.PreviousEncryptionKey == "" || m.PreviousKeyUntil == nil || !now.Before(*m.PreviousKeyUntil) {
		return false
	}
	pk, err := decodeKey32(m.PreviousEncryptionKey)
	return err == nil && pk == k
}

// Multiaddrs parses the member's listen addresses.
func (m Member) Multiaddrs() ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(m.Addrs))
	for _, a := range m.Addrs {
		addr, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("member %s address %q: %w", m.Country, a, err)
		}
		out = append(out, addr)
	}
	return out, nil
}

func decodeKey32(s string) ([32]byte, error) {
	var k [32]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("decode key: %w", err)
	}
	if len(b) != 32 {
		return k, fmt.Errorf("decode key: want 32 bytes, got %d", len(b))
	}
	copy(k[:], b)
	return k, nil
}

// EncodeKey encodes a 32-byte public key as roster and config files write it.
func EncodeKey(k [32]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

// Validate checks the roster's own consistency: at least one member,
// unique countries and peers, parseable keys and addresses, an end date for
// every previous encryption key.
func (r *Roster) Validate() error {
	var errs []string
	if r.Serial == 0 {
		errs = append(errs, "serial must be at least 1")
	}
	if r.ValidUntil.IsZero() {
		errs = append(errs, "valid_until is required")
	}
	if len(r.Members) == 0 {
		// A roster of nobody cuts every node off (issue 9 item 8).
		errs = append(errs, "members: a roster needs at least one member")
	}
	countries, peers := map[CountryCode]bool{}, map[string]bool{}
	for i, m := range r.Members {
		where := fmt.Sprintf("members[%d]", i)
		if !m.Country.Valid() {
			errs = append(errs, fmt.Sprintf("%s.country %q is not an ISO 3166-1 alpha-2 code", where, m.Country))
		}
		if countries[m.Country] {
			errs = append(errs, fmt.Sprintf("%s.country %s appears twice", where, m.Country))
		}
		countries[m.Country] = true
		if strings.TrimSpace(m.Organisation) == "" {
			errs = append(errs, where+".organisation is required")
		}
		if _, err := m.ID(); err != nil {
			errs = append(errs, fmt.Sprintf("%s.peer_id: %v", where, err))
		} else if peers[m.PeerID] {
			errs = append(errs, fmt.Sprintf("%s.peer_id appears twice", where))
		}
		peers[m.PeerID] = true
		if _, err := m.EncryptionPublic(); err != nil {
			errs = append(errs, fmt.Sprintf("%s.encryption_key: %v", where, err))
		}
		if m.PreviousEncryptionKey != "" {
			if _, err := decodeKey32(m.PreviousEncryptionKey); err != nil {
				errs = append(errs, fmt.Sprintf("%s.previous_encryption_key: %v", where, err))
			}
			if m.PreviousKeyUntil == nil || m.PreviousKeyUntil.IsZero() {
				errs = append(errs, where+".previous_key_until is required with previous_encryption_key")
			}
		}
		if _, err := m.Multiaddrs(); err != nil {
			errs = append(errs, fmt.Sprintf("%s.addrs: %v", where, err))
		}
		if m.TimeZone == "" {
			errs = append(errs, where+".time_zone is required")
		}
		errs = append(errs, m.validateTreatyBasis(where)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrRosterInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Member finds a member by country code.
func (r *Roster) Member(country CountryCode) (Member, bool) {
	for _, m := range r.Members {
		if m.Country == country {
			return m, true
		}
	}
	return Member{}, false
}

// MemberByPeer implements Directory.
func (r *Roster) MemberByPeer(id peer.ID) (Member, bool) {
	s := id.String()
	for _, m := range r.Members {
		if m.PeerID == s {
			return m, true
		}
	}
	return Member{}, false
}

// SortMembers orders members by country so signed rosters diff cleanly.
func (r *Roster) SortMembers() {
	sort.Slice(r.Members, func(i, j int) bool { return r.Members[i].Country < r.Members[j].Country })
}

// SignedRoster is the roster as distributed: the roster's JSON exactly as the
// authority signed it, and the signature over those bytes. The bytes are kept
// verbatim (json.RawMessage), so verification never depends on re-encoding.
type SignedRoster struct {
	Roster    json.RawMessage `json:"roster"`
	Signature string          `json:"signature"` // base64 Ed25519 over rosterDomain || Roster
}

const rosterDomain = "vigil/roster/v1\x00"

// MaxRosterSize bounds a roster document; 193 members fit in well under 1 MiB.
const MaxRosterSize = MaxFrameSize - 1

// SignRoster validates r and signs it with the network authority key.
func SignRoster(r *Roster, authority ed25519.PrivateKey) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	// The body is indented as it will sit inside the document and written
	// into it verbatim: marshalling it as a json.RawMessage would re-indent
	// (or compact) it, and the signed bytes would no longer be the embedded
	// ones, so no signed roster would ever verify.
	body, err := json.MarshalIndent(r, "  ", "  ")
	if err != nil {
		return nil, fmt.Errorf("sign roster: %w", err)
	}
	sig := ed25519.Sign(authority, append([]byte(rosterDomain), body...))
	return fmt.Appendf(nil, "{\n  \"roster\": %s,\n  \"signature\": %q\n}\n", body, base64.StdEncoding.EncodeToString(sig)), nil
}

// VerifyRoster parses a signed roster document, checks the authority's
// signature and the roster's consistency, and returns the roster. It does
// not compare serials or dates; see AcceptRoster.
func VerifyRoster(doc []byte, authority ed25519.PublicKey) (*Roster, error) {
	if len(doc) > MaxRosterSize {
		return nil, fmt.Errorf("%w: roster of %d bytes", ErrFrameTooLarge, len(doc))
	}
	var sr SignedRoster
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return nil, fmt.Errorf("%w: roster document: %v", ErrMalformed, err)
	}
	if len(sr.Roster) == 0 || sr.Signature == "" {
		return nil, fmt.Errorf("%w: roster document needs roster and signature", ErrMalformed)
	}
	sig, err := base64.StdEncoding.DecodeString(sr.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: roster signature encoding: %v", ErrMalformed, err)
	}
	if len(authority) != ed25519.PublicKeySize || !ed25519.Verify(authority, append([]byte(rosterDomain), sr.Roster...), sig) {
		return nil, ErrRosterSignature
	}
	var r Roster
	rd := json.NewDecoder(bytes.NewReader(sr.Roster))
	rd.DisallowUnknownFields()
	if err := rd.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: roster body: %v", ErrMalformed, err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// AcceptRoster decides whether candidate may replace current (which may be
// nil): it must be newer and not expired.
func AcceptRoster(current, candidate *Roster, now time.Time) error {
	if current != nil && candidate.Serial <= current.Serial {
		return fmt.Errorf("%w: serial %d, have %d", ErrRosterStale, candidate.Serial, current.Serial)
	}
	if !candidate.ValidUntil.After(now) {
		return fmt.Errorf("%w: valid until %s", ErrRosterExpired, candidate.ValidUntil.Format(time.RFC3339))
	}
	return nil
}

// ParseAuthorityKey decodes a base64 Ed25519 public key as pinned in configs.
func ParseAuthorityKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, errors.New("authority key: want 32 bytes")
	}
	return ed25519.PublicKey(b), nil
}
