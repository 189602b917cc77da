package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

// testNow is the fixed "current time" handed to Open and AcceptRoster.
var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// node is one test participant: identity, encryption key, sealer and the
// roster entry that describes it.
type node struct {
	key    crypto.PrivKey
	id     peer.ID
	enc    protocol.EncryptionKey
	sealer *protocol.Sealer
	member protocol.Member
}

func newNode(tb testing.TB, country string) *node {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		tb.Fatal(err)
	}
	return newNodeWith(tb, country, key, enc)
}

func newNodeWith(tb testing.TB, country string, key crypto.PrivKey, enc protocol.EncryptionKey) *node {
	tb.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := protocol.NewSealer(key, enc)
	if err != nil {
		tb.Fatal(err)
	}
	return &node{key: key, id: id, enc: enc, sealer: s, member: protocol.Member{
		Country:       protocol.CountryCode(country),
		Organisation:  "24/7 point of contact " + country,
		PeerID:        id.String(),
		Addrs:         []string{"/ip4/198.51.100.7/tcp/4001", "/dns4/vigil." + strings.ToLower(country) + ".example.org/udp/4001/quic-v1"},
		EncryptionKey: protocol.EncodeKey(enc.Public),
		Languages:     []string{"en"},
		TimeZone:      "Europe/Paris",
		OfficeHours:   "Mon-Fri 08:00-18:00",
		FallbackPhone: "+33 1 99 00 00 00",
		FallbackEmail: "pc247@" + strings.ToLower(country) + ".example.org",
	}}
}

func newRoster(members ...protocol.Member) *protocol.Roster {
	return &protocol.Roster{
		Network:    "vigil-test",
		Serial:     7,
		IssuedAt:   testNow.Add(-24 * time.Hour),
		ValidUntil: testNow.Add(90 * 24 * time.Hour),
		Members:    members,
	}
}

func header(to peer.ID, created time.Time) protocol.Header {
	return protocol.Header{
		MessageID: protocol.NewID(created),
		CaseID:    protocol.NewID(created),
		Type:      protocol.TypeRequest,
		Recipient: to,
		CreatedAt: created,
	}
}

