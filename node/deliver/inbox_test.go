package deliver_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// seal seals payload from `from` to `to` with the given header fields.
func seal(t *testing.T, sealer *protocol.Sealer, to *party, h protocol.Header, payload []byte) *protocol.Envelope {
	t.Helper()
	if h.MessageID == "" {
		h.MessageID = protocol.NewID(time.Now())
	}
	if h.CaseID == "" {
		h.CaseID = protocol.NewID(time.Now())
	}
	if h.Type == "" {
		h.Type = protocol.TypeRequest
	}
	if h.Recipient == "" {
		h.Recipient = to.id
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now().UTC()
	}
	env, err := sealer.Seal(h, to.enc.Public, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// exchange sends one envelope frame on s and reads the answer.
func exchange(t *testing.T, s network.Stream, raw []byte) (protocol.FrameType, []byte) {
	t.Helper()
	if err := transport.WriteFrame(s, protocol.FrameEnvelope, raw); err != nil {
		t.Fatal(err)
	}
	ft, body, release, err := transport.ReadFrame(s, protocol.MaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return ft, append([]byte(nil), body...)
}

func wantReject(t *testing.T, ft protocol.FrameType, body []byte, code string, permanent bool) {
	t.Helper()
	if ft != protocol.FrameReject {
		t.Fatalf("answer is frame %d, want a rejection %s", ft, code)
	}
	rj, err := protocol.ParseReject(body)
	if err != nil {
		t.Fatal(err)
	}
	if rj.Code != code || rj.Permanent != permanent {
		t.Fatalf("rejection %s (permanent %v: %s), want %s (permanent %v)", rj.Code, rj.Permanent, rj.Reason, code, permanent)
	}
}

func incoming(t *testing.T, p *party) []*store.Message {
	t.Helper()
	var out []*store.Message
	if err := p.store.View(func(tx *store.ReadTx) error {
		cs, err := tx.Cases(0)
		if err != nil {
			return err
		}
		for _, c := range cs {
			for _, id := range c.MessageIDs {
				m, err := tx.MessageMeta(id)
				if err != nil {
					return err
				}
				out = append(out, m)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInboxDuplicateAndReplay: the same envelope sent twice on a stream,
// then replayed on a new one, is answered with the first receipt each time
// and stored once.
func TestInboxDuplicateAndReplay(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	dir := rosterOf(fr, de)
	de.serveInbox(t, dir, admission.New(admission.Options{Limits: testLimits(nil)}))
	env := seal(t, fr.sealer, de, protocol.Header{}, emergencyTo(t, "DE"))

	s := openStream(t, fr, de)
	ft, first := exchange(t, s, env.Raw)
	if ft != protocol.FrameReceipt {
		rj, _ := protocol.ParseReject(first)
		t.Fatalf("first answer is frame %d, want a receipt: %+v", ft, rj)
	}
	rc, err := protocol.ParseReceipt(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Verify(env); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	if ft, again := exchange(t, s, env.Raw); ft != protocol.FrameReceipt || !bytes.Equal(again, first) {
		t.Fatal("duplicate on the same stream not answered with the original receipt")
	}
	s2 := openStream(t, fr, de)
	if ft, replay := exchange(t, s2, env.Raw); ft != protocol.FrameReceipt || !bytes.Equal(replay, first) {
		t.Fatal("replay on a new stream not answered with the original receipt")
	}
	msgs := incoming(t, de)
	if len(msgs) != 1 || msgs[0].ID != env.MessageID || msgs[0].State != store.StateReceived {
		t.Fatalf("stored %d messages, want the one envelope once: %+v", len(msgs), msgs)
	}
	de.pub.mu.Lock()
	defer de.pub.mu.Unlock()
	if len(de.pub.ids) != 1 || de.pub.ids[0] != env.CaseID {
		t.Fatalf("published %v, want the new case once", de.pub.ids)
	}
}

// TestInboxRejections: every refusal the inbox decides comes back with its
// code and whether the sender should stop retrying, and stores nothing.
func TestInboxRejections(t *testing.T) {
	fr, de, it, outsider := newParty(t, "FR"), newParty(t, "DE"), newParty(t, "IT"), newParty(t, "XX")
	dir := rosterOf(fr, de, it)
	adm := admission.New(admission.Options{Limits: testLimits(map[string]int{string(protocol.TypeAction): 64})})
	de.serveInbox(t, dir, adm)
	doc := emergencyTo(t, "DE")
	otherEnc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	staleKeys, err := protocol.NewSealer(fr.key, otherEnc) // FR's identity, an encryption key not in the roster
	if err != nil {
		t.Fatal(err)
	}
	accepted := seal(t, fr.sealer, de, protocol.Header{}, doc)
	sameID := seal(t, fr.sealer, de, protocol.Header{MessageID: accepted.MessageID}, emergencyTo(t, "DE")[:len(doc)-1])
	tampered := append([]byte(nil), seal(t, fr.sealer, de, protocol.Header{}, doc).Raw...)
	tampered[len(tampered)-1] ^= 0xff

	s := openStream(t, fr, de)
	if ft, _ := exchange(t, s, accepted.Raw); ft != protocol.FrameReceipt {
		t.Fatal("a valid envelope was not receipted")
	}
	cases := []struct {
		name      string
		from      *party
		raw       []byte
		code      string
		permanent bool
	}{
		{"stranger", outsider, seal(t, outsider.sealer, de, protocol.Header{}, doc).Raw, string(deliver.CodeUnknownSender), false},
		{"old", fr, seal(t, fr.sealer, de, protocol.Header{CreatedAt: time.Now().Add(-2 * testClock.MaxAge)}, doc).Raw, string(deliver.CodeTooOld), true},
		{"future", fr, seal(t, fr.sealer, de, protocol.Header{CreatedAt: time.Now().Add(2 * testClock.MaxFutureSkew)}, doc).Raw, string(deliver.CodeClockSkew), false},
		{"tampered", fr, tampered, string(deliver.CodeBadSignature), true},
		{"for another member", fr, seal(t, fr.sealer, de, protocol.Header{Recipient: it.id}, doc).Raw, string(deliver.CodeWrongRecipient), true},
		{"unlisted sender key", fr, seal(t, staleKeys, de, protocol.Header{}, doc).Raw, string(deliver.CodeDecryptFailed), true},
		{"garbage", fr, []byte("not an envelope"), string(deliver.CodeMalformed), true},
		{"relayed", it, seal(t, fr.sealer, de, protocol.Header{}, doc).Raw, string(deliver.CodeSenderMismatch), true},
		{"reused id", fr, sameID.Raw, string(deliver.CodeDuplicateID), true},
		{"over the type's cap", fr, seal(t, fr.sealer, de, protocol.Header{Type: protocol.TypeAction}, bytes.Repeat([]byte("x"), 200)).Raw, admission.CodeTooLarge, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ft, body := exchange(t, openStream(t, c.from, de), c.raw)
			wantReject(t, ft, body, c.code, c.permanent)
		})
	}
	t.Run("quarantined", func(t *testing.T) {
		adm.Quarantine("FR", "test")
		defer adm.Release("FR")
		ft, body := exchange(t, s, seal(t, fr.sealer, de, protocol.Header{}, doc).Raw)
		wantReject(t, ft, body, admission.CodeQuarantined, false)
	})
	if n := len(incoming(t, de)); n != 1 {
		t.Fatalf("%d messages stored, want only the accepted one", n)
	}
	t.Run("store failure", func(t *testing.T) {
		de.store.Close()
		ft, body := exchange(t, s, seal(t, fr.sealer, de, protocol.Header{}, doc).Raw)
		wantReject(t, ft, body, string(deliver.CodeStoreFailure), false)
	})
}
