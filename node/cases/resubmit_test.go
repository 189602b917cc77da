package cases_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// senderKeys are what survives a power cut at the sender: its keys, not
// its store.
type senderKeys struct {
	own   *protocol.Sealer
	deID  peer.ID
	deEnc protocol.EncryptionKey
	idKey []byte
}

func newSenderKeys(t *testing.T) senderKeys {
	own, _, _ := sealer(t)
	_, deID, deEnc := sealer(t)
	return senderKeys{own: own, deID: deID, deEnc: deEnc, idKey: bytes.Repeat([]byte{7}, 32)}
}

// node is a sender with these keys on a fresh store, its clock at now.
func (k senderKeys) node(t *testing.T, now time.Time) *idemNode {
	t.Helper()
	return k.nodeWith(t, now, k.own)
}

// nodeWith is node sealing through sealer.
func (k senderKeys) nodeWith(t *testing.T, now time.Time, sealer cases.Sealer) *idemNode {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := oneMember{k.deID, protocol.Member{Country: "DE", PeerID: k.deID.String(), Treaties: protocolParties,
		EncryptionKey: base64.StdEncoding.EncodeToString(k.deEnc.Public[:])}, protocol.Member{Country: "FR", Treaties: protocolParties}}
	n := &idemNode{st: st, now: now}
	n.svc = cases.New(cases.Options{Store: st, Sealer: sealer, Directory: dir, Outbox: n, Publisher: n,
		Alerts: noAlerts{}, Quota: admission.New(admission.Options{}), Country: "FR", Now: n.clock,
		Deadlines: config.DefaultConfig().Deadlines, MaxPayload: config.DefaultConfig().Admission.MaxPayload, IdentifierKey: k.idKey})
	return n
}

// envelope is the stored outgoing envelope of a submission.
func (n *idemNode) envelope(t *testing.T, sub *cases.Submission) *protocol.Envelope {
	t.Helper()
	var m *store.Message
	if err := n.st.View(func(tx *store.ReadTx) error {
		var err error
		m, err = tx.Message(sub.MessageID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// uuidV7 is a UUIDv7 key made at t, dashed as RFC 9562 writes it.
func uuidV7(t time.Time) string {
	h := protocol.NewID(t)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TestResubmissionSealsTheSameEnvelope is the sender's half of surviving
// a power cut after the send (resubmit.go): a sender that lost its store
// and is sent the same body with the same UUIDv7 key seals the same
// bytes, so the receiver's stored receipt answers the retry. Another
// body under the key gets the same IDs but another nonce, hence another
// envelope the receiver refuses as reusing the ID.
func TestResubmissionSealsTheSameEnvelope(t *testing.T) {
	keys := newSenderKeys(t)
	first := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	key := uuidV7(first.Add(-2 * time.Second))
	doc := request(t, "FR-RESUBMIT-1")

	a := keys.node(t, first)
	subA := a.submit(t, "op", doc, key)
	if a.queued != 1 {
		t.Fatalf("worker told %d times, want once", a.queued)
	}
	envA := a.envelope(t, subA)
	if !envA.CreatedAt.Equal(first.Add(-2 * time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("created at %s, want the key's time", envA.CreatedAt)
	}
	if subA.CaseID[:12] != protocol.NewID(envA.CreatedAt)[:12] || !protocol.ValidID(subA.MessageID) {
		t.Fatalf("derived IDs %s/%s are not time-ordered IDs of the key's time", subA.CaseID, subA.MessageID)
	}

	// The power cut took the sender's store; the operator retries later.
	b := keys.node(t, first.Add(20*time.Minute))
	subB := b.submit(t, "op", doc, key)
	if subB.Replayed || subB.CaseID != subA.CaseID || subB.MessageID != subA.MessageID {
		t.Fatalf("retry is %+v, want case %s message %s", subB, subA.CaseID, subA.MessageID)
	}
	if envB := b.envelope(t, subB); !bytes.Equal(envB.Raw, envA.Raw) {
		t.Fatal("the retry sealed other bytes: the receiver would refuse it as reusing the ID")
	}

	c := keys.node(t, first.Add(20*time.Minute))
	subC := c.submit(t, "op", request(t, "FR-RESUBMIT-CHANGED"), key)
	envC := c.envelope(t, subC)
	if subC.MessageID != subA.MessageID || envC.Nonce == envA.Nonce || bytes.Equal(envC.Raw, envA.Raw) {
		t.Fatal("another body under the key must keep the IDs and change the nonce")
	}

	// A UUIDv7 written as 32 hex digits is one too (another key, though:
	// keys compare as strings).
	hexKey := protocol.NewID(first)
	if x, y := keys.node(t, first).submit(t, "op", doc, hexKey), keys.node(t, first).submit(t, "op", doc, hexKey); x.MessageID != y.MessageID {
		t.Error("a 32-hex UUIDv7 key did not take the deterministic path")
	}
	// What takes the ordinary path: random IDs each time.
	for name, k := range map[string]string{
		"not a UUIDv7":    "plain-key-1",
		"UUIDv4":          "0d6f0c52-8a43-4e9b-9d55-3a1f2b6c7d8e",
		"older than 24 h": uuidV7(first.Add(-25 * time.Hour)),
		"from the future": uuidV7(first.Add(2 * time.Minute)),
	} {
		x := keys.node(t, first).submit(t, "op", doc, k)
		y := keys.node(t, first).submit(t, "op", doc, k)
		if x.MessageID == y.MessageID || x.CaseID == y.CaseID {
			t.Errorf("%s: two fresh senders derived the same IDs", name)
		}
	}
	if other := keys.node(t, first).submit(t, "supervisor", doc, key); other.CaseID == subA.CaseID {
		t.Error("another actor's submission under the same key got the same case")
	}
}

// TestResubmissionNeverOverwritesACase: if a key's record is gone but
// its request is not (the record pruned early), the derived IDs are
// taken: the submission is refused, and the stored case is untouched.
func TestResubmissionNeverOverwritesACase(t *testing.T) {
	keys := newSenderKeys(t)
	now := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	n := keys.node(t, now)
	key := uuidV7(now)
	sub := n.submit(t, "op", request(t, "FR-KEEP"), key)
	if err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.DeleteIdempotencyBefore(now.Add(time.Hour), 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err := n.svc.Submit(context.Background(), "op", request(t, "FR-OTHER"), cases.WithIdempotencyKey(key))
	if !errors.Is(err, cases.ErrIdempotencyMismatch) {
		t.Fatalf("submit over a taken case: %v, want ErrIdempotencyMismatch", err)
	}
	var c *store.Case
	if err := n.st.View(func(tx *store.ReadTx) error {
		var err error
		c, err = tx.Case(sub.CaseID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if c.Reference != "FR-KEEP" {
		t.Fatalf("case reference is now %q: the case was overwritten", c.Reference)
	}
	if cs, submitted := n.stored(t); cs != 1 || submitted != 1 {
		t.Fatalf("%d cases, %d submissions stored; want 1 and 1", cs, submitted)
	}
}