func seal(tb testing.TB, from, to *node, created time.Time, payload []byte) *protocol.Envelope {
	tb.Helper()
	env, err := from.sealer.Seal(header(to.id, created), to.enc.Public, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x01
	return out
}

// padSignatureLength re-encodes the 64-byte signature's length prefix (the
// byte just before the last 64) as the two-byte, non-minimal uvarint
// 0xC0 0x00. The value is unchanged, the wire bytes are not.
func padSignatureLength(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	at := len(raw) - 65
	if at < 0 || raw[at] != 64 {
		tb.Fatalf("unexpected layout: no 64-byte signature at the end")
	}
	out := bytes.Clone(raw[:at])
	out = append(out, 0xC0, 0x00)
	return append(out, raw[at+1:]...)
}

// ---- envelopes ----

func TestSealOpenRoundTrip(t *testing.T) {
	alice, bob, carol := newNode(t, "FR"), newNode(t, "DE"), newNode(t, "NL")
	roster := newRoster(alice.member, bob.member, carol.member)
	payload := []byte(`{"kind":"preservation","to":"DE"}`)
	created := testNow.Add(-time.Minute)

	env := seal(t, alice, bob, created, payload)
	if bytes.Contains(env.Raw, payload) {
		t.Fatal("payload appears in clear in the envelope")
	}
	if env.Sender != alice.id || env.SenderEncKey != alice.enc.Public || env.RecipientEncKey != bob.enc.Public {
		t.Fatal("Seal did not fill in sender and keys")
	}

	opened, err := bob.sealer.Open(env.Raw, roster, testNow, protocol.DefaultClockPolicy)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(opened.Payload, payload) {
		t.Fatalf("payload = %q, want %q", opened.Payload, payload)
	}
	if opened.Sender != alice.id || opened.Recipient != bob.id || opened.Member.Country != "FR" {
		t.Fatalf("opened from %s to %s member %s", opened.Sender, opened.Recipient, opened.Member.Country)
	}
	if opened.MessageID != env.MessageID || opened.CaseID != env.CaseID || opened.Type != protocol.TypeRequest {
		t.Fatal("header fields changed in transit")
	}
	if !opened.CreatedAt.Equal(created) {
		t.Fatalf("created = %s, want %s", opened.CreatedAt, created)
	}
	if opened.Hash() != env.Hash() || !bytes.Equal(opened.Raw, env.Raw) {
		t.Fatal("opened envelope's wire bytes differ from the sealed ones")
	}

	// The sender can read its own outbox, both from the sealed value and from
	// the stored wire bytes.
	for name, e := range map[string]*protocol.Envelope{"sealed": env, "parsed": mustParse(t, env.Raw)} {
		got, err := alice.sealer.Decrypt(e)
		if err != nil {
			t.Fatalf("sender Decrypt (%s): %v", name, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("sender Decrypt (%s) = %q", name, got)
		}
	}

	// A third member can neither decrypt nor open it.
	if _, err := carol.sealer.Decrypt(env); !errors.Is(err, protocol.ErrDecrypt) {
		t.Fatalf("third node Decrypt: err = %v, want ErrDecrypt", err)
	}
	if _, err := carol.sealer.Open(env.Raw, roster, testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
		t.Fatalf("third node Open: err = %v, want ErrWrongRecipient", err)
	}

	// Two seals of the same payload use fresh nonces.
	env2 := seal(t, alice, bob, created, payload)
	if env2.Nonce == env.Nonce || bytes.Equal(env2.Ciphertext, env.Ciphertext) {
		t.Fatal("nonce reused across seals")
	}
}

func mustParse(tb testing.TB, raw []byte) *protocol.Envelope {
	tb.Helper()
	e, err := protocol.ParseEnvelope(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestSealOpenEmptyAndLargePayload(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	roster := newRoster(alice.member, bob.member)
	for _, payload := range [][]byte{{}, bytes.Repeat([]byte("x"), 512<<10)} {
		env := seal(t, alice, bob, testNow, payload)
		opened, err := bob.sealer.Open(env.Raw, roster, testNow, protocol.DefaultClockPolicy)
		if err != nil {
			t.Fatalf("Open %d-byte payload: %v", len(payload), err)
		}
		if !bytes.Equal(opened.Payload, payload) {
			t.Fatalf("%d-byte payload changed", len(payload))
		}
	}
}

func TestSealRejectsBadHeader(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	good := header(bob.id, testNow)
	cases := map[string]func(h *protocol.Header){
		"bad message id": func(h *protocol.Header) { h.MessageID = "not-an-id" },
		"bad case id":    func(h *protocol.Header) { h.CaseID = "" },
		"no recipient":   func(h *protocol.Header) { h.Recipient = "" },
		"no type":        func(h *protocol.Header) { h.Type = "" },
	}
	for name, mutate := range cases {
		h := good
		mutate(&h)
		if _, err := alice.sealer.Seal(h, bob.enc.Public, []byte("x")); err == nil {
			t.Errorf("%s: Seal succeeded", name)
		}
	}
	if _, err := protocol.NewSealer(alice.key); err == nil {
		t.Error("NewSealer without encryption key succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	alice, bob, carol := newNode(t, "FR"), newNode(t, "DE"), newNode(t, "NL")
	roster := newRoster(alice.member, bob.member, carol.member)
	payload := []byte("preserve 203.0.113.47")
	env := seal(t, alice, bob, testNow.Add(-time.Minute), payload)
	raw := env.Raw

	ctAt := bytes.Index(raw, env.Ciphertext)
	if ctAt < 0 {
		t.Fatal("ciphertext not found in wire bytes")
	}

	// alice signing with her identity but sealing from an encryption key the
	// roster does not list for her.
	rogueEnc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	aliceRogue := newNodeWith(t, "FR", alice.key, rogueEnc)

	// Sealed to bob's peer ID but to carol's encryption key.
	toWrongKey, err := alice.sealer.Seal(header(bob.id, testNow), carol.enc.Public, payload)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		raw    []byte
		dir    protocol.Directory
		want   []error // any of these
		policy protocol.ClockPolicy
	}{
		{name: "flipped signature byte", raw: flip(raw, len(raw)-1), want: []error{protocol.ErrBadSignature}},
		{name: "flipped first signature byte", raw: flip(raw, len(raw)-64), want: []error{protocol.ErrBadSignature}},
		{name: "sender not in roster", raw: raw, dir: newRoster(bob.member, carol.member), want: []error{protocol.ErrUnknownSender}},
		{name: "empty directory", raw: raw, dir: newRoster(), want: []error{protocol.ErrUnknownSender}},
		{name: "sealed to another peer", raw: seal(t, alice, carol, testNow, payload).Raw, want: []error{protocol.ErrWrongRecipient}},
		{name: "sealed to a key bob does not hold", raw: toWrongKey.Raw, want: []error{protocol.ErrWrongRecipient}},
		{name: "tampered ciphertext", raw: flip(raw, ctAt+len(env.Ciphertext)/2), want: []error{protocol.ErrBadSignature, protocol.ErrDecrypt}},
		{name: "tampered ciphertext tag", raw: flip(raw, ctAt), want: []error{protocol.ErrBadSignature, protocol.ErrDecrypt}},
		{name: "sender encryption key not in roster", raw: seal(t, aliceRogue, bob, testNow, payload).Raw, want: []error{protocol.ErrDecrypt}},
		{name: "created an hour in the future", raw: seal(t, alice, bob, testNow.Add(time.Hour), payload).Raw, want: []error{protocol.ErrClockSkew}},
		{name: "older than MaxAge", raw: seal(t, alice, bob, testNow.Add(-protocol.DefaultClockPolicy.MaxAge-time.Minute), payload).Raw, want: []error{protocol.ErrClockSkew}},
		{name: "older than a custom MaxAge", raw: seal(t, alice, bob, testNow.Add(-2*time.Hour), payload).Raw, want: []error{protocol.ErrClockSkew},
			policy: protocol.ClockPolicy{MaxFutureSkew: time.Minute, MaxAge: time.Hour}},
		{name: "empty", raw: nil, want: []error{protocol.ErrMalformed}},
		{name: "garbage", raw: []byte("GET / HTTP/1.1\r\n\r\n"), want: []error{protocol.ErrMalformed}},
		{name: "magic only", raw: []byte("VGE1"), want: []error{protocol.ErrMalformed}},
		{name: "wrong version", raw: flip(raw, 4), want: []error{protocol.ErrMalformed}},
		{name: "truncated", raw: raw[:len(raw)-1], want: []error{protocol.ErrMalformed}},
		{name: "truncated in header", raw: raw[:40], want: []error{protocol.ErrMalformed}},
		{name: "trailing byte", raw: append(bytes.Clone(raw), 0), want: []error{protocol.ErrMalformed}},
		{name: "padded signature length", raw: padSignatureLength(t, raw), want: []error{protocol.ErrMalformed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir
			if dir == nil {
				dir = roster
			}
			policy := c.policy
			if policy == (protocol.ClockPolicy{}) {
				policy = protocol.DefaultClockPolicy
			}
			opened, err := bob.sealer.Open(c.raw, dir, testNow, policy)
			if err == nil {
				t.Fatalf("Open accepted it (payload %q)", opened.Payload)
			}
			if opened != nil {
				t.Fatal("Open returned a value along with an error")
			}
			if !slices.ContainsFunc(c.want, func(w error) bool { return errors.Is(err, w) }) {
				t.Fatalf("err = %v, want one of %v", err, c.want)
			}
		})
	}

	// The untampered envelope still opens, and a small future skew is allowed.
	if _, err := bob.sealer.Open(raw, roster, testNow, protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("control: %v", err)
	}
	skewed := seal(t, alice, bob, testNow.Add(4*time.Minute), payload)
	if _, err := bob.sealer.Open(skewed.Raw, roster, testNow, protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("4 minutes of skew rejected: %v", err)
	}
}

func TestOpenRejectsEveryFlippedByte(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	roster := newRoster(alice.member, bob.member)
	env := seal(t, alice, bob, testNow, []byte("payload"))
	for i := range env.Raw {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(env.Raw)
			b[i] ^= mask
			if o, err := bob.sealer.Open(b, roster, testNow, protocol.DefaultClockPolicy); err == nil {
				t.Fatalf("byte %d ^ %#x: Open accepted it (payload %q)", i, mask, o.Payload)
			}
		}
	}
}

func TestEncryptionKeyRotation(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	oldBobEnc := bob.enc
	newBobEnc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	// Sealed to bob's old key just before he rotated.
	env := seal(t, alice, bob, testNow, []byte("before rotation"))

	rotated, err := protocol.NewSealer(bob.key, newBobEnc, oldBobEnc)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.EncryptionPublic() != newBobEnc.Public || rotated.Self() != bob.id {
		t.Fatal("rotated sealer does not seal from its first key")
	}
	roster := newRoster(alice.member, bob.member)
	if o, err := rotated.Open(env.Raw, roster, testNow, protocol.DefaultClockPolicy); err != nil || string(o.Payload) != "before rotation" {
		t.Fatalf("open with previous key: %v", err)
	}
	onlyNew, err := protocol.NewSealer(bob.key, newBobEnc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyNew.Open(env.Raw, roster, testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrWrongRecipient) {
		t.Fatalf("open without previous key: err = %v, want ErrWrongRecipient", err)
	}

	// A sender that rotated: its old key is accepted while the roster still
	// lists it as previous, and refused once it is gone.
	aliceNewEnc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	fromOld := seal(t, alice, bob, testNow, []byte("sealed with old sender key"))
	m := alice.member
	m.EncryptionKey = protocol.EncodeKey(aliceNewEnc.Public)
	m.PreviousEncryptionKey = protocol.EncodeKey(alice.enc.Public)
	until := testNow.Add(24 * time.Hour)
	m.PreviousKeyUntil = &until
	if _, err := bob.sealer.Open(fromOld.Raw, newRoster(m, bob.member), testNow, protocol.DefaultClockPolicy); err != nil {
		t.Fatalf("previous sender key refused: %v", err)
	}
	m.PreviousEncryptionKey, m.PreviousKeyUntil = "", nil
	if _, err := bob.sealer.Open(fromOld.Raw, newRoster(m, bob.member), testNow, protocol.DefaultClockPolicy); !errors.Is(err, protocol.ErrDecrypt) {
		t.Fatalf("retired sender key: err = %v, want ErrDecrypt", err)
	}
}

func TestEncryptionKeyFromPrivate(t *testing.T) {
	k, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.EncryptionKeyFromPrivate(k.Private[:])
	if err != nil {
		t.Fatal(err)
	}
	if got != k {
		t.Fatal("public key not rebuilt from private key")
	}
	if _, err := protocol.EncryptionKeyFromPrivate(k.Private[:31]); err == nil {
		t.Fatal("31-byte private key accepted")
	}
}

// ---- receipts ----

func TestReceipts(t *testing.T) {
	alice, bob, carol := newNode(t, "FR"), newNode(t, "DE"), newNode(t, "NL")
	env := seal(t, alice, bob, testNow, []byte("payload"))
	other := seal(t, alice, bob, testNow, []byte("payload"))
	receivedAt := testNow.Add(3 * time.Second)

	r, err := protocol.SignReceipt(bob.key, env, receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseReceipt(r.Raw)
	if err != nil {
		t.Fatalf("ParseReceipt: %v", err)
	}
	if parsed.MessageID != env.MessageID || parsed.MessageHash != env.Hash() || parsed.Receiver != bob.id || !parsed.ReceivedAt.Equal(receivedAt) {
		t.Fatalf("parsed receipt fields differ: %+v", parsed)
	}
	if err := parsed.Verify(env); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Also against the envelope as the sender re-reads it from storage.
	if err := parsed.Verify(mustParse(t, env.Raw)); err != nil {
		t.Fatalf("Verify against parsed envelope: %v", err)
	}

	byCarol, err := protocol.SignReceipt(carol.key, env, receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := mustParseReceipt(t, byCarol.Raw).Verify(env); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("receipt signed by non-recipient: err = %v, want ErrBadSignature", err)
	}
	if err := parsed.Verify(other); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("receipt for another envelope: err = %v, want ErrBadSignature", err)
	}
	// Same message ID but different bytes (e.g. a re-sealed copy).
	sameID, err := alice.sealer.Seal(env.Header, bob.enc.Public, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(sameID); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("receipt for a different envelope with the same ID: err = %v, want ErrBadSignature", err)
	}

	for i := range r.Raw {
		b := flip(r.Raw, i)
		pr, err := protocol.ParseReceipt(b)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("byte %d: parse err = %v, want ErrMalformed", i, err)
			}
			continue
		}
		if err := pr.Verify(env); !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("byte %d flipped: Verify err = %v, want ErrBadSignature", i, err)
		}
	}

	for name, b := range map[string][]byte{
		"empty":                   nil,
		"envelope bytes":          env.Raw,
		"truncated":               r.Raw[:len(r.Raw)-1],
		"trailing":                append(bytes.Clone(r.Raw), 1),
		"padded signature length": padSignatureLength(t, r.Raw),
	} {
		if _, err := protocol.ParseReceipt(b); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func mustParseReceipt(tb testing.TB, raw []byte) *protocol.Receipt {
	tb.Helper()
	r, err := protocol.ParseReceipt(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// ---- frames ----

func TestFrameRoundTrip(t *testing.T) {
	frames := []struct {
		t    protocol.FrameType
		body []byte
	}{
		{protocol.FrameEnvelope, []byte("envelope bytes")},
		{protocol.FramePing, nil},
		{protocol.FrameReceipt, bytes.Repeat([]byte{0xAB}, 70000)},
		{protocol.FrameReject, protocol.Reject{MessageID: "m", Code: "bad_signature"}.Marshal()},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := protocol.WriteFrame(&buf, f.t, f.body); err != nil {
			t.Fatal(err)
		}
	}
	want := 0
	for _, f := range frames {
		want += protocol.FrameHeaderSize + len(f.body)
	}
	if buf.Len() != want {
		t.Fatalf("wrote %d bytes, want %d", buf.Len(), want)
	}
	for i, f := range frames {
		typ, body, err := protocol.ReadFrame(&buf, protocol.MaxFrameSize)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if typ != f.t || !bytes.Equal(body, f.body) {
			t.Fatalf("frame %d: got type %d, %d bytes", i, typ, len(body))
		}
	}
	if _, _, err := protocol.ReadFrame(&buf, protocol.MaxFrameSize); err != io.EOF {
		t.Fatalf("after last frame: err = %v, want io.EOF", err)
	}
}

func TestReadFrameLimits(t *testing.T) {
	frameHeader := func(n uint32, typ byte) []byte {
		return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), typ}
	}

	// Declared length over the limit: refused after the 4-byte prefix,
	// without touching the body.
	const limit = 100
	body := bytes.Repeat([]byte("b"), limit)
	in := bytes.NewReader(append(frameHeader(limit+1, 1), body...))
	if _, _, err := protocol.ReadFrame(in, limit); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("over limit: err = %v, want ErrFrameTooLarge", err)
	}
	if read := int(in.Size()) - in.Len(); read != 4 {
		t.Fatalf("over limit: read %d bytes, want only the 4-byte length", read)
	}
	// A huge declared length must not allocate or wait for a body either.
	if _, _, err := protocol.ReadFrame(bytes.NewReader([]byte{0xFF, 0xFF, 0xFF, 0xFF}), protocol.MaxFrameSize); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("4 GiB frame: err = %v, want ErrFrameTooLarge", err)
	}

	// Exactly at the limit is fine.
	typ, got, err := protocol.ReadFrame(bytes.NewReader(append(frameHeader(limit, 7), body[:limit-1]...)), limit)
	if err != nil || typ != 7 || len(got) != limit-1 {
		t.Fatalf("at limit: type %d, %d bytes, err %v", typ, len(got), err)
	}

	if _, _, err := protocol.ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0, 1}), limit); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("zero length: err = %v, want ErrMalformed", err)
	}
	if _, _, err := protocol.ReadFrame(bytes.NewReader(append(frameHeader(10, 1), 1, 2)), limit); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, _, err := protocol.ReadFrame(bytes.NewReader([]byte{0, 0}), limit); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated length: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestWriteFrameLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := protocol.WriteFrame(&buf, protocol.FrameEnvelope, make([]byte, protocol.MaxFrameSize)); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("oversize body: err = %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("oversize frame wrote %d bytes", buf.Len())
	}
	// The largest allowed body round-trips at the default limit.
	big := make([]byte, protocol.MaxFrameSize-1)
	big[len(big)-1] = 0x5A
	if err := protocol.WriteFrame(&buf, protocol.FrameEnvelope, big); err != nil {
		t.Fatalf("largest body: %v", err)
	}
	typ, got, err := protocol.ReadFrame(&buf, protocol.MaxFrameSize)
	if err != nil || typ != protocol.FrameEnvelope || !bytes.Equal(got, big) {
		t.Fatalf("largest body round trip: err %v", err)
	}
}

