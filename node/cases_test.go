package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// forge seals a payload as member `from` would (its real keys) to `to`.
func forge(t *testing.T, f *federation, from, to, caseID string, typ protocol.MessageType, payload any) *protocol.Envelope {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	encKey, err := memberOf(t, f, to).EncryptionPublic()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now().UTC()
	env, err := sealerFor(t, f.entry(from)).Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: caseID, Type: typ,
		Recipient: f.nodes[to].PeerID(), CreatedAt: now}, encKey, b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// deliver sends an envelope over a real /vigil/deliver stream from the
// sender's own libp2p host and requires a receipt.
func (f *federation) deliver(from, to string, env *protocol.Envelope) []byte {
	f.t.Helper()
	ft, body := sendRaw(f.t, f.nodes[from], f.nodes[to], protocol.FrameEnvelope, env.Raw)
	if ft != protocol.FrameReceipt {
		f.t.Fatalf("%s→%s %s: answered frame %d %s, want a receipt", from, to, env.MessageID, ft, body)
	}
	return body
}

func storedCase(t *testing.T, n *node.Node, id string) *store.Case {
	t.Helper()
	var c *store.Case
	if err := n.Store().View(func(tx *store.ReadTx) (err error) { c, err = tx.Case(id); return err }); err != nil {
		t.Fatalf("case %s: %v", id, err)
	}
	return c
}

func storedMessage(t *testing.T, n *node.Node, id string) *store.Message {
	t.Helper()
	var m *store.Message
	if err := n.Store().View(func(tx *store.ReadTx) (err error) { m, err = tx.Message(id); return err }); err != nil {
		t.Fatalf("message %s: %v", id, err)
	}
	return m
}

