package cases_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// idemNode is a Service on a real store with a clock the test moves and
// an outbox that counts what it is told (safe for concurrent submits).
type idemNode struct {
	svc *cases.Service
	st  *store.Store

	mu     sync.Mutex
	now    time.Time
	queued int
}

func (n *idemNode) Notify(peer.ID, *store.Message) { n.mu.Lock(); n.queued++; n.mu.Unlock() }
func (n *idemNode) Case(string)                    {}

func (n *idemNode) clock() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

func (n *idemNode) advance(d time.Duration) {
	n.mu.Lock()
	n.now = n.now.Add(d)
	n.mu.Unlock()
}

// barrierSealer holds every Seal until want callers have arrived, so
// that concurrent submissions all pass Submit's read-only pre-check
// before any of them writes.
type barrierSealer struct {
	cases.Sealer
	wg *sync.WaitGroup
}

func (b barrierSealer) Seal(h protocol.Header, enc [32]byte, payload []byte) (*protocol.Envelope, error) {
	if b.wg != nil {
		b.wg.Done()
		b.wg.Wait()
	}
	return b.Sealer.Seal(h, enc, payload)
}

func (b barrierSealer) SealWithNonce(h protocol.Header, enc [32]byte, payload []byte, nonce [24]byte) (*protocol.Envelope, error) {
	if b.wg != nil {
		b.wg.Done()
		b.wg.Wait()
	}
	return b.Sealer.SealWithNonce(h, enc, payload, nonce)
}

func newIdemNode(t *testing.T, barrier *sync.WaitGroup) *idemNode {
	t.Helper()
	k := newSenderKeys(t)
	k.idKey = nil // random IDs: the ordinary path
	return k.nodeWith(t, time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC), barrierSealer{k.own, barrier})
}

// request is the example preservation request to DE with a reference of
// its own, so two references make two different bodies.
func request(t *testing.T, ref string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["to"], doc["reference"] = "DE", ref
	out, _ := json.Marshal(doc)
	return out
}