func TestRejectRoundTrip(t *testing.T) {
	for _, rj := range []protocol.Reject{
		{},
		{MessageID: protocol.NewID(testNow), Code: "bad_signature", Permanent: true, Reason: "signature does not verify"},
		{MessageID: protocol.NewID(testNow), Code: "busy", Permanent: false, Reason: "réessayer plus tard — überlastet"},
	} {
		b := rj.Marshal()
		got, err := protocol.ParseReject(b)
		if err != nil {
			t.Fatalf("ParseReject(%+v): %v", rj, err)
		}
		if got != rj {
			t.Fatalf("round trip: got %+v, want %+v", got, rj)
		}
		if _, err := protocol.ParseReject(append(bytes.Clone(b), 0)); !errors.Is(err, protocol.ErrMalformed) {
			t.Fatalf("trailing byte: err = %v, want ErrMalformed", err)
		}
		if _, err := protocol.ParseReject(b[:len(b)-1]); !errors.Is(err, protocol.ErrMalformed) {
			t.Fatalf("truncated: err = %v, want ErrMalformed", err)
		}
	}
}

// ---- roster ----

func authorityKey(tb testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return pub, priv
}

func rosterJSON(tb testing.TB, r *protocol.Roster) string {
	tb.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestRosterSignVerify(t *testing.T) {
	pub, priv := authorityKey(t)
	fr, de, nl := newNode(t, "FR"), newNode(t, "DE"), newNode(t, "NL")
	r := newRoster(fr.member, de.member, nl.member)
	r.SortMembers()
	if r.Members[0].Country != "DE" || r.Members[2].Country != "NL" {
		t.Fatal("SortMembers did not sort by country")
	}

	doc, err := protocol.SignRoster(r, priv)
	if err != nil {
		t.Fatalf("SignRoster: %v", err)
	}
	got, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		t.Fatalf("VerifyRoster: %v", err)
	}
	// The document is plain indented JSON, so roster updates diff cleanly.
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		t.Fatalf("signed roster is not JSON: %v", err)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if indented.String()+"\n" != string(doc) {
		t.Fatalf("signed roster is not canonically indented:\n%s", doc)
	}
	if rosterJSON(t, got) != rosterJSON(t, r) {
		t.Fatalf("verified roster differs:\n%s\n%s", rosterJSON(t, got), rosterJSON(t, r))
	}
	m, ok := got.MemberByPeer(de.id)
	if !ok || m.Country != "DE" {
		t.Fatal("MemberByPeer did not find DE")
	}
	if _, ok := got.MemberByPeer(newNode(t, "XX").id); ok {
		t.Fatal("MemberByPeer found a non-member")
	}
	if m, ok := got.Member("NL"); !ok || m.PeerID != nl.member.PeerID {
		t.Fatal("Member(NL) not found")
	}
	if id, err := m.ID(); err != nil || id != de.id {
		t.Fatalf("Member.ID = %s, %v", id, err)
	}
	if k, err := m.EncryptionPublic(); err != nil || k != de.enc.Public {
		t.Fatalf("Member.EncryptionPublic: %v", err)
	}
	if addrs, err := m.Multiaddrs(); err != nil || len(addrs) != 2 {
		t.Fatalf("Member.Multiaddrs: %v", err)
	}

	// Tampering with the signed content.
	for _, tamper := range []struct{ from, to string }{
		{`"serial": 7`, `"serial": 8`},
		{`"country": "FR"`, `"country": "FX"`},
		{de.member.EncryptionKey, nl.member.EncryptionKey},
	} {
		bad := bytes.Replace(doc, []byte(tamper.from), []byte(tamper.to), 1)
		if bytes.Equal(bad, doc) {
			t.Fatalf("tamper %q not applied", tamper.from)
		}
		if _, err := protocol.VerifyRoster(bad, pub); !errors.Is(err, protocol.ErrRosterSignature) {
			t.Fatalf("tamper %q: err = %v, want ErrRosterSignature", tamper.from, err)
		}
	}
	// A flipped byte inside the signature.
	var sr protocol.SignedRoster
	if err := json.Unmarshal(doc, &sr); err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(sr.Signature)
	sig[10] ^= 1
	sr.Signature = base64.StdEncoding.EncodeToString(sig)
	badSig, _ := json.Marshal(sr)
	if _, err := protocol.VerifyRoster(badSig, pub); !errors.Is(err, protocol.ErrRosterSignature) {
		t.Fatalf("flipped signature: err = %v, want ErrRosterSignature", err)
	}

	otherPub, _ := authorityKey(t)
	if _, err := protocol.VerifyRoster(doc, otherPub); !errors.Is(err, protocol.ErrRosterSignature) {
		t.Fatalf("wrong authority: err = %v, want ErrRosterSignature", err)
	}
	if _, err := protocol.VerifyRoster(doc, nil); !errors.Is(err, protocol.ErrRosterSignature) {
		t.Fatalf("no authority key: err = %v, want ErrRosterSignature", err)
	}

	for name, b := range map[string]string{
		"empty":         ``,
		"not json":      `roster`,
		"no signature":  `{"roster":{}}`,
		"no roster":     `{"signature":"AAAA"}`,
		"unknown field": strings.Replace(string(doc), `"signature"`, `"comment":"x","signature"`, 1),
		"bad base64":    `{"roster":{},"signature":"!!"}`,
	} {
		if _, err := protocol.VerifyRoster([]byte(b), pub); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	huge := make([]byte, protocol.MaxRosterSize+1)
	if _, err := protocol.VerifyRoster(huge, pub); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Errorf("oversize roster: err = %v, want ErrFrameTooLarge", err)
	}
}

