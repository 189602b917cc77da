package deliver_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/store"
)

// TestDeliveryLogLinesForAPerson: the sender's "delivered" line and the
// receiver's "envelope received" line name the other side's country and
// the case's kind and urgency, so an operator reading the log at 3 a.m.
// sees which state sent what and how urgent it is.
func TestDeliveryLogLinesForAPerson(t *testing.T) {
	fr, de := newParty(t, "FR"), newParty(t, "DE")
	dir := rosterOf(fr, de)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	deCore, deLogs := observer.New(zapcore.InfoLevel)
	adm := admission.New(admission.Options{Limits: testLimits(nil)})
	de.useCases(dir, adm, &outboxRef{})
	in := deliver.NewInbox(ctx, deliver.InboxOptions{Opener: de.sealer, Directory: dir, Acceptor: de.cases,
		Admission: adm, Key: de.key, Clock: testClock, Logger: zap.New(deCore), CaseMeta: caseOf(de)})
	de.host.SetStreamHandler(deliver.ID, in.Handle)

	frCore, frLogs := observer.New(zapcore.InfoLevel)
	ref := &outboxRef{}
	fr.useCases(dir, admission.New(admission.Options{Limits: testLimits(nil)}), ref)
	delivered := make(chan string, 1)
	outCtx, stop := context.WithCancel(ctx)
	out := deliver.NewOutbox(outCtx, deliver.OutboxOptions{Store: fr.store, Dialer: &flakyDialer{h: fr, to: de}, Members: dir,
		Self: fr.id, Gate: allowAll{}, Publisher: fr.pub, Logger: zap.New(frCore),
		Delivery:    config.DeliveryConfig{MaxBackoff: 50 * time.Millisecond, Window: 8, ReceiptTimeout: time.Minute},
		OnDelivered: func(id string) { delivered <- id }})
	ref.o = out
	out.Ensure(de.id)
	sub, err := fr.cases.Submit(ctx, "test", emergencyTo(t, "DE"))
	if err != nil {
		t.Fatal(err)
	}
	<-delivered
	stop()
	out.Wait() // the worker has written its line

	want := caseOf(de)(sub.CaseID)
	if want == nil || want.Kind == "" || want.Urgency == "" {
		t.Fatalf("receiver's case: %+v", want)
	}
	for _, tc := range []struct {
		side, msg, country string
		logs               *observer.ObservedLogs
	}{{"receiver", "envelope received", "FR", deLogs}, {"sender", "delivered", "DE", frLogs}} {
		lines := tc.logs.FilterMessage(tc.msg).All()
		if len(lines) != 1 {
			t.Fatalf("%s: %d %q lines, want 1: %+v", tc.side, len(lines), tc.msg, tc.logs.All())
		}
		f := lines[0].ContextMap()
		if f["country"] != tc.country || f["kind"] != want.Kind || f["urgency"] != want.Urgency || f["case_id"] != sub.CaseID || f["peer"] == nil {
			t.Errorf("%s: %q fields %v; want country %s, kind %s, urgency %s", tc.side, tc.msg, f, tc.country, want.Kind, want.Urgency)
		}
		for k := range f {
			switch k {
			case "country", "kind", "urgency", "case_id", "message_id", "type", "peer":
			default:
				t.Errorf("%s: %q carries field %q: metadata only", tc.side, tc.msg, k)
			}
		}
	}
}

// caseOf reads a party's stored case, as the node's CaseMeta does.
func caseOf(p *party) func(string) *store.Case {
	return func(id string) *store.Case {
		var c *store.Case
		if p.store.View(func(r *store.ReadTx) error {
			var err error
			c, err = r.Case(id)
			return err
		}) != nil {
			return nil
		}
		return c
	}
}