// stored counts the node's cases and its request.submitted audit records.
func (n *idemNode) stored(t *testing.T) (cs, submitted int) {
	t.Helper()
	if err := n.st.View(func(tx *store.ReadTx) error {
		all, err := tx.Cases(0)
		if err != nil {
			return err
		}
		recs, err := tx.Audit(0, 0)
		for _, r := range recs {
			if r.Action == "request.submitted" {
				submitted++
			}
		}
		cs = len(all)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cs, submitted
}

func (n *idemNode) submit(t *testing.T, actor string, doc []byte, key string) *cases.Submission {
	t.Helper()
	sub, err := n.svc.Submit(context.Background(), actor, doc, cases.WithIdempotencyKey(key))
	if err != nil {
		t.Fatalf("submit as %s with key %q: %v", actor, key, err)
	}
	return sub
}

// TestSubmitIdempotentReplay: the same key and body again return the
// original submission, marked replayed, and store, queue and audit
// nothing new; without a key every submit is a new request.
func TestSubmitIdempotentReplay(t *testing.T) {
	n := newIdemNode(t, nil)
	doc := request(t, "REF-1")
	first := n.submit(t, "user:alice", doc, "key-1")
	if first.Replayed {
		t.Fatal("a first submission is marked replayed")
	}
	for i := 0; i < 3; i++ {
		again := n.submit(t, "user:alice", doc, "key-1")
		if !again.Replayed || again.CaseID != first.CaseID || again.MessageID != first.MessageID {
			t.Fatalf("replay %d: %+v, want %+v replayed", i, again, first)
		}
	}
	if cs, sub := n.stored(t); cs != 1 || sub != 1 || n.queued != 1 {
		t.Fatalf("after replays: %d cases, %d submitted records, %d queued; want 1 each", cs, sub, n.queued)
	}
	var rec *store.Idempotency
	if err := n.st.View(func(tx *store.ReadTx) (err error) { rec, err = tx.Idempotency("user:alice", "key-1"); return err }); err != nil {
		t.Fatal(err)
	}
	if rec.CaseID != first.CaseID || rec.MessageID != first.MessageID || len(rec.BodyHash) != 64 || !rec.CreatedAt.Equal(n.clock()) {
		t.Fatalf("stored record %+v", rec)
	}
	// Without a key nothing is deduplicated.
	a, b := n.submit(t, "user:alice", doc, ""), n.submit(t, "user:alice", doc, "")
	if a.CaseID == b.CaseID || a.Replayed || b.Replayed {
		t.Fatalf("keyless submissions: %+v, %+v", a, b)
	}
}

// TestSubmitIdempotencyDifferentBody: a key used for one body is refused
// for another, by name, and nothing is stored for the refusal.
func TestSubmitIdempotencyDifferentBody(t *testing.T) {
	n := newIdemNode(t, nil)
	first := n.submit(t, "user:alice", request(t, "REF-1"), "key-1")
	_, err := n.svc.Submit(context.Background(), "user:alice", request(t, "REF-2"), cases.WithIdempotencyKey("key-1"))
	if !errors.Is(err, cases.ErrIdempotencyMismatch) || !strings.Contains(err.Error(), `Idempotency-Key "key-1" was used for a different request`) {
		t.Fatalf("another body with the key: %v", err)
	}
	if cs, sub := n.stored(t); cs != 1 || sub != 1 {
		t.Fatalf("after the refusal: %d cases, %d submitted records", cs, sub)
	}
	// The original is still what the key stands for.
	if again := n.submit(t, "user:alice", request(t, "REF-1"), "key-1"); again.CaseID != first.CaseID || !again.Replayed {
		t.Fatalf("replay after a refusal: %+v", again)
	}
}

func TestSubmitIdempotencyInvalidKey(t *testing.T) {
	n := newIdemNode(t, nil)
	for _, k := range []string{"has space", strings.Repeat("x", store.MaxIdempotencyKey+1), "ctl\x01", "é"} {
		if _, err := n.svc.Submit(context.Background(), "user:alice", request(t, "REF-1"), cases.WithIdempotencyKey(k)); !errors.Is(err, cases.ErrIdempotencyKey) {
			t.Errorf("key %q: %v, want ErrIdempotencyKey", k, err)
		}
	}
	if cs, _ := n.stored(t); cs != 0 {
		t.Fatalf("%d cases stored for invalid keys", cs)
	}
}

// TestSubmitIdempotencyPerActor: keys are scoped by actor: another user's
// identical key is a new request, and a mismatch is one user's only.
func TestSubmitIdempotencyPerActor(t *testing.T) {
	n := newIdemNode(t, nil)
	alice := n.submit(t, "user:alice", request(t, "REF-1"), "shared-key")
	bob := n.submit(t, "user:bob", request(t, "REF-1"), "shared-key")
	if bob.CaseID == alice.CaseID || bob.Replayed {
		t.Fatalf("bob's submission with alice's key: %+v (alice %+v)", bob, alice)
	}
	carol := n.submit(t, "user:carol", request(t, "REF-other"), "shared-key")
	if carol.Replayed {
		t.Fatal("carol's different body was refused or replayed for another user's key")
	}
	if a := n.submit(t, "user:alice", request(t, "REF-1"), "shared-key"); a.CaseID != alice.CaseID || !a.Replayed {
		t.Fatalf("alice's replay: %+v", a)
	}
	if cs, _ := n.stored(t); cs != 3 {
		t.Fatalf("%d cases, want 3", cs)
	}
}

// TestSubmitIdempotencyConcurrent: submissions with one key that all get
// past the read-only pre-check at once (the sealer holds them until all
// arrive) still store exactly one case: the check that counts is in the
// write transaction.
func TestSubmitIdempotencyConcurrent(t *testing.T) {
	const callers = 16
	var barrier sync.WaitGroup
	barrier.Add(callers)
	n := newIdemNode(t, &barrier)
	doc := request(t, "REF-1")
	subs := make([]*cases.Submission, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subs[i], errs[i] = n.svc.Submit(context.Background(), "user:alice", doc, cases.WithIdempotencyKey("same-key"))
		}()
	}
	wg.Wait()
	replayed := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if subs[i].CaseID != subs[0].CaseID || subs[i].MessageID != subs[0].MessageID {
			t.Fatalf("caller %d got %+v, caller 0 %+v", i, subs[i], subs[0])
		}
		if subs[i].Replayed {
			replayed++
		}
	}
	if replayed != callers-1 {
		t.Errorf("%d answers marked replayed, want %d", replayed, callers-1)
	}
	if cs, sub := n.stored(t); cs != 1 || sub != 1 || n.queued != 1 {
		t.Fatalf("%d concurrent submits stored %d cases, %d submitted records, queued %d; want 1 each", callers, cs, sub, n.queued)
	}
}