// signRaw signs a roster body the way the authority does, without the
// validation SignRoster performs, to test that VerifyRoster validates too.
func signRaw(tb testing.TB, body []byte, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	sig := ed25519.Sign(priv, append([]byte("vigil/roster/v1\x00"), body...))
	doc, err := json.Marshal(protocol.SignedRoster{Roster: body, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func TestVerifyRosterValidatesSignedContent(t *testing.T) {
	pub, priv := authorityKey(t)
	fr := newNode(t, "FR")
	dup := newRoster(fr.member, fr.member)
	body, err := json.Marshal(dup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.VerifyRoster(signRaw(t, body, priv), pub); !errors.Is(err, protocol.ErrRosterInvalid) {
		t.Fatalf("signed but invalid roster: err = %v, want ErrRosterInvalid", err)
	}
	// A correctly signed body with an unknown field is malformed.
	good, _ := json.Marshal(newRoster(fr.member))
	extra := bytes.Replace(good, []byte(`"serial"`), []byte(`"extra":1,"serial"`), 1)
	if _, err := protocol.VerifyRoster(signRaw(t, extra, priv), pub); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("unknown roster field: err = %v, want ErrMalformed", err)
	}
	// The same body signed raw verifies: the wire format is what SignRoster makes.
	if _, err := protocol.VerifyRoster(signRaw(t, good, priv), pub); err != nil {
		t.Fatalf("raw-signed valid roster: %v", err)
	}
}

func TestSignRosterRejectsInvalid(t *testing.T) {
	_, priv := authorityKey(t)
	fr, de := newNode(t, "FR"), newNode(t, "DE")
	cases := []struct {
		name   string
		mutate func(r *protocol.Roster)
		field  string
	}{
		{"duplicate country", func(r *protocol.Roster) { r.Members[1].Country = "FR" }, "members[1].country"},
		{"lower-case country", func(r *protocol.Roster) { r.Members[0].Country = "fr" }, "members[0].country"},
		{"bad peer id", func(r *protocol.Roster) { r.Members[1].PeerID = "12D3KooWnotapeerid" }, "members[1].peer_id"},
		{"duplicate peer id", func(r *protocol.Roster) { r.Members[1].PeerID = r.Members[0].PeerID }, "members[1].peer_id"},
		{"bad encryption key", func(r *protocol.Roster) {
			r.Members[0].EncryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 31))
		}, "members[0].encryption_key"},
		{"encryption key not base64", func(r *protocol.Roster) { r.Members[0].EncryptionKey = "%%%" }, "members[0].encryption_key"},
		{"bad previous key", func(r *protocol.Roster) { r.Members[1].PreviousEncryptionKey = "AAAA" }, "members[1].previous_encryption_key"},
		{"bad address", func(r *protocol.Roster) { r.Members[0].Addrs = []string{"203.0.113.1:4001"} }, "members[0].addrs"},
		{"no organisation", func(r *protocol.Roster) { r.Members[0].Organisation = " " }, "members[0].organisation"},
		{"no time zone", func(r *protocol.Roster) { r.Members[1].TimeZone = "" }, "members[1].time_zone"},
		{"serial zero", func(r *protocol.Roster) { r.Serial = 0 }, "serial"},
		{"no valid_until", func(r *protocol.Roster) { r.ValidUntil = time.Time{} }, "valid_until"},
	}
	for _, c := range cases {
		r := newRoster(fr.member, de.member)
		c.mutate(r)
		doc, err := protocol.SignRoster(r, priv)
		if !errors.Is(err, protocol.ErrRosterInvalid) {
			t.Errorf("%s: err = %v, want ErrRosterInvalid", c.name, err)
			continue
		}
		if doc != nil {
			t.Errorf("%s: document returned with error", c.name)
		}
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %q does not name %s", c.name, err, c.field)
		}
	}
}

