package authority

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// TestCheckMemberContacts: the member's time zone, fallback e-mail and
// phone are checked when drafted, not discovered wrong at 3 a.m.
func TestCheckMemberContacts(t *testing.T) {
	good := member(t, "DE")
	good.TimeZone, good.FallbackEmail, good.FallbackPhone = "Europe/Berlin", "24-7@example.de", "+49 611 0000"
	if err := CheckMember(good); err != nil {
		t.Fatalf("valid member refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*protocol.Member)
		want string
	}{
		{"time zone", func(m *protocol.Member) { m.TimeZone = "Europe/Berln" }, `time zone "Europe/Berln"`},
		{"lower-case time zone", func(m *protocol.Member) { m.TimeZone = "europe/berlin" }, "IANA"},
		{"e-mail", func(m *protocol.Member) { m.FallbackEmail = "not-an-email" }, `e-mail "not-an-email"`},
		{"e-mail with a name", func(m *protocol.Member) { m.FallbackEmail = "BKA <24-7@example.de>" }, "e-mail"},
		{"phone", func(m *protocol.Member) { m.FallbackPhone = "abc" }, `phone "abc"`},
	} {
		m := good
		tc.edit(&m)
		if err := CheckMember(m); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "member DE: ") {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestAddressWarnings(t *testing.T) {
	m := member(t, "DE") // init's placeholders: loopback
	if w := AddressWarnings(m); len(w) != len(m.Addrs) || len(w) == 0 || !strings.Contains(w[0], "loopback") {
		t.Fatalf("placeholders %v: warnings %q", m.Addrs, w)
	}
	m.Addrs = []string{"/ip4/0.0.0.0/tcp/4701", "/ip4/10.1.2.3/tcp/4701", "/dns4/vigil.example.de/tcp/4701", "/ip4/192.0.2.10/udp/4701/quic-v1"}
	w := AddressWarnings(m)
	if len(w) != 2 || !strings.Contains(w[0], "unspecified") || !strings.Contains(w[1], "private") {
		t.Fatalf("warnings %q", w)
	}
}

func TestRemoveMember(t *testing.T) {
	r := &protocol.Roster{}
	AddMember(r, member(t, "DE"))
	AddMember(r, member(t, "FR"))
	if RemoveMember(r, "NL") || len(r.Members) != 2 {
		t.Fatal("removed a member that is not there")
	}
	if !RemoveMember(r, "DE") || len(r.Members) != 1 || r.Members[0].Country != "FR" {
		t.Fatalf("after removing DE: %+v", r.Members)
	}
}

// TestSignRefusesExpiredValidity: a validity of zero or less would sign a
// roster that is expired when issued.
func TestSignRefusesExpiredValidity(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for _, d := range []time.Duration{-time.Hour, 0} {
		r := &protocol.Roster{Network: "vigil", Members: []protocol.Member{member(t, "DE")}}
		if _, err := SignDraft(r, key, 0, d, time.Now()); !errors.Is(err, ErrExpiredValidity) || r.Serial != 0 {
			t.Errorf("valid for %s: err = %v, serial %d", d, err, r.Serial)
		}
	}
	r := &protocol.Roster{Network: "vigil", Members: []protocol.Member{member(t, "DE")}}
	if _, err := SignDraft(r, key, 0, time.Minute, time.Now()); err != nil {
		t.Fatalf("valid for a minute: %v", err)
	}
}
