package authority

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// member is a valid roster entry for country cc: the skeleton 'vigil
// init' prints for a new node, completed as the authority would.
func member(t *testing.T, cc string) protocol.Member {
	t.Helper()
	res, err := config.Init(config.InitOptions{Dir: t.TempDir(), Country: cc})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Member
	m.Organisation, m.TimeZone = cc+" national 24/7 point of contact (test)", "UTC"
	return m
}

// TestInitKeepsTheKey: the first Init creates the key pair (private key
// mode 0600, public key beside it); a second one changes nothing and
// reports the same public key.
func TestInitKeepsTheKey(t *testing.T) {
	dir := t.TempDir()
	pub, created, err := Init(dir)
	if err != nil || !created {
		t.Fatalf("first Init: created %v, err %v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if b, err := os.ReadFile(filepath.Join(dir, PubFile)); err != nil || strings.TrimSpace(string(b)) != pub {
		t.Fatalf("public key file %q (%v), Init reported %q", b, err, pub)
	}
	if _, err := protocol.ParseAuthorityKey(pub); err != nil {
		t.Fatalf("Init's public key does not parse as a pinned authority key: %v", err)
	}
	key, err := LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)); got != pub {
		t.Fatalf("loaded key's public half %s, want %s", got, pub)
	}
	again, created, err := Init(dir)
	if err != nil || created || again != pub {
		t.Fatalf("second Init: pub %s created %v err %v; want %s, false, nil", again, created, err, pub)
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, KeyFile)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable key: err = %v, want a refusal naming chmod 600", err)
	}
	bad := filepath.Join(dir, "short.key")
	if err := os.WriteFile(bad, []byte(base64.StdEncoding.EncodeToString([]byte("too short"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(bad); err == nil || !strings.Contains(err.Error(), "Ed25519 seed") {
		t.Errorf("short seed: err = %v", err)
	}
}

// TestDraftRoundTrip: a missing draft loads as an empty one; AddMember
// inserts, then replaces by country; SaveDraft writes members sorted and
// LoadDraft reads them back.
func TestDraftRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roster.draft.json")
	r, err := LoadDraft(path)
	if err != nil || len(r.Members) != 0 || r.Network != "vigil" {
		t.Fatalf("missing draft: %+v, %v; want an empty vigil roster", r, err)
	}
	de, fr := member(t, "DE"), member(t, "FR")
	AddMember(r, fr)
	AddMember(r, de)
	moved := member(t, "FR")
	AddMember(r, moved)
	if len(r.Members) != 2 {
		t.Fatalf("%d members after adding FR twice, want 2", len(r.Members))
	}
	if err := SaveDraft(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := LoadDraft(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Members) != 2 || back.Members[0].Country != "DE" || back.Members[1].PeerID != moved.PeerID {
		t.Fatalf("draft read back %+v; want DE then the replaced FR", back.Members)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDraft(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt draft: err = %v, want one naming the file", err)
	}
}

// TestReadDraftForSigningRefuses: signing never starts from a draft that
// does not exist or lists nobody (issue 9 item 8).
func TestReadDraftForSigningRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	if _, err := ReadDraftForSigning(missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing draft: err = %v", err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := SaveDraft(empty, &protocol.Roster{Network: "vigil"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDraftForSigning(empty); err == nil || !strings.Contains(err.Error(), "no members") {
		t.Errorf("empty draft: err = %v", err)
	}
	full := filepath.Join(dir, "full.json")
	if err := SaveDraft(full, &protocol.Roster{Network: "vigil", Members: []protocol.Member{member(t, "DE")}}); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadDraftForSigning(full); err != nil || len(r.Members) != 1 {
		t.Errorf("draft with a member: %v, %v", r, err)
	}
}

// TestSignDraft: the serial is one above both the draft's and the roster
// in force, the validity starts at the second of signing, and the document
// verifies against the authority's public key.
func TestSignDraft(t *testing.T) {
	dir := t.TempDir()
	pubText, _, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := protocol.ParseAuthorityKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)
	r := &protocol.Roster{Network: "vigil", Serial: 4, Members: []protocol.Member{member(t, "FR"), member(t, "DE")}}
	for _, tc := range []struct {
		minSerial, want uint64
	}{{0, 5}, {9, 10}, {3, 11}} {
		doc, err := SignDraft(r, key, tc.minSerial, 30*24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := protocol.VerifyRoster(doc, pub)
		if err != nil {
			t.Fatalf("signed roster does not verify: %v", err)
		}
		if got.Serial != tc.want || r.Serial != tc.want {
			t.Errorf("minSerial %d: serial %d (draft %d), want %d", tc.minSerial, got.Serial, r.Serial, tc.want)
		}
		if !got.IssuedAt.Equal(now.Truncate(time.Second)) || !got.ValidUntil.Equal(got.IssuedAt.Add(30*24*time.Hour)) {
			t.Errorf("issued %v valid until %v", got.IssuedAt, got.ValidUntil)
		}
		if got.Members[0].Country != "DE" {
			t.Errorf("members not sorted: %v first", got.Members[0].Country)
		}
	}
	if _, err := SignDraft(&protocol.Roster{}, key, 0, time.Hour, now); err == nil {
		t.Error("signed a draft without members")
	}
}