func TestAcceptRoster(t *testing.T) {
	current := newRoster()
	at := func(serial uint64, validUntil time.Time) *protocol.Roster {
		r := newRoster()
		r.Serial, r.ValidUntil = serial, validUntil
		return r
	}
	future := testNow.Add(time.Hour)
	cases := []struct {
		name    string
		current *protocol.Roster
		cand    *protocol.Roster
		want    error
	}{
		{"newer", current, at(8, future), nil},
		{"much newer", current, at(1000, future), nil},
		{"first roster", nil, at(1, future), nil},
		{"same serial", current, at(7, future), protocol.ErrRosterStale},
		{"older serial", current, at(6, future), protocol.ErrRosterStale},
		{"expired", current, at(8, testNow.Add(-time.Second)), protocol.ErrRosterExpired},
		{"expires now", current, at(8, testNow), protocol.ErrRosterExpired},
		{"first roster expired", nil, at(1, testNow.Add(-time.Hour)), protocol.ErrRosterExpired},
	}
	for _, c := range cases {
		err := protocol.AcceptRoster(c.current, c.cand, testNow)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestMemberHasEncryptionKey(t *testing.T) {
	cur, _ := protocol.GenerateEncryptionKey()
	prev, _ := protocol.GenerateEncryptionKey()
	other, _ := protocol.GenerateEncryptionKey()
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	m := protocol.Member{EncryptionKey: protocol.EncodeKey(cur.Public)}
	if !m.HasEncryptionKey(cur.Public, now) {
		t.Fatal("current key not recognised")
	}
	if m.HasEncryptionKey(prev.Public, now) || m.HasEncryptionKey([32]byte{}, now) {
		t.Fatal("unlisted key recognised")
	}
	m.PreviousEncryptionKey = protocol.EncodeKey(prev.Public)
	// A previous key without an end date is never accepted (issue 9 item
	// 11): it used to stay valid for ever.
	if !m.HasEncryptionKey(cur.Public, now) || m.HasEncryptionKey(prev.Public, now) {
		t.Fatal("current key not recognised, or previous key without previous_key_until accepted")
	}
	if m.HasEncryptionKey(other.Public, now) {
		t.Fatal("unrelated key recognised")
	}
	until := now.Add(time.Hour)
	m.PreviousKeyUntil = &until
	if !m.HasEncryptionKey(prev.Public, now.Add(59*time.Minute)) {
		t.Fatal("previous key refused inside its grace period")
	}
	if m.HasEncryptionKey(prev.Public, until) || !m.HasEncryptionKey(cur.Public, until.Add(time.Hour)) {
		t.Fatal("previous key accepted after its grace period, or current key refused")
	}
	m.EncryptionKey = "not base64"
	if m.HasEncryptionKey(cur.Public, now) || !m.HasEncryptionKey(prev.Public, now) {
		t.Fatal("undecodable current key should match nothing, previous key still should")
	}
}

func TestParseAuthorityKey(t *testing.T) {
	pub, _ := authorityKey(t)
	got, err := protocol.ParseAuthorityKey(" " + base64.StdEncoding.EncodeToString(pub) + "\n")
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParseAuthorityKey: %v", err)
	}
	for _, s := range []string{"", "AAAA", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 33))} {
		if _, err := protocol.ParseAuthorityKey(s); err == nil {
			t.Errorf("ParseAuthorityKey(%q) succeeded", s)
		}
	}
}

