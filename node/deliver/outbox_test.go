package deliver_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// flakyDialer opens real streams on a host, after failing the first
// `fail` attempts; it counts every attempt.
type flakyDialer struct {
	h     *party
	to    *party
	mu    sync.Mutex
	fail  int
	opens int
}

func (d *flakyDialer) Open(ctx context.Context, p peer.ID) (network.Stream, error) {
	d.mu.Lock()
	d.opens++
	failing := d.opens <= d.fail
	d.mu.Unlock()
	if failing {
		return nil, errors.New("connect: test dialer refuses")
	}
	if err := d.h.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: d.to.host.Addrs()}); err != nil {
		return nil, err
	}
	return d.h.host.NewStream(ctx, p, deliver.ID)
}

func (d *flakyDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opens
}

type allowAll struct{}

func (allowAll) Allowed(peer.ID) bool { return true }

// outboxPair is FR sending to DE: FR's write path and Outbox over the
// dialer, DE's Inbox with admission adm.
func outboxPair(t *testing.T, d *flakyDialer, fr, de *party, adm *admission.Controller) (*deliver.Outbox, chan string) {
	t.Helper()
	dir := rosterOf(fr, de)
	if adm == nil {
		adm = admission.New(admission.Options{Limits: testLimits(nil)})
	}
	de.serveInbox(t, dir, adm)
	ref := &outboxRef{}
	fr.useCases(dir, admission.New(admission.Options{Limits: testLimits(nil)}), ref)
	ctx, cancel := context.WithCancel(context.Background())
	delivered := make(chan string, 16)
	out := deliver.NewOutbox(ctx, deliver.OutboxOptions{Store: fr.store, Dialer: d, Members: dir, Self: fr.id,
		Gate: allowAll{}, Publisher: fr.pub,
		Delivery:    config.DeliveryConfig{MaxBackoff: 50 * time.Millisecond, Window: 8, ReceiptTimeout: time.Minute},
		OnDelivered: func(id string) { delivered <- id }})
	ref.o = out
	t.Cleanup(func() { cancel(); out.Wait() })
	out.Ensure(de.id)
	return out, delivered
}

func message(t *testing.T, p *party, id string) *store.Message {
	t.Helper()
	var m *store.Message
	if err := p.store.View(func(tx *store.ReadTx) error {
		var err error
		m, err = tx.Message(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func outboxLen(t *testing.T, p *party, to peer.ID) int {
	t.Helper()
	var n int
	if err := p.store.View(func(tx *store.ReadTx) error {
		ms, err := tx.Outbox(to.String())
		n = len(ms)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantDelivered checks a message is stored as delivered with a receipt
// that verifies, and has left the outbox.
func wantDelivered(t *testing.T, fr, de *party, id string) *store.Message {
	t.Helper()
	m := message(t, fr, id)
	if m.State != store.StateDelivered || m.LastError != "" {
		t.Fatalf("message %s is %s (%q), want delivered", id, m.State, m.LastError)
	}
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := protocol.ParseReceipt(m.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Verify(env); err != nil {
		t.Fatalf("stored receipt does not verify: %v", err)
	}
	if n := outboxLen(t, fr, de.id); n != 0 {
		t.Fatalf("outbox holds %d messages after delivery", n)
	}
	if got := message(t, de, id); got.State != store.StateReceived {
		t.Fatalf("receiver holds the message as %s", got.State)
	}
	return m
}

// TestOutboxDeliversWithReceipt: a submitted request is sent, the
// receiver's receipt verified and stored, the message taken out of the
// outbox.
func TestOutboxDeliversWithReceipt(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	d := &flakyDialer{h: fr, to: de}
	out, delivered := outboxPair(t, d, fr, de, nil)
	sub, err := fr.cases.Submit(context.Background(), "test", emergencyTo(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	if id := <-delivered; id != sub.MessageID {
		t.Fatalf("delivered %s, want %s", id, sub.MessageID)
	}
	m := wantDelivered(t, fr, de, sub.MessageID)
	if m.Attempts != 1 || out.InFlight(sub.MessageID) {
		t.Fatalf("attempts %d, in flight %v; want one attempt, settled", m.Attempts, out.InFlight(sub.MessageID))
	}
}

// TestOutboxBacksOffAfterFailedOpen: a failed open is recorded on the
// queued message and retried after a backoff, which then delivers.
func TestOutboxBacksOffAfterFailedOpen(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	d := &flakyDialer{h: fr, to: de, fail: 2}
	out, delivered := outboxPair(t, d, fr, de, nil)
	sub, err := fr.cases.Submit(context.Background(), "test", emergencyTo(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	<-delivered
	m := wantDelivered(t, fr, de, sub.MessageID)
	if d.count() != 3 || out.Attempts(de.id) < 3 {
		t.Fatalf("%d opens, %d sessions; want two refused opens, then one that delivered", d.count(), out.Attempts(de.id))
	}
	if m.Attempts != 3 { // two failures recorded, one delivery
		t.Fatalf("message records %d attempts, want 3", m.Attempts)
	}
}

// TestOutboxReconnectsAfterBrokenStream: the receiver resets the first
// stream after reading an envelope; the worker reopens and delivers.
func TestOutboxReconnectsAfterBrokenStream(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	d := &flakyDialer{h: fr, to: de}
	_, delivered := outboxPair(t, d, fr, de, nil)
	inbox := de.serveInbox(t, rosterOf(fr, de), admission.New(admission.Options{Limits: testLimits(nil)}))
	var once sync.Once
	de.host.SetStreamHandler(deliver.ID, func(s network.Stream) {
		broke := false
		once.Do(func() {
			buf := make([]byte, 1)
			s.Read(buf) // the envelope has started to arrive
			s.Reset()
			broke = true
		})
		if !broke {
			inbox.Handle(s)
		}
	})
	sub, err := fr.cases.Submit(context.Background(), "test", emergencyTo(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	<-delivered
	m := wantDelivered(t, fr, de, sub.MessageID)
	if d.count() != 2 || m.Attempts != 2 {
		t.Fatalf("%d opens, %d attempts recorded; want the broken stream, then a new one", d.count(), m.Attempts)
	}
}

// TestOutboxPermanentRejection: a permanent refusal is recorded, the
// message leaves the outbox and is not sent again.
func TestOutboxPermanentRejection(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	d := &flakyDialer{h: fr, to: de}
	strict := admission.New(admission.Options{Limits: testLimits(map[string]int{string(protocol.TypeRequest): 16})})
	out, _ := outboxPair(t, d, fr, de, strict)
	sub, err := fr.cases.Submit(context.Background(), "test", emergencyTo(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal to be recorded", func() bool { return message(t, fr, sub.MessageID).State == store.StateRejected })
	m := message(t, fr, sub.MessageID)
	if want := admission.CodeTooLarge + ": "; len(m.LastError) < len(want) || m.LastError[:len(want)] != want {
		t.Fatalf("last error %q, want the receiver's %s", m.LastError, admission.CodeTooLarge)
	}
	if n := outboxLen(t, fr, de.id); n != 0 {
		t.Fatalf("outbox still holds %d messages", n)
	}
	out.Stop(de.id)
	out.Connected(de.id)
	if d.count() != 1 {
		t.Fatalf("%d opens, want the one that was refused", d.count())
	}
	if got := incoming(t, de); len(got) != 0 {
		t.Fatalf("receiver stored %d messages", len(got))
	}
}