// TestSubmitIdempotencyExpiry: a key is remembered for
// cases.IdempotencyWindow on the service's clock; after that the same key
// opens a new request, and PruneIdempotency deletes expired records only.
func TestSubmitIdempotencyExpiry(t *testing.T) {
	n := newIdemNode(t, nil)
	doc := request(t, "REF-1")
	first := n.submit(t, "user:alice", doc, "old-key")
	n.advance(cases.IdempotencyWindow - time.Second)
	if again := n.submit(t, "user:alice", doc, "old-key"); again.CaseID != first.CaseID || !again.Replayed {
		t.Fatalf("just inside the window: %+v", again)
	}
	// Different body inside the window is still refused...
	if _, err := n.svc.Submit(context.Background(), "user:alice", request(t, "REF-2"), cases.WithIdempotencyKey("old-key")); !errors.Is(err, cases.ErrIdempotencyMismatch) {
		t.Fatalf("other body inside the window: %v", err)
	}
	n.advance(time.Second)
	// ...and after it the key is free again: a new request.
	renewed := n.submit(t, "user:alice", request(t, "REF-2"), "old-key")
	if renewed.CaseID == first.CaseID || renewed.Replayed {
		t.Fatalf("after the window: %+v", renewed)
	}
	if again := n.submit(t, "user:alice", request(t, "REF-2"), "old-key"); again.CaseID != renewed.CaseID || !again.Replayed {
		t.Fatalf("the renewed key does not replay: %+v", again)
	}

	// The sweep: one record made now, one older than the window.
	stale := n.submit(t, "user:bob", doc, "stale-key")
	n.advance(cases.IdempotencyWindow + time.Minute)
	fresh := n.submit(t, "user:bob", doc, "fresh-key")
	deleted, err := n.svc.PruneIdempotency(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 2 { // alice's renewed old-key and bob's stale-key
		t.Fatalf("PruneIdempotency deleted %d, want 2", deleted)
	}
	have := func(actor, key string) bool {
		err := n.st.View(func(tx *store.ReadTx) error { _, err := tx.Idempotency(actor, key); return err })
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if have("user:bob", "stale-key") || have("user:alice", "old-key") || !have("user:bob", "fresh-key") {
		t.Fatal("the sweep deleted the wrong records")
	}
	// The cases themselves are untouched.
	var c *store.Case
	if err := n.st.View(func(tx *store.ReadTx) (err error) { c, err = tx.Case(stale.CaseID); return err }); err != nil || c == nil {
		t.Fatalf("case of a swept key: %v", err)
	}
	if again := n.submit(t, "user:bob", doc, "fresh-key"); again.CaseID != fresh.CaseID || !again.Replayed {
		t.Fatalf("fresh key after the sweep: %+v", again)
	}
}