// ---- requests ----

const examplePath = "../configs/examples/preservation.json"

func readExample(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestExampleRequestIsValid(t *testing.T) {
	req, err := protocol.ParseRequest(readExample(t))
	if err != nil {
		t.Fatalf("example request: %v", err)
	}
	p, ok := req.(*protocol.PreservationRequest)
	if !ok {
		t.Fatalf("ParseRequest returned %T", req)
	}
	if req.RequestKind() != protocol.KindPreservation || req.Recipient() != "DE" {
		t.Fatalf("kind %s to %s", req.RequestKind(), req.Recipient())
	}
	if p.RequestingAuthority.TimeZone != "Europe/Paris" || p.Safeguards.HandlingCode != "H2" || p.PeriodDays != 90 {
		t.Fatal("example lost its time zone, handling code or period")
	}
	if p.MLAToFollow == nil || !*p.MLAToFollow || p.Confidential == nil || !*p.Confidential || p.NoUserNotice == nil || !*p.NoUserNotice {
		t.Fatal("example flags not all true")
	}
	var sawIP, sawAccount bool
	for _, id := range p.Identifiers {
		if _, off := id.From.Zone(); off != 0 {
			t.Fatalf("identifier %s not in UTC", id.Value)
		}
		switch id.Type {
		case "ip":
			sawIP = !id.To.IsZero() && id.To.After(id.From)
		case "account":
			sawAccount = true
		}
	}
	if !sawIP || !sawAccount {
		t.Fatal("example should carry an IP with a time range and an account")
	}
}

// mutateExample applies edit to the example request as generic JSON and
// returns the re-encoded document.
func mutateExample(tb testing.TB, edit func(doc map[string]any)) []byte {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readExample(tb), &doc); err != nil {
		tb.Fatal(err)
	}
	edit(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func obj(v any) map[string]any { return v.(map[string]any) }

func firstIdentifier(doc map[string]any) map[string]any {
	return obj(doc["identifiers"].([]any)[0])
}

func validationFields(tb testing.TB, err error) []string {
	tb.Helper()
	var ve *protocol.ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("err = %v (%T), want *ValidationError", err, err)
	}
	var fields []string
	for _, f := range ve.Fields {
		if f.Message == "" {
			tb.Errorf("field %s has no message", f.Field)
		}
		fields = append(fields, f.Field)
	}
	return fields
}

func TestRequestValidationNamesFields(t *testing.T) {
	cases := []struct {
		name string
		edit func(doc map[string]any)
		want []string
	}{
		{"missing mandatory fields", func(doc map[string]any) {
			delete(doc, "facts_summary")
			delete(firstIdentifier(doc), "from")
			delete(obj(doc["requesting_authority"]), "time_zone")
			delete(doc, "mla_to_follow")
		}, []string{"facts_summary", "identifiers[0].from", "mla_to_follow", "requesting_authority.time_zone"}},
		{"blank strings", func(doc map[string]any) {
			doc["necessity"] = "   "
			obj(doc["offence"])["legal_provisions"] = ""
			obj(doc["safeguards"])["proportionality"] = "\n"
		}, []string{"necessity", "offence.legal_provisions", "safeguards.proportionality"}},
		{"mla not promised", func(doc map[string]any) { doc["mla_to_follow"] = false }, []string{"mla_to_follow"}},
		{"confidentiality unstated", func(doc map[string]any) {
			delete(doc, "confidential")
			doc["no_user_notification"] = nil
		}, []string{"confidential", "no_user_notification"}},
		{"non-UTC from", func(doc map[string]any) { firstIdentifier(doc)["from"] = "2026-11-22T00:40:00+01:00" }, []string{"identifiers[0].from"}},
		{"non-UTC to", func(doc map[string]any) { firstIdentifier(doc)["to"] = "2026-11-22T05:15:00+01:00" }, []string{"identifiers[0].to"}},
		{"to before from", func(doc map[string]any) { firstIdentifier(doc)["to"] = "2026-11-21T23:39:59Z" }, []string{"identifiers[0].to"}},
		{"not an IP", func(doc map[string]any) { firstIdentifier(doc)["value"] = "203.0.113.300" }, []string{"identifiers[0].value"}},
		{"IP prefix accepted", func(doc map[string]any) { firstIdentifier(doc)["value"] = "203.0.113.0/24" }, nil},
		{"bad identifier type", func(doc map[string]any) { firstIdentifier(doc)["type"] = "imei" }, []string{"identifiers[0].type"}},
		{"no identifiers", func(doc map[string]any) { doc["identifiers"] = []any{} }, []string{"identifiers"}},
		{"bad data category", func(doc map[string]any) { doc["data_categories"] = []any{"subscriber", "metadata"} }, []string{"data_categories[1]"}},
		{"no data categories", func(doc map[string]any) { delete(doc, "data_categories") }, []string{"data_categories"}},
		// Budapest Art. 29(2)(d): "any available information"; see TestCustodianOptional.
		{"custodian address only", func(doc map[string]any) { doc["custodian"] = map[string]any{"address": "somewhere"} }, nil},
		{"period too short", func(doc map[string]any) { doc["preservation_period_days"] = 30 }, []string{"preservation_period_days"}},
		{"period over the technical bound", func(doc map[string]any) { doc["preservation_period_days"] = protocol.MaxPreservationDays + 1 }, []string{"preservation_period_days"}},
		{"bad handling code", func(doc map[string]any) { obj(doc["safeguards"])["handling_code"] = "H9" }, []string{"safeguards.handling_code"}},
		{"bad recipient", func(doc map[string]any) { doc["to"] = "Germany" }, []string{"to"}},
		{"bad date", func(doc map[string]any) { doc["date"] = "27/11/2026" }, []string{"date"}},
		{"bad request type", func(doc map[string]any) { doc["request_type"] = "urgent" }, []string{"request_type"}},
		{"extension without previous reference", func(doc map[string]any) { doc["request_type"] = "extension" }, []string{"previous_reference"}},
		{"extension with previous reference", func(doc map[string]any) {
			doc["request_type"] = "extension"
			doc["previous_reference"] = "OFAC-2026-PC-00388"
		}, nil},
		{"bad time zone", func(doc map[string]any) { obj(doc["requesting_authority"])["time_zone"] = "Paris" }, []string{"requesting_authority.time_zone"}},
		{"UTC time zone", func(doc map[string]any) { obj(doc["requesting_authority"])["time_zone"] = "UTC" }, nil},
		{"contact incomplete", func(doc map[string]any) {
			c := obj(doc["confirmation_contact"])
			delete(c, "person")
			c["email"] = "julien.moreau"
			delete(obj(doc["requesting_authority"]), "office_hours")
		}, []string{"confirmation_contact.email", "confirmation_contact.person", "requesting_authority.office_hours"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := protocol.ParseRequest(mutateExample(t, c.edit))
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if req == nil {
				t.Fatal("ParseRequest returned no request with a validation error")
			}
			got := validationFields(t, err)
			sort.Strings(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("fields = %q, want %q (%v)", got, c.want, err)
			}
			for _, f := range c.want {
				if !strings.Contains(err.Error(), f+": ") {
					t.Fatalf("error text %q does not name %s", err, f)
				}
			}
		})
	}
}

func TestParseRequestDecodeErrors(t *testing.T) {
	example := readExample(t)
	cases := []struct {
		name string
		doc  []byte
		want string
	}{
		{"unknown top-level field", mutateExample(t, func(doc map[string]any) { doc["urgency"] = "high" }), "urgency"},
		{"unknown empty-named field", mutateExample(t, func(doc map[string]any) { doc[""] = "" }), `""`},
		{"unknown nested field", mutateExample(t, func(doc map[string]any) { obj(doc["requesting_authority"])["telex"] = "+33" }), "telex"},
		{"unknown kind", mutateExample(t, func(doc map[string]any) { doc["kind"] = "production" }), "kind"},
		{"missing kind", mutateExample(t, func(doc map[string]any) { delete(doc, "kind") }), "kind"},
		{"wrong type", mutateExample(t, func(doc map[string]any) { doc["preservation_period_days"] = "90" }), "preservation_period_days"},
		{"not a time", mutateExample(t, func(doc map[string]any) { firstIdentifier(doc)["from"] = "yesterday evening" }), "(time)"},
		{"not JSON", []byte("kind: preservation"), "(body)"},
		{"empty", nil, "(body)"},
		{"JSON array", []byte(`[{"kind":"preservation"}]`), "(body)"},
		{"trailing object", append(bytes.Clone(example), []byte(`{"kind":"preservation"}`)...), "(body)"},
		{"trailing brace", append(bytes.Clone(example), '}'), "(body)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := protocol.ParseRequest(c.doc)
			if req != nil {
				t.Fatalf("decode failure returned a request (err %v)", err)
			}
			got := validationFields(t, err)
			if !slices.Equal(got, []string{c.want}) {
				t.Fatalf("fields = %q, want [%q] (%v)", got, c.want, err)
			}
		})
	}
	// Trailing whitespace is fine.
	if _, err := protocol.ParseRequest(append(bytes.Clone(example), " \n\t\n"...)); err != nil {
		t.Fatalf("trailing whitespace: %v", err)
	}
}

