package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/store"
)

// postKeyed posts a request with Idempotency-Key values (none if keys is
// empty) and returns the status, the answer's headers and its body.
func postKeyed(t *testing.T, c *client.Client, body []byte, keys ...string) (int, http.Header, []byte) {
	t.Helper()
	hdr := http.Header{}
	for _, k := range keys {
		hdr.Add("Idempotency-Key", k)
	}
	var raw json.RawMessage
	code, rh, err := c.DoHeader(context.Background(), http.MethodPost, "/api/v1/requests", hdr, body, &raw)
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		return ce.Status, rh, ce.Body
	case err != nil:
		t.Fatal(err)
	}
	return code, rh, raw
}

// outgoingAt counts a node's outgoing cases.
func (f *federation) outgoingAt(cc string) int { return len(f.casesAt(cc, store.Outgoing)) }

// casesAt is a node's cases in one direction by ID, with their message
// counts.
func (f *federation) casesAt(cc string, d store.Direction) map[string]int {
	f.t.Helper()
	out := map[string]int{}
	err := f.nodes[cc].Store().View(func(tx *store.ReadTx) error {
		all, err := tx.Cases(0)
		for _, c := range all {
			if c.Direction == d {
				out[c.ID] = len(c.MessageIDs)
			}
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// TestSubmitIdempotencyKeyAPI is issue 13 through the HTTP API of a real
// node: a malformed key is refused with 400, a repeat answers the original
// submission with Idempotent-Replayed, another body is refused with 422,
// keys are per user, concurrent repeats make one case, and a key is
// forgotten (and swept) after 24 hours on the node's clock.
func TestSubmitIdempotencyKeyAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	e := f.entry("FR")
	admin := client.New(e.API, client.WithToken(e.Token))
	doc := exampleRequest(t, "DE")

	t.Run("malformed keys are refused with 400 naming the header", func(t *testing.T) {
		for name, keys := range map[string][]string{
			"empty": {""}, "space": {"a b"}, "too long": {strings.Repeat("k", 129)}, "non-ASCII": {"clé"}, "twice": {"a", "b"},
		} {
			code, _, body := postKeyed(t, admin, doc, keys...)
			if code != http.StatusBadRequest || !strings.Contains(string(body), "Idempotency-Key") {
				t.Errorf("%s: HTTP %d %s", name, code, body)
			}
		}
		if n := f.outgoingAt("FR"); n != 0 {
			t.Fatalf("%d cases stored for refused keys", n)
		}
	})

	var first types.Submission
	t.Run("the same key and body answer the original submission", func(t *testing.T) {
		code, rh, body := postKeyed(t, admin, doc, "op-retry-1")
		if code != http.StatusCreated || rh.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: HTTP %d %v %s", code, rh, body)
		}
		json.Unmarshal(body, &first)
		for i := 0; i < 2; i++ {
			sub, err := admin.SubmitRequest(context.Background(), doc, "op-retry-1")
			if err != nil || sub.CaseID != first.CaseID || sub.MessageID != first.MessageID || !sub.Replayed {
				t.Fatalf("replay %d: %+v, %v; want %+v replayed", i, sub, err, first)
			}
		}
		code, rh, _ = postKeyed(t, admin, doc, "op-retry-1")
		if code != http.StatusCreated || rh.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: HTTP %d, Idempotent-Replayed %q", code, rh.Get("Idempotent-Replayed"))
		}
		if n := f.outgoingAt("FR"); n != 1 {
			t.Fatalf("%d cases at FR after replays, want 1", n)
		}
		f.waitDelivered("FR", first.CaseID)
	})

	t.Run("the same key with another body is refused with 422", func(t *testing.T) {
		var other map[string]any
		json.Unmarshal(doc, &other)
		other["reference"] = "OFAC-2026-PC-99999"
		b, _ := json.Marshal(other)
		code, _, body := postKeyed(t, admin, b, "op-retry-1")
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `Idempotency-Key \"op-retry-1\" was used for a different request`) {
			t.Fatalf("HTTP %d %s", code, body)
		}
		if n := f.outgoingAt("FR"); n != 1 {
			t.Fatalf("%d cases at FR after the refusal, want 1", n)
		}
	})

	t.Run("keys are scoped per user", func(t *testing.T) {
		f.addUser("FR", "alice", "operator", "alice-long-passphrase")
		s, code, _ := f.login("FR", "alice", "alice-long-passphrase")
		if code != http.StatusOK {
			t.Fatalf("login: HTTP %d", code)
		}
		code, rh, body := postKeyed(t, s.Client, doc, "op-retry-1")
		var sub types.Submission
		json.Unmarshal(body, &sub)
		if code != http.StatusCreated || rh.Get("Idempotent-Replayed") != "" || sub.CaseID == first.CaseID {
			t.Fatalf("alice with node-admin's key: HTTP %d %v %s", code, rh, body)
		}
		if code, rh, _ := postKeyed(t, s.Client, doc, "op-retry-1"); code != http.StatusCreated || rh.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("alice's replay: HTTP %d %v", code, rh)
		}
		if n := f.outgoingAt("FR"); n != 2 {
			t.Fatalf("%d cases at FR, want 2", n)
		}
	})

	t.Run("concurrent submissions with one key make one case", func(t *testing.T) {
		const callers = 8
		before := f.outgoingAt("FR")
		subs := make([]types.Submission, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				subs[i], errs[i] = admin.SubmitRequest(context.Background(), doc, "concurrent-key")
			}()
		}
		wg.Wait()
		replayed := 0
		for i := range callers {
			if errs[i] != nil || subs[i].CaseID != subs[0].CaseID {
				t.Fatalf("caller %d: %+v, %v (caller 0: %+v)", i, subs[i], errs[i], subs[0])
			}
			if subs[i].Replayed {
				replayed++
			}
		}
		if got := f.outgoingAt("FR") - before; got != 1 || replayed != callers-1 {
			t.Fatalf("%d concurrent submits made %d cases, %d replays", callers, got, replayed)
		}
	})

	t.Run("after 24 hours the key is swept and opens a new request", func(t *testing.T) {
		f.clock.Advance(cases.IdempotencyWindow + time.Minute)
		if err := f.nodes["FR"].Scheduler().Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
		err := f.nodes["FR"].Store().View(func(tx *store.ReadTx) error {
			_, err := tx.Idempotency("user:node-admin", "op-retry-1")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the record outlived the window: %v", err)
		}
		sub, err := admin.SubmitRequest(context.Background(), doc, "op-retry-1")
		if err != nil || sub.Replayed || sub.CaseID == first.CaseID {
			t.Fatalf("after the window: %+v, %v", sub, err)
		}
	})
}
