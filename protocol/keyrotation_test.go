package protocol_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// TestRecipientKeyAcceptSet: after a rotation, an incoming envelope sealed
// to the receiver's previous key is accepted only while the receiver's own
// roster entry lists that key as previous and now < previous_key_until; a
// key kept only in config (previous_encryption_keys) is refused for
// incoming envelopes but still decrypts the node's stored envelopes
// (issue 9 item 11).
func TestRecipientKeyAcceptSet(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	oldBobEnc := bob.enc
	newBobEnc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	// Sealed to bob's old key (a sender still on the old roster, or an
	// attacker replaying the rotation).
	env := seal(t, alice, bob, testNow, []byte("to the old key"))
	// Bob after the rotation: new key first, old key kept to read.
	rotated, err := protocol.NewSealer(bob.key, newBobEnc, oldBobEnc)
	if err != nil {
		t.Fatal(err)
	}
	until := testNow.Add(time.Hour)
	rotatedEntry := bob.member
	rotatedEntry.EncryptionKey = protocol.EncodeKey(newBobEnc.Public)
	rotatedEntry.PreviousEncryptionKey = protocol.EncodeKey(oldBobEnc.Public)
	rotatedEntry.PreviousKeyUntil = &until
	withGrace := newRoster(alice.member, rotatedEntry)

	if o, err := rotated.Open(env.Raw, withGrace, testNow, protocol.DefaultClockPolicy); err != nil || string(o.Payload) != "to the old key" {
		t.Fatalf("previous key refused before previous_key_until: %v", err)
	}
	if _, err := rotated.Open(env.Raw, withGrace, until.Add(-time.Nanosecond), protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("previous key refused just before previous_key_until: %v", err)
	}
	for _, at := range []time.Time{until, until.Add(time.Minute)} {
		if _, err := rotated.Open(env.Raw, withGrace, at, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
			t.Fatalf("previous key at %s (until %s): err = %v, want ErrWrongRecipient", at, until, err)
		}
	}

	// The old key only in config: the roster entry no longer lists it.
	noGrace := rotatedEntry
	noGrace.PreviousEncryptionKey, noGrace.PreviousKeyUntil = "", nil
	configOnly := newRoster(alice.member, noGrace)
	if _, err := rotated.Open(env.Raw, configOnly, testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
		t.Fatalf("key kept only in config accepted for an incoming envelope: err = %v", err)
	}
	// ... but the node still reads the envelope it stored before.
	if p, err := rotated.Decrypt(env); err != nil || string(p) != "to the old key" {
		t.Fatalf("stored envelope sealed to a config-only key no longer decrypts: %v", err)
	}
	// And its own outbox sealed from the old key.
	out := seal(t, bob, alice, testNow, []byte("bob's outbox"))
	if p, err := rotated.Decrypt(out); err != nil || string(p) != "bob's outbox" {
		t.Fatalf("own outbox sealed from the old key no longer decrypts: %v", err)
	}

	// A grace entry for another member does not open bob's: only the
	// receiver's own entry counts.
	aliceGrace := alice.member
	aliceGrace.PreviousEncryptionKey = protocol.EncodeKey(oldBobEnc.Public)
	aliceGrace.PreviousKeyUntil = &until
	if _, err := rotated.Open(env.Raw, newRoster(aliceGrace, noGrace), testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
		t.Fatalf("another member's previous key opened the accept set: err = %v", err)
	}

	// The current key is always accepted, and the key the roster still
	// publishes as the node's current one (rotation not yet published).
	fresh, err := alice.sealer.Seal(header(bob.id, testNow), newBobEnc.Public, []byte("to the new key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Open(fresh.Raw, configOnly, until.Add(time.Hour), protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("current key refused: %v", err)
	}
	if _, err := rotated.Open(env.Raw, newRoster(alice.member, bob.member), until.Add(time.Hour), protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("key the roster still publishes as current refused: %v", err)
	}
	// A previous key whose entry has no end date is refused (such a
	// roster no longer validates; the check holds for any Directory).
	forever := rotatedEntry
	forever.PreviousKeyUntil = nil
	if _, err := rotated.Open(env.Raw, newRoster(alice.member, forever), testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
		t.Fatalf("previous key without previous_key_until accepted: err = %v", err)
	}
}

// TestRosterValidationPreviousKeyNeedsUntil: a previous encryption key
// without previous_key_until is refused by validation, signing and
// verification (issue 9 item 11), and a roster with no member is refused
// (item 8).
func TestRosterValidationPreviousKeyNeedsUntil(t *testing.T) {
	pub, priv := authorityKey(t)
	fr, de := newNode(t, "FR"), newNode(t, "DE")
	other, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	r := newRoster(fr.member, de.member)
	r.Members[1].PreviousEncryptionKey = protocol.EncodeKey(other.Public)
	err = r.Validate()
	if !errors.Is(err, protocol.ErrRosterInvalid) || !strings.Contains(err.Error(), "members[1].previous_key_until") {
		t.Fatalf("previous key without until: err = %v, want ErrRosterInvalid naming members[1].previous_key_until", err)
	}
	if doc, err := protocol.SignRoster(r, priv); !errors.Is(err, protocol.ErrRosterInvalid) || doc != nil {
		t.Fatalf("SignRoster signed a previous key without until: err = %v", err)
	}
	// Signed raw (an authority bypassing validation): verification refuses it.
	body := []byte(rosterJSON(t, r))
	if _, err := protocol.VerifyRoster(signRaw(t, body, priv), pub); !errors.Is(err, protocol.ErrRosterInvalid) {
		t.Fatalf("VerifyRoster accepted a previous key without until: err = %v", err)
	}
	until := testNow.Add(time.Hour)
	r.Members[1].PreviousKeyUntil = &until
	if err := r.Validate(); err != nil {
		t.Fatalf("previous key with until: %v", err)
	}

	empty := newRoster()
	if err := empty.Validate(); !errors.Is(err, protocol.ErrRosterInvalid) || !strings.Contains(err.Error(), "members") {
		t.Fatalf("empty roster: err = %v, want ErrRosterInvalid naming members", err)
	}
	if doc, err := protocol.SignRoster(empty, priv); err == nil || doc != nil {
		t.Fatal("SignRoster signed a roster with no member")
	}
}