// ---- ids ----

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := protocol.NewID(base.Add(time.Duration(i) * time.Millisecond))
		if !protocol.ValidID(id) {
			t.Fatalf("NewID produced invalid %q", id)
		}
		if id != strings.ToLower(id) {
			t.Fatalf("NewID produced upper case %q", id)
		}
		if id[12] != '7' || !strings.ContainsRune("89ab", rune(id[16])) {
			t.Fatalf("%q is not UUIDv7 layout", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids not time-ordered: %q after %q", id, prev)
		}
		prev = id
	}
	// The first 48 bits are the Unix time in milliseconds.
	id := protocol.NewID(base)
	b, _ := hex.DecodeString(id[:12])
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	if ms != base.UnixMilli() {
		t.Fatalf("timestamp %d, want %d", ms, base.UnixMilli())
	}
	// Same millisecond: still distinct.
	if protocol.NewID(base) == protocol.NewID(base) {
		t.Fatal("two ids in the same millisecond collide")
	}
}

func TestValidID(t *testing.T) {
	for _, s := range []string{
		"",
		"0123456789abcdef0123456789abcde",   // 31
		"0123456789abcdef0123456789abcdef0", // 33
		"0123456789abcdef0123456789abcdeg",
		"0123456789abcdef-123456789abcdef",
		"01234567-89ab-7def-8123-456789abcdef",
	} {
		if protocol.ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
	if !protocol.ValidID("0123456789abcdef0123456789abcdef") {
		t.Error("ValidID rejected 32 hex characters")
	}
}

// TestSealWithNonceIsDeterministic: the same header, payload and nonce
// give the same bytes (so a resubmission lands on the message a receiver
// holds), which open like any envelope; a random-nonce Seal never repeats.
func TestSealWithNonceIsDeterministic(t *testing.T) {
	alice, bob := newNode(t, "FR"), newNode(t, "DE")
	roster := newRoster(alice.member, bob.member)
	payload := []byte(`{"kind":"preservation","to":"DE"}`)
	h := header(bob.id, testNow.Add(-time.Minute))
	var nonce [24]byte
	copy(nonce[:], "a nonce of 24 bytes.....")
	a, err := alice.sealer.SealWithNonce(h, bob.enc.Public, payload, nonce)
	if err != nil {
		t.Fatal(err)
	}
	b, err := alice.sealer.SealWithNonce(h, bob.enc.Public, payload, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Raw, b.Raw) {
		t.Fatal("same inputs sealed to different bytes")
	}
	opened, err := bob.sealer.Open(a.Raw, roster, testNow, protocol.DefaultClockPolicy)
	if err != nil || !bytes.Equal(opened.Payload, payload) {
		t.Fatalf("open deterministic envelope: %v", err)
	}
	nonce[0] ^= 1
	if c, err := alice.sealer.SealWithNonce(h, bob.enc.Public, payload, nonce); err != nil || bytes.Equal(c.Raw, a.Raw) {
		t.Fatalf("another nonce sealed to the same bytes (err %v)", err)
	}
	r1, err1 := alice.sealer.Seal(h, bob.enc.Public, payload)
	r2, err2 := alice.sealer.Seal(h, bob.enc.Public, payload)
	if err1 != nil || err2 != nil || bytes.Equal(r1.Raw, r2.Raw) || r1.Nonce == r2.Nonce {
		t.Fatal("Seal repeated its bytes: its nonce is not random")
	}
}
