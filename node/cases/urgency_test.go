package cases_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// TestUrgencyByKind: every request kind gets its urgency and human
// acknowledgement deadline from the configured deadlines; emergency mutual
// assistance (Protocol Art. 10) is as urgent as emergency disclosure
// (Art. 9): both concern "a significant and imminent risk to the life or
// safety of any natural person" (Art. 3(2)(c)).
func TestUrgencyByKind(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	own, _, _ := sealer(t)
	_, deID, deEnc := sealer(t)
	dir := oneMember{deID, protocol.Member{Country: "DE", PeerID: deID.String(),
		EncryptionKey: base64.StdEncoding.EncodeToString(deEnc.Public[:]),
		Treaties:      []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2009-07-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2025-01-01"}},
		Declarations:  []protocol.Declaration{{Kind: protocol.DeclarationEmergencyMLA, From: "2025-01-01"}}},
		protocol.Member{Country: "FR", Treaties: protocolParties}}
	now := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	d := config.DefaultConfig().Deadlines
	svc := cases.New(cases.Options{Store: st, Sealer: own, Directory: dir, Outbox: queued{}, Publisher: &ids{},
		Alerts: noAlerts{}, Quota: admission.New(admission.Options{}), Country: "FR", Now: func() time.Time { return now },
		Deadlines: d, MaxPayload: config.DefaultConfig().Admission.MaxPayload})
	for _, c := range []struct {
		kind, urgency string
		ack           time.Duration
	}{
		{"emergency_mla", "emergency", d.AckEmergency},
		{"emergency", "emergency", d.AckEmergency},
		{"preservation", "urgent", d.AckUrgent},
		{"assistance", "routine", d.AckRoutine},
	} {
		doc, err := os.ReadFile(filepath.Join("../../configs/examples", c.kind+".json"))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := svc.Submit(context.Background(), "test", doc)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		var got *store.Case
		if err := st.View(func(tx *store.ReadTx) error { got, err = tx.Case(sub.CaseID); return err }); err != nil {
			t.Fatal(err)
		}
		due := time.Time{} // no deadline configured
		if c.ack > 0 {
			due = now.Add(c.ack)
		}
		if got.Kind != c.kind || got.Urgency != c.urgency || !got.AckDueAt.Equal(due) || got.RequesterTimeZone != "Europe/Paris" {
			t.Errorf("%s: kind %s urgency %s ack due %v zone %q; want %s, due %v", c.kind, got.Kind, got.Urgency, got.AckDueAt, got.RequesterTimeZone, c.urgency, due)
		}
	}
	if d.AckEmergency <= 0 || d.AckEmergency >= d.AckUrgent {
		t.Fatalf("default deadlines: emergency %v, urgent %v", d.AckEmergency, d.AckUrgent)
	}
}
