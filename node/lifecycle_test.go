package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

func (f *federation) act(cc, caseID string, action map[string]any) int {
	f.t.Helper()
	b, _ := json.Marshal(action)
	return f.api(cc, "POST", "/api/v1/cases/"+caseID+"/actions", b, nil)
}

func (f *federation) mustAct(cc, caseID string, action map[string]any) {
	f.t.Helper()
	if code := f.act(cc, caseID, action); code != http.StatusCreated {
		f.t.Fatalf("%s %v on %s: HTTP %d", cc, action["action"], caseID, code)
	}
}

// waitState waits until both nodes show the case in the same state.
func (f *federation) waitState(caseID, state string, nodes ...string) {
	f.t.Helper()
	for _, cc := range nodes {
		eventually(f.t, 30*time.Second, cc+" reaches "+state, func() bool {
			v, code := f.caseView(cc, caseID)
			return code == http.StatusOK && v.State == state
		})
	}
}

func (f *federation) submitKind(from, to, file string) types.Submission {
	f.t.Helper()
	b, err := os.ReadFile("../configs/examples/" + file)
	if err != nil {
		f.t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	m["to"] = to
	b, _ = json.Marshal(m)
	var sub types.Submission
	if code := f.api(from, "POST", "/api/v1/requests", b, &sub); code != http.StatusCreated {
		f.t.Fatalf("submit %s: HTTP %d", file, code)
	}
	return sub
}

type histKey struct {
	ID, Action, To, Invalid string
	Seq                     uint64
}

func history(v types.CaseView) []histKey {
	var out []histKey
	for _, h := range v.History {
		out = append(out, histKey{h.MessageID, h.Action, h.To, h.Invalid, h.Seq})
	}
	return out
}

func op(action string, kv ...any) map[string]any {
	m := map[string]any{"action": action, "operator": "Duty officer J. Doe"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestCaseLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	var hookMu sync.Mutex
	var hooked []store.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a store.Alert
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &a)
		hookMu.Lock()
		hooked = append(hooked, a)
		hookMu.Unlock()
	}))
	defer hook.Close()
	f := newFederationWith(t, 2, func(cc string, cfg *config.Config) {
		cfg.Deadlines.CheckInterval = time.Hour // the test drives CheckDeadlines itself
		if cc == "DE" {
			cfg.Alerts.Webhook = hook.URL
		}
	})
	// Preservation dates are the requested state's calendar days (DE's
	// zone in the testnet), whatever the hour in UTC.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	today := func() string { return f.clock.Now().In(berlin).Format(time.DateOnly) }

	t.Run("full preservation lifecycle, same state and history on both sides", func(t *testing.T) {
		sub := f.submit("FR", "DE")
		f.waitDelivered("FR", sub.CaseID)
		f.waitState(sub.CaseID, "open", "FR", "DE")
		steps := []struct {
			by     string
			action map[string]any
			state  string
		}{
			{"DE", op("acknowledge"), "acknowledged"},
			// Asking does not move the case: preserving is never blocked (Art. 29(3)).
			{"DE", op("request_info", "text", "Please confirm the exact UTC offset of the log excerpt."), "acknowledged"},
			{"FR", op("provide_info", "text", "All timestamps are UTC; the provider's logs were exported in UTC."), "acknowledged"},
			{"DE", op("confirm_preservation", "executing_authority", "BKA SO4", "domestic_legal_basis", "StPO § 100g",
				"period_days", 90, "start_date", today()), "preserved"},
			{"FR", op("request_extension", "period_days", 90, "text", "MLA request in translation"), "extension_requested"},
			{"DE", op("confirm_extension", "expiry_date", f.clock.Now().UTC().AddDate(0, 0, 180).Format(time.DateOnly)), "preserved"},
			// The hold starts on receipt of the MLA request (Art. 29(7)).
			{"FR", op("mla_submitted", "mla_reference", "MLA/FR-DE/2026/77"), "preserved"},
			{"DE", op("mla_received", "mla_reference", "MLA/FR-DE/2026/77"), "mla_pending"},
			{"DE", op("mla_decided", "decision", "granted", "text", "MLA executed; data handed over"), "mla_decided"},
			{"DE", op("release", "text", "MLA executed; data handed over"), "released"},
			{"FR", op("close", "outcome", "completed"), "closed"},
		}
		for _, s := range steps {
			f.mustAct(s.by, sub.CaseID, s.action)
			f.waitState(sub.CaseID, s.state, "FR", "DE")
		}
		fr, _ := f.caseView("FR", sub.CaseID)
		de, _ := f.caseView("DE", sub.CaseID)
		if len(fr.History) != len(steps) {
			t.Fatalf("FR history has %d entries, want %d", len(fr.History), len(steps))
		}
		if got, want := history(fr), history(de); !equalHist(got, want) {
			t.Fatalf("histories differ:\nFR %v\nDE %v", got, want)
		}
		if fr.Role != "requester" || de.Role != "responder" || fr.Outcome != "completed" || de.ClosedAt == nil {
			t.Fatalf("roles/outcome wrong: FR %s DE %s outcome %q", fr.Role, de.Role, fr.Outcome)
		}
		if de.RequesterTimeZone != "Europe/Paris" || de.RequesterOfficeHours == "" {
			t.Fatalf("requester zone/hours not shown: %q %q", de.RequesterTimeZone, de.RequesterOfficeHours)
		}
	})

	t.Run("every refusal ground, reasons mandatory", func(t *testing.T) {
		// Budapest Art. 29(5): the only grounds between two Parties with no
		// Art. 29(4) reservation.
		for _, ground := range []string{"political_offence", "essential_interests"} {
			sub := f.submit("FR", "DE")
			f.waitState(sub.CaseID, "open", "DE")
			if code := f.act("DE", sub.CaseID, op("refuse", "ground", ground)); code != http.StatusUnprocessableEntity {
				t.Fatalf("refusal without reasons: HTTP %d, want 422", code)
			}
			f.mustAct("DE", sub.CaseID, op("refuse", "ground", ground, "reasons", "Stated reasons for "+ground))
			f.waitState(sub.CaseID, "refused", "FR", "DE")
			fr, _ := f.caseView("FR", sub.CaseID)
			var a protocol.Action
			json.Unmarshal(fr.History[0].Details, &a)
			if a.Ground != ground || a.Reasons == "" {
				t.Fatalf("FR sees ground %q reasons %q, want %q", a.Ground, a.Reasons, ground)
			}
		}
		sub := f.submit("FR", "DE")
		f.waitState(sub.CaseID, "open", "DE")
		if code := f.act("DE", sub.CaseID, op("refuse", "ground", "because", "reasons", "x")); code != http.StatusUnprocessableEntity {
			t.Fatalf("unknown ground: HTTP %d, want 422", code)
		}
	})

	t.Run("invalid transitions refused on both sides; an invalid one arriving is stored and flagged", func(t *testing.T) {
		sub := f.submit("FR", "DE")
		f.waitState(sub.CaseID, "open", "DE")
		f.mustAct("FR", sub.CaseID, op("withdraw", "text", "suspect identified by other means"))
		f.waitState(sub.CaseID, "withdrawn", "FR", "DE")
		confirm := op("confirm_preservation", "executing_authority", "BKA", "domestic_legal_basis", "StPO",
			"period_days", 90, "start_date", today())
		if code := f.act("DE", sub.CaseID, confirm); code != http.StatusConflict {
			t.Fatalf("DE confirmed a withdrawn case: HTTP %d, want 409", code)
		}
		if code := f.act("FR", sub.CaseID, confirm); code != http.StatusConflict {
			t.Fatalf("FR (requester) confirmed preservation: HTTP %d, want 409", code)
		}
		// Nothing was half-applied.
		de, _ := f.caseView("DE", sub.CaseID)
		if de.State != "withdrawn" || len(de.Messages) != 2 {
			t.Fatalf("DE after refused action: state %s, %d messages", de.State, len(de.Messages))
		}
		// A peer that sends the forbidden action anyway: stored, flagged.
		fr, deNode := f.nodes["FR"], f.nodes["DE"]
		sealer := sealerFor(t, f.entry("FR"))
		encKey, _ := memberOf(t, f, "DE").EncryptionPublic()
		now := f.clock.Now()
		payload, _ := json.Marshal(protocol.Action{Action: protocol.ActConfirmPreservation, Seq: 5, Operator: "rogue",
			ExecutingAuthority: "x", DomesticLegalBasis: "y", PeriodDays: 90, StartDate: today()})
		env, err := sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: sub.CaseID, Type: protocol.TypeAction,
			Recipient: deNode.PeerID(), CreatedAt: now}, encKey, payload)
		if err != nil {
			t.Fatal(err)
		}
		if ft, _ := sendRaw(t, fr, deNode, protocol.FrameEnvelope, env.Raw); ft != protocol.FrameReceipt {
			t.Fatalf("invalid-transition message not receipted: frame %d", ft)
		}
		de, _ = f.caseView("DE", sub.CaseID)
		if de.State != "withdrawn" || len(de.Messages) != 3 {
			t.Fatalf("DE after invalid incoming action: state %s, %d messages", de.State, len(de.Messages))
		}
		last := de.History[len(de.History)-1]
		if last.Invalid == "" || !contains(de.Flags, "invalid-transition") {
			t.Fatalf("invalid incoming action not flagged: %+v flags %v", last, de.Flags)
		}
	})

	t.Run("concurrent actions resolve the same way on both sides", func(t *testing.T) {
		sub := f.submit("FR", "DE")
		f.waitState(sub.CaseID, "open", "DE")
		f.mustAct("DE", sub.CaseID, op("acknowledge"))
		f.waitState(sub.CaseID, "acknowledged", "FR", "DE")
		fr, de := f.nodes["FR"], f.nodes["DE"]
		fr.Partition(de.PeerID())
		de.Partition(fr.PeerID())
		f.mustAct("FR", sub.CaseID, op("withdraw"))
		// Crossing actions replay in the order of their UUIDv7 IDs, which
		// is random within one millisecond; now that a lone commit runs
		// on its caller, both can land in one. Withdraw must sort first
		// for confirm_preservation to be the one flagged (a withdrawal
		// after a confirmation is valid).
		time.Sleep(2 * time.Millisecond)
		f.mustAct("DE", sub.CaseID, op("confirm_preservation", "executing_authority", "BKA", "domestic_legal_basis", "StPO",
			"period_days", 60, "start_date", today()))
		fr.Heal()
		de.Heal()
		var fv, dv types.CaseView
		eventually(t, 60*time.Second, "both sides to see both actions", func() bool {
			fv, _ = f.caseView("FR", sub.CaseID)
			dv, _ = f.caseView("DE", sub.CaseID)
			return len(fv.History) == 3 && len(dv.History) == 3
		})
		if fv.State != dv.State || !equalHist(history(fv), history(dv)) {
			t.Fatalf("sides disagree: FR %s %v, DE %s %v", fv.State, history(fv), dv.State, history(dv))
		}
		invalid := 0
		for _, h := range fv.History {
			if h.Invalid != "" {
				invalid++
			}
		}
		if invalid != 1 {
			t.Fatalf("want exactly one of the crossing actions flagged, got %d: %v", invalid, history(fv))
		}
	})

	t.Run("acknowledgement deadlines escalate on a fake clock", func(t *testing.T) {
		urgent := f.submit("FR", "DE")
		emergency := f.submitKind("FR", "DE", "emergency.json")
		f.waitState(urgent.CaseID, "open", "DE")
		f.waitState(emergency.CaseID, "open", "DE")
		alertsFor := func(cc, caseID string) map[string]bool {
			if err := f.nodes[cc].Scheduler().Pass(f.ctx); err != nil {
				t.Fatal(err)
			}
			var out struct {
				Alerts []store.Alert `json:"alerts"`
			}
			f.api(cc, "GET", "/api/v1/alerts", nil, &out)
			kinds := map[string]bool{}
			for _, a := range out.Alerts {
				if a.CaseID == caseID {
					kinds[string(a.Kind)] = true
				}
			}
			return kinds
		}
		f.clock.Advance(9 * time.Minute)
		if alertsFor("DE", emergency.CaseID)["ack_overdue"] {
			t.Fatal("emergency escalated before 10 minutes")
		}
		f.clock.Advance(2 * time.Minute)
		if !alertsFor("DE", emergency.CaseID)["ack_overdue"] || !alertsFor("FR", emergency.CaseID)["ack_overdue"] {
			t.Fatal("emergency not escalated on both sides after 11 minutes")
		}
		if alertsFor("DE", urgent.CaseID)["ack_overdue"] {
			t.Fatal("urgent preservation escalated before 30 minutes")
		}
		f.clock.Advance(20 * time.Minute)
		if !alertsFor("DE", urgent.CaseID)["ack_overdue"] {
			t.Fatal("urgent preservation not escalated after 31 minutes")
		}
		eventually(t, 10*time.Second, "webhook to receive the escalation", func() bool {
			hookMu.Lock()
			defer hookMu.Unlock()
			// Earlier subtests left FR's other requests open, so the
			// operator may be told by the summary of FR's overdue
			// requests rather than by this case's own alert.
			for _, a := range hooked {
				if a.Kind == "ack_overdue" && (a.CaseID == urgent.CaseID || a.ID == "summary/ack_overdue/incoming/FR") {
					return true
				}
			}
			return false
		})
		f.mustAct("DE", urgent.CaseID, op("acknowledge"))
		if alertsFor("DE", urgent.CaseID)["ack_overdue"] {
			t.Fatal("acknowledging did not clear the escalation")
		}
	})

	t.Run("preservation expiry alerts at 14, 7 and 1 days; MLA hold stops them", func(t *testing.T) {
		sub := f.submit("FR", "DE")
		f.waitState(sub.CaseID, "open", "DE")
		f.mustAct("DE", sub.CaseID, op("confirm_preservation", "executing_authority", "BKA", "domestic_legal_basis", "StPO",
			"period_days", 60, "start_date", today()))
		f.waitState(sub.CaseID, "preserved", "FR")
		check := func(cc string) map[string]bool {
			if err := f.nodes[cc].Scheduler().Pass(f.ctx); err != nil {
				t.Fatal(err)
			}
			var out struct {
				Alerts []store.Alert `json:"alerts"`
			}
			f.api(cc, "GET", "/api/v1/alerts", nil, &out)
			kinds := map[string]bool{}
			for _, a := range out.Alerts {
				if a.CaseID == sub.CaseID {
					kinds[string(a.Kind)] = true
				}
			}
			return kinds
		}
		fv, _ := f.caseView("FR", sub.CaseID)
		if fv.ExpiresAt == nil {
			t.Fatal("no expiry set by confirmation")
		}
		expires := *fv.ExpiresAt
		// Midnight in the requested state's zone after the sixtieth day.
		start, _ := time.ParseInLocation(time.DateOnly, today(), berlin)
		if want := start.AddDate(0, 0, 60); !expires.Equal(want) || expires.Location() != time.UTC {
			t.Fatalf("expiry %s, want start + 60 days = %s, in UTC", expires, want.UTC())
		}
		until := func(left time.Duration) { f.clock.Advance(expires.Add(-left).Sub(f.clock.Now())) }
		until(15 * 24 * time.Hour)
		if k := check("FR"); k["expiry_14d"] {
			t.Fatalf("14-day warning 15 days early: %v", k)
		}
		until(13 * 24 * time.Hour)
		if k := check("FR"); !k["expiry_14d"] || k["expiry_7d"] {
			t.Fatalf("at 13 days left: %v", k)
		}
		until(6 * 24 * time.Hour)
		if k := check("DE"); !k["expiry_7d"] || k["expiry_1d"] {
			t.Fatalf("at 6 days left on DE: %v", k)
		}
		until(12 * time.Hour)
		if k := check("DE"); !k["expiry_1d"] || k["expired"] {
			t.Fatalf("at 12 hours left on DE: %v", k)
		}
		f.mustAct("FR", sub.CaseID, op("mla_submitted", "mla_reference", "MLA/2026/1"))
		f.mustAct("DE", sub.CaseID, op("mla_received", "mla_reference", "MLA/2026/1"))
		f.waitState(sub.CaseID, "mla_pending", "FR", "DE")
		f.clock.Advance(30 * 24 * time.Hour) // past the old expiry
		if k := check("FR"); k["expired"] || k["expiry_7d"] || k["expiry_1d"] {
			t.Fatalf("held case still alerts: %v", k)
		}
		v, _ := f.caseView("DE", sub.CaseID)
		if !v.Hold {
			t.Fatal("case not on hold after the MLA request was received")
		}
	})

	t.Run("retention purges contents and keeps audit metadata", func(t *testing.T) {
		sub := f.submitKind("FR", "DE", "assistance.json")
		f.waitState(sub.CaseID, "open", "DE")
		f.mustAct("DE", sub.CaseID, op("answer", "text", "Seven days by default; the public prosecutor orders preservation."))
		f.waitState(sub.CaseID, "answered", "FR", "DE")
		f.mustAct("FR", sub.CaseID, op("close", "outcome", "completed"))
		f.waitState(sub.CaseID, "closed", "FR", "DE")
		f.clock.Advance(91 * 24 * time.Hour)
		for _, cc := range []string{"FR", "DE"} {
			if err := f.nodes[cc].Scheduler().Pass(f.ctx); err != nil {
				t.Fatal(err)
			}
			v, code := f.caseView(cc, sub.CaseID)
			if code != http.StatusOK || v.PurgedAt == nil || v.Request != nil || v.State != "closed" || len(v.History) != 2 {
				t.Fatalf("%s after retention: HTTP %d purged %v request %s state %s history %d", cc, code, v.PurgedAt, v.Request, v.State, len(v.History))
			}
			var records []*store.AuditRecord
			f.nodes[cc].Store().View(func(tx *store.ReadTx) error {
				all, err := tx.Audit(0, 0)
				for _, r := range all {
					if r.CaseID == sub.CaseID {
						records = append(records, r)
					}
				}
				return err
			})
			purged := false
			for _, r := range records {
				purged = purged || r.Action == "case.purged"
			}
			if !purged || len(records) < 4 {
				t.Fatalf("%s audit for purged case: %d records, purge logged %v", cc, len(records), purged)
			}
		}
	})

	t.Run("audit log verifies through the API with signed checkpoints", func(t *testing.T) {
		for _, cc := range []string{"FR", "DE"} {
			var rep store.AuditReport
			if code := f.api(cc, "GET", "/api/v1/audit/verify", nil, &rep); code != http.StatusOK {
				t.Fatalf("%s audit verify: HTTP %d", cc, code)
			}
			if !rep.OK || rep.Records < 20 || rep.Checkpoints == 0 || rep.LatestCheckpoint == nil {
				t.Fatalf("%s audit report: %+v", cc, rep)
			}
		}
	})
}

func equalHist(a, b []histKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
