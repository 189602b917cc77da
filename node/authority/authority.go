// Package authority is the network authority's offline tooling: its
// Ed25519 key pair, and drafting, signing and saving the roster that every
// node pins the authority's public key to verify. It runs on the
// secretariat's machine (`vigil roster ...`), never inside a node.
package authority

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// Authority key files: the private key signs rosters and must stay with the
// network secretariat (ideally offline); the public key is pinned in every
// node's config (roster.authority_key).
const (
	KeyFile = "authority.key"
	PubFile = "authority.pub"
)

// Init creates an authority key pair in dir unless one exists, and
// returns the base64 public key.
func Init(dir string) (pub string, created bool, err error) {
	keyPath := filepath.Join(dir, KeyFile)
	if _, err := os.Stat(keyPath); err == nil {
		k, err := LoadKey(keyPath)
		if err != nil {
			return "", false, err
		}
		return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)), false, nil
	}
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", false, fmt.Errorf("generate authority key: %w", err)
	}
	if _, err := config.CreateSecret(keyPath, []byte(base64.StdEncoding.EncodeToString(sk.Seed())+"\n")); err != nil {
		return "", false, err
	}
	pub = base64.StdEncoding.EncodeToString(pk)
	if err := config.WriteFileAtomic(filepath.Join(dir, PubFile), []byte(pub+"\n"), 0o644); err != nil {
		return "", false, err
	}
	return pub, true, nil
}

// LoadKey reads the authority's private key.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := config.ReadSecret(path)
	if err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("authority key %s: not a base64 Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// LoadDraft reads an unsigned roster draft, or returns an empty one
// if the file does not exist yet.
func LoadDraft(path string) (*protocol.Roster, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &protocol.Roster{Network: "vigil"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read roster draft %s: %w", path, err)
	}
	var r protocol.Roster
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse roster draft %s: %w", path, err)
	}
	return &r, nil
}

// ReadDraftForSigning reads a draft that must exist and list at least one
// member. Signing never creates a draft: an authority that signed the empty
// roster LoadDraft returns for a missing file, and pushed it, cut
// every node off (issue 9 item 8).
func ReadDraftForSigning(path string) (*protocol.Roster, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("roster draft %s does not exist: refusing to sign (create it with 'vigil roster add', or give --draft)", path)
	} else if err != nil {
		return nil, fmt.Errorf("roster draft %s: %w", path, err)
	}
	r, err := LoadDraft(path)
	if err != nil {
		return nil, err
	}
	if len(r.Members) == 0 {
		return nil, fmt.Errorf("roster draft %s has no members: refusing to sign a roster that would cut every node off", path)
	}
	return r, nil
}

// SaveDraft writes a roster draft.
func SaveDraft(path string, r *protocol.Roster) error {
	r.SortMembers()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode roster draft: %w", err)
	}
	return config.WriteFileAtomic(path, append(b, '\n'), 0o644)
}

// AddMember inserts or replaces (by country) a member in a draft.
func AddMember(r *protocol.Roster, m protocol.Member) {
	for i := range r.Members {
		if r.Members[i].Country == m.Country {
			r.Members[i] = m
			return
		}
	}
	r.Members = append(r.Members, m)
}

// RemoveMember drops the member of country cc from a draft and reports
// whether it was there.
func RemoveMember(r *protocol.Roster, cc protocol.CountryCode) bool {
	n := len(r.Members)
	r.Members = slices.DeleteFunc(r.Members, func(m protocol.Member) bool { return m.Country == cc })
	return len(r.Members) != n
}

// ErrExpiredValidity is returned by SignDraft for a validity that ends
// before the roster is issued: every node would refuse the roster, or, if
// forced, raise a critical alert the moment it is installed.
var ErrExpiredValidity = errors.New("validity is not positive: the roster would be expired when signed")

// SignDraft stamps a draft with the next serial and validity and signs it.
// The serial is one more than both the draft's and minSerial (the serial of
// the roster in force), so a new roster is always newer.
func SignDraft(r *protocol.Roster, key ed25519.PrivateKey, minSerial uint64, validFor time.Duration, now time.Time) ([]byte, error) {
	if len(r.Members) == 0 {
		return nil, errors.New("sign roster: the draft has no members")
	}
	if validFor <= 0 {
		return nil, fmt.Errorf("sign roster: %w (got %s; give --valid-for as a duration such as 8760h)", ErrExpiredValidity, validFor)
	}
	s := r.Serial
	if minSerial > s {
		s = minSerial
	}
	r.Serial = s + 1
	r.IssuedAt = now.UTC().Truncate(time.Second)
	r.ValidUntil = r.IssuedAt.Add(validFor)
	r.SortMembers()
	return protocol.SignRoster(r, key)
}
