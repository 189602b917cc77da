package node_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/store"
)

// incomingAt is a node's incoming cases by ID, with their message counts.
func (f *federation) incomingAt(cc string) map[string]int { return f.casesAt(cc, store.Incoming) }

// TestPowerCutAfterSendResubmissionAgrees is issue 13's window, with a
// real pair: FR hands a keyed request to its delivery worker while the
// outbox commit syncs, and the power goes before the sync. DE holds the
// request; FR, restarted, does not, and its operator (who got no 201)
// sends it again with the same UUIDv7 Idempotency-Key. The retry lands on
// the message DE holds: one case, the same IDs on both sides, delivered
// with the receipt DE signed the first time. The same key with another
// body after a second cut is refused by DE as reusing the ID, and FR's
// operator sees that, instead of two versions of one request.
func TestPowerCutAfterSendResubmissionAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	e := f.entry("FR")
	admin := client.New(e.API, client.WithToken(e.Token))
	doc := exampleRequest(t, "DE")
	// A delivery first: the worker's stream is open, as on a busy node.
	f.waitDelivered("FR", f.submit("FR", "DE").CaseID)
	before := f.incomingAt("DE")

	cut := func(body []byte, key string) string {
		t.Helper()
		f.nodes["FR"].Store().SimulatePowerCut()
		if code, _, resp := postKeyed(t, admin, body, key); code < 500 {
			t.Fatalf("submit into a power cut: HTTP %d %s, want a server error", code, resp)
		}
		var got string
		eventually(t, 30*time.Second, "DE to store the request sent in the sync window", func() bool {
			for id := range f.incomingAt("DE") {
				if _, old := before[id]; !old {
					got = id
				}
			}
			return got != ""
		})
		before[got] = 1
		f.stop("FR")
		f.start("FR")
		return got
	}

	key := client.NewIdempotencyKey() // the clock is not moved: the key's time is the node's
	atDE := cut(doc, key)
	if n := f.outgoingAt("FR"); n != 1 {
		t.Fatalf("FR has %d outgoing cases after the cut, want only the first delivery", n)
	}
	code, rh, body := postKeyed(t, admin, doc, key)
	var sub types.Submission
	json.Unmarshal(body, &sub)
	if code != http.StatusCreated || rh.Get("Idempotent-Replayed") != "" || sub.CaseID != atDE {
		t.Fatalf("retry: HTTP %d %s, want 201 for case %s", code, body, atDE)
	}
	v := f.waitDelivered("FR", sub.CaseID)
	if v.Messages[0].ID != sub.MessageID {
		t.Fatalf("delivered message %s, want %s", v.Messages[0].ID, sub.MessageID)
	}
	if in := f.incomingAt("DE"); len(in) != len(before) || in[atDE] != 1 {
		t.Fatalf("DE holds %v, want the same cases as before the retry and one message in %s", in, atDE)
	}

	// The same key, another body, after a second cut.
	key2 := client.NewIdempotencyKey()
	atDE2 := cut(doc, key2)
	var changed map[string]any
	json.Unmarshal(doc, &changed)
	changed["reference"] = "OFAC-2026-PC-CHANGED"
	other, _ := json.Marshal(changed)
	code, _, body = postKeyed(t, admin, other, key2)
	json.Unmarshal(body, &sub)
	if code != http.StatusCreated || sub.CaseID != atDE2 {
		t.Fatalf("retry with another body: HTTP %d %s", code, body)
	}
	eventually(t, 45*time.Second, "FR to record DE's refusal", func() bool {
		v, _ := f.caseView("FR", sub.CaseID)
		return len(v.Messages) > 0 && v.Messages[0].State == "rejected"
	})
	v, _ = f.caseView("FR", sub.CaseID)
	if v.Messages[0].LastError == "" {
		t.Fatal("the refusal does not say why")
	}
	if in := f.incomingAt("DE"); in[atDE2] != 1 {
		t.Fatalf("DE holds %d messages in %s, want its one original", in[atDE2], atDE2)
	}
}