func auditActions(t *testing.T, n *node.Node, messageID string) []string {
	t.Helper()
	var out []string
	err := n.Store().View(func(tx *store.ReadTx) error {
		recs, err := tx.Audit(0, 0)
		for _, r := range recs {
			if r.MessageID == messageID {
				out = append(out, r.Action)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func emergencyTo(t *testing.T, to string) []byte {
	t.Helper()
	b, err := os.ReadFile("../configs/examples/emergency.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	m["to"] = to
	out, _ := json.Marshal(m)
	return out
}

// TestCaseRewriteRefused is issue 9 item 4: the counterparty of one of the
// victim's own outgoing cases sends a request reusing its case ID. The
// victim's case must stay as it was, both sides must still agree, and the
// rogue request is kept apart, flagged and receipted.
func TestCaseRewriteRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	fr, de := f.nodes["FR"], f.nodes["DE"]

	// FR's own outgoing preservation request, acknowledged and confirmed
	// by DE: preserved, with an expiry.
	sub := f.submit("FR", "DE")
	f.waitDelivered("FR", sub.CaseID)
	f.waitState(sub.CaseID, "open", "FR", "DE")
	f.mustAct("DE", sub.CaseID, op("acknowledge"))
	f.waitState(sub.CaseID, "acknowledged", "FR", "DE")
	// No start_date: DE's node fills in today, in DE's zone.
	f.mustAct("DE", sub.CaseID, op("confirm_preservation", "executing_authority", "BKA", "domestic_legal_basis", "StPO",
		"period_days", 90))
	f.waitState(sub.CaseID, "preserved", "FR", "DE")
	before := storedCase(t, fr, sub.CaseID)
	if before.Direction != store.Outgoing || before.Kind != "preservation" || before.ExpiresAt.IsZero() {
		t.Fatalf("setup: FR case %+v", before)
	}
	viewBefore, _ := f.caseView("FR", sub.CaseID)

	// DE, with its own keys and host, sends an emergency request reusing
	// FR's case ID.
	rogue := forge(t, f, "DE", "FR", sub.CaseID, protocol.TypeRequest, emergencyTo(t, "FR"))
	receipt := f.deliver("DE", "FR", rogue)

	after := storedCase(t, fr, sub.CaseID)
	if after.Kind != before.Kind || after.Direction != before.Direction || after.State != before.State ||
		!after.ExpiresAt.Equal(before.ExpiresAt) || after.Seq != before.Seq || after.Urgency != before.Urgency ||
		!after.AckDueAt.Equal(before.AckDueAt) || !reflect.DeepEqual(after.MessageIDs, before.MessageIDs) ||
		after.RequestID != before.RequestID || after.Drill != before.Drill {
		t.Fatalf("victim's case rewritten:\nbefore %+v\nafter  %+v", before, after)
	}
	if !contains(after.Flags, "duplicate-case-id") {
		t.Fatalf("victim's case not flagged for the operator: %v", after.Flags)
	}
	fv, _ := f.caseView("FR", sub.CaseID)
	dv, _ := f.caseView("DE", sub.CaseID)
	if fv.State != "preserved" || dv.State != "preserved" || fv.Kind != "preservation" || fv.Role != "requester" {
		t.Fatalf("after the attempt: FR %s/%s/%s, DE %s", fv.State, fv.Kind, fv.Role, dv.State)
	}
	if !equalHist(history(fv), history(viewBefore)) || !equalHist(history(fv), history(dv)) {
		t.Fatalf("histories changed or disagree:\nFR before %v\nFR after  %v\nDE        %v", history(viewBefore), history(fv), history(dv))
	}
	for _, h := range fv.History {
		if h.Invalid != "" {
			t.Fatalf("genuine action now invalid: %+v", h)
		}
	}
	// The rogue request: its own record, flagged, receipted, audited,
	// outside the case.
	rm := storedMessage(t, fr, rogue.MessageID)
	if !contains(rm.Flags, "duplicate-case-id") || rm.Direction != store.Incoming || !bytes.Equal(rm.Receipt, receipt) {
		t.Fatalf("rogue request record: %+v", rm)
	}
	if got := auditActions(t, fr, rogue.MessageID); !reflect.DeepEqual(got, []string{"message.refused-duplicate-case-id"}) {
		t.Fatalf("rogue request audit: %v", got)
	}

	// Re-sent, the same envelope gets its original receipt and changes
	// nothing: the sender stops retrying.
	if again := f.deliver("DE", "FR", rogue); !bytes.Equal(again, receipt) {
		t.Fatal("re-sent rogue request got a new receipt")
	}
	// An honest duplicate (DE re-sending its genuine confirmation) still
	// gets its original receipt, and the case does not move.
	var confirmID string
	for _, h := range dv.History {
		if h.Action == "confirm_preservation" {
			confirmID = h.MessageID
		}
	}
	var sent *store.Message
	eventually(t, 30*time.Second, "DE to store FR's receipt for the confirmation", func() bool {
		sent = storedMessage(t, de, confirmID)
		return len(sent.Receipt) > 0
	})
	env, err := protocol.ParseEnvelope(sent.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if again := f.deliver("DE", "FR", env); !bytes.Equal(again, storedMessage(t, fr, confirmID).Receipt) || !bytes.Equal(again, sent.Receipt) {
		t.Fatal("honest duplicate did not get its original receipt")
	}
	if c := storedCase(t, fr, sub.CaseID); !reflect.DeepEqual(c.MessageIDs, before.MessageIDs) || c.State != before.State {
		t.Fatalf("duplicates moved the case: %+v", c)
	}

	// The case keeps working for both sides afterwards.
	f.mustAct("FR", sub.CaseID, op("mla_submitted", "mla_reference", "MLA/FR-DE/2026/1"))
	f.mustAct("DE", sub.CaseID, op("mla_received", "mla_reference", "MLA/FR-DE/2026/1"))
	f.waitState(sub.CaseID, "mla_pending", "FR", "DE")
	fv, _ = f.caseView("FR", sub.CaseID)
	dv, _ = f.caseView("DE", sub.CaseID)
	if !equalHist(history(fv), history(dv)) {
		t.Fatalf("sides disagree: FR %v DE %v", history(fv), history(dv))
	}

	t.Run("a request may fill an action's placeholder once", func(t *testing.T) {
		id := protocol.NewID(f.clock.Now())
		early := forge(t, f, "FR", "DE", id, protocol.TypeAction, protocol.Action{Action: protocol.ActWithdraw, Seq: 1, Operator: "x"})
		f.deliver("FR", "DE", early)
		c := storedCase(t, de, id)
		if c.Kind != "" || c.RequestID != "" || !contains(c.Flags, "before-request") {
			t.Fatalf("placeholder: %+v", c)
		}
		req := forge(t, f, "FR", "DE", id, protocol.TypeRequest, exampleRequest(t, "DE"))
		f.deliver("FR", "DE", req)
		c = storedCase(t, de, id)
		if c.Kind != "preservation" || c.Direction != store.Incoming || c.RequestID != req.MessageID || c.State != "withdrawn" ||
			c.AckDueAt.IsZero() || len(c.MessageIDs) != 2 {
			t.Fatalf("placeholder not filled by its request: %+v", c)
		}
		// A second request for the same case ID is kept apart.
		second := forge(t, f, "FR", "DE", id, protocol.TypeRequest, emergencyTo(t, "DE"))
		f.deliver("FR", "DE", second)
		c2 := storedCase(t, de, id)
		if c2.Kind != "preservation" || c2.RequestID != req.MessageID || c2.State != "withdrawn" || len(c2.MessageIDs) != 2 ||
			!c2.AckDueAt.Equal(c.AckDueAt) || !contains(c2.Flags, "duplicate-case-id") {
			t.Fatalf("second request merged: %+v", c2)
		}
		if m := storedMessage(t, de, second.MessageID); !contains(m.Flags, "duplicate-case-id") {
			t.Fatalf("second request not flagged: %v", m.Flags)
		}
	})
}

// TestActionCostConstant is issue 9 item 5: receiving an action decrypts
// exactly one envelope (its own, when opening it, before the store
// transaction) however long the case is; local actions decrypt none. The
// old path decrypted every earlier action of the case inside the store
// committer for each new one.
func TestActionCostConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	de := f.nodes["DE"]
	sub := f.submit("FR", "DE")
	f.waitDelivered("FR", sub.CaseID)
	f.waitState(sub.CaseID, "open", "DE")
	ctx := context.Background()
	actDE := func(a protocol.Action) {
		t.Helper()
		b, _ := json.Marshal(a)
		if _, err := de.Cases().Act(ctx, "test", sub.CaseID, b); err != nil {
			t.Fatalf("DE %s: %v", a.Action, err)
		}
	}
	const rounds = 40 // 80 actions on one case
	for i := 0; i < rounds; i++ {
		d0 := de.Decryptions()
		actDE(protocol.Action{Action: protocol.ActRequestInfo, Operator: "DE officer", Text: "question"})
		if d := de.Decryptions() - d0; d != 0 {
			t.Fatalf("round %d: a local action decrypted %d envelopes", i, d)
		}
		seq := storedCase(t, de, sub.CaseID).Seq + 1
		env := forge(t, f, "FR", "DE", sub.CaseID, protocol.TypeAction,
			protocol.Action{Action: protocol.ActProvideInfo, Seq: seq, Operator: "FR officer", Text: "answer"})
		d0 = de.Decryptions()
		f.deliver("FR", "DE", env)
		if d := de.Decryptions() - d0; d != 1 {
			t.Fatalf("round %d (case of %d actions): receiving one action decrypted %d envelopes, want 1", i, 2*i+1, d)
		}
	}
	c := storedCase(t, de, sub.CaseID)
	if c.State != "open" || c.Seq != 2*rounds || contains(c.Flags, "invalid-transition") || !c.ActionsIndexed {
		t.Fatalf("after %d rounds: %+v", rounds, c)
	}

	// Out of order (a stale seq): the case is replayed, from the stored
	// metadata, still decrypting only the arriving envelope.
	late := forge(t, f, "FR", "DE", sub.CaseID, protocol.TypeAction,
		protocol.Action{Action: protocol.ActWithdraw, Seq: 1, Operator: "FR officer"})
	d0 := de.Decryptions()
	f.deliver("FR", "DE", late)
	if d := de.Decryptions() - d0; d != 1 {
		t.Fatalf("out-of-order action decrypted %d envelopes, want 1", d)
	}
	var evs []protocol.Event
	if err := de.Store().View(func(tx *store.ReadTx) error {
		c, err := tx.Case(sub.CaseID)
		if err != nil {
			return err
		}
		for _, id := range c.MessageIDs {
			m, err := tx.Message(id)
			if err != nil {
				return err
			}
			if m.Type == "action" {
				by := protocol.Responder
				if m.Direction == store.Incoming {
					by = protocol.Requester
				}
				evs = append(evs, protocol.Event{MessageID: m.ID, By: by, At: m.CreatedAt, Meta: decryptMeta(t, f, "DE", m)})
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// What the node kept equals a replay of every decrypted action.
	c = storedCase(t, de, sub.CaseID)
	want := protocol.Replay(c.LegalTerms(), evs)
	if c.State != string(want.State) || c.Seq != want.Seq || c.LastActionID != want.LastMessageID {
		t.Fatalf("stored %s/%d/%s, replay %s/%d/%s", c.State, c.Seq, c.LastActionID, want.State, want.Seq, want.LastMessageID)
	}
	// withdraw at seq 1 sorts first and applies (open → withdrawn); every
	// later action is then invalid.
	if c.State != "withdrawn" || !contains(c.Flags, "invalid-transition") {
		t.Fatalf("after the out-of-order withdrawal: %+v", c)
	}
}

func decryptMeta(t *testing.T, f *federation, cc string, m *store.Message) protocol.ActionMeta {
	t.Helper()
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := sealerFor(t, f.entry(cc)).Decrypt(env)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := protocol.ParseAction(payload)
	return protocol.MetaOf(a)
}

// TestLegacyCaseMigrates: a case stored before action metadata existed
// (messages without it, no index on the case) keeps working. Its next
// action decodes the old ones once, outside the store committer, and
// stores their metadata; after that, receiving costs one decryption again.
func TestLegacyCaseMigrates(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	de := f.nodes["DE"]
	sub := f.submit("FR", "DE")
	f.waitDelivered("FR", sub.CaseID)
	f.waitState(sub.CaseID, "open", "DE")
	f.mustAct("DE", sub.CaseID, op("acknowledge"))
	f.mustAct("DE", sub.CaseID, op("request_info", "text", "which zone?"))
	eventually(t, 30*time.Second, "FR to receive the question", func() bool { return storedCase(t, f.nodes["FR"], sub.CaseID).Legal.InfoPending })
	want := storedCase(t, de, sub.CaseID)

	// Strip what this change added, as an older version stored it.
	if err := de.Store().Update(context.Background(), func(tx *store.Tx) error {
		c, err := tx.Case(sub.CaseID)
		if err != nil {
			return err
		}
		for _, id := range c.MessageIDs {
			m, err := tx.Message(id)
			if err != nil {
				return err
			}
			m.Meta = nil
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		c.ActionsIndexed, c.LastActionID, c.RequestID = false, "", ""
		c.Terms, c.Legal = nil, protocol.LegalFacts{}
		return tx.PutCase(c)
	}); err != nil {
		t.Fatal(err)
	}

	next := func(seq uint64) *protocol.Envelope {
		return forge(t, f, "FR", "DE", sub.CaseID, protocol.TypeAction,
			protocol.Action{Action: protocol.ActProvideInfo, Seq: seq, Operator: "FR officer", Text: "UTC"})
	}
	d0 := de.Decryptions()
	f.deliver("FR", "DE", next(want.Seq+1))
	if d := de.Decryptions() - d0; d != 3 { // the arriving action and the two old ones, once
		t.Fatalf("migrating action decrypted %d envelopes, want 3", d)
	}
	c := storedCase(t, de, sub.CaseID)
	if c.State != "acknowledged" || c.Seq != want.Seq+1 || !c.ActionsIndexed || c.LastActionID == "" || contains(c.Flags, "invalid-transition") {
		t.Fatalf("migrated case: %+v", c)
	}
	for _, id := range c.MessageIDs {
		if m := storedMessage(t, de, id); m.Type == "action" && m.Meta == nil {
			t.Fatalf("message %s not migrated", id)
		}
	}
	// The request that opened it still counts as its request.
	f.deliver("FR", "DE", forge(t, f, "FR", "DE", sub.CaseID, protocol.TypeRequest, emergencyTo(t, "DE")))
	if c := storedCase(t, de, sub.CaseID); c.Kind != "preservation" || !contains(c.Flags, "duplicate-case-id") {
		t.Fatalf("legacy case took a second request: %+v", c)
	}
	f.mustAct("DE", sub.CaseID, op("request_info", "text", "and the offset?"))
	d0 = de.Decryptions()
	f.deliver("FR", "DE", next(storedCase(t, de, sub.CaseID).Seq+1))
	if d := de.Decryptions() - d0; d != 1 {
		t.Fatalf("after migration an action decrypted %d envelopes, want 1", d)
	}
	if c := storedCase(t, de, sub.CaseID); c.State != "acknowledged" {
		t.Fatalf("after migration: %s", c.State)
	}
}
