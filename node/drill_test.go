package node_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

func (f *federation) reachabilityDrill(cc string) map[string]store.DrillResult {
	f.t.Helper()
	var run store.DrillRun
	if code := f.api(cc, "POST", "/api/v1/drills/reachability", nil, &run); code != http.StatusOK {
		f.t.Fatalf("reachability drill on %s: HTTP %d", cc, code)
	}
	if run.Kind != store.DrillReachability || run.ID == "" || run.StartedAt.IsZero() {
		f.t.Fatalf("drill run %+v", run)
	}
	out := map[string]store.DrillResult{}
	for _, r := range run.Results {
		out[r.Country] = r
	}
	if _, self := out[cc]; self || len(out) != len(f.m.Nodes)-1 {
		f.t.Fatalf("drill from %s pinged %v, want every other member once", cc, run.Results)
	}
	return out
}

func (f *federation) drillReport(cc string) (types.DrillReport, map[string]types.DrillCountry) {
	f.t.Helper()
	var rep types.DrillReport
	if code := f.api(cc, "GET", "/api/v1/drills/report", nil, &rep); code != http.StatusOK {
		f.t.Fatalf("drill report on %s: HTTP %d", cc, code)
	}
	rows := map[string]types.DrillCountry{}
	for _, c := range rep.Countries {
		rows[c.Country] = c
	}
	return rep, rows
}

// metricsText is a node's /metrics page, read with the API client.
func (f *federation) metricsText(cc string) string {
	f.t.Helper()
	e := f.entry(cc)
	var raw json.RawMessage
	if _, err := client.New(e.API, client.WithToken(e.Token)).Do(f.ctx, "GET", "/metrics", nil, &raw); err != nil {
		f.t.Fatalf("metrics of %s: %v", cc, err)
	}
	return string(raw)
}

func TestDrills(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationWith(t, 3, func(cc string, cfg *config.Config) {
		cfg.Deadlines.CheckInterval = time.Hour // the test drives CheckDrills itself
		cfg.Drills.Interval = 0
	})

	t.Run("reachability drill: every member answers with a verified pong", func(t *testing.T) {
		res := f.reachabilityDrill("FR")
		for _, cc := range []string{"DE", "NL"} {
			r := res[cc]
			if !r.Reachable || r.RTTMillis <= 0 || r.Error != "" || r.Failures != 0 || r.PeerID != f.entry(cc).PeerID {
				t.Fatalf("%s: %+v", cc, r)
			}
		}
		_, rows := f.drillReport("FR")
		if de := rows["DE"]; de.Reachable == nil || !*de.Reachable || de.RTTMillis == nil || *de.RTTMillis <= 0 || de.LastPingAt == nil {
			t.Fatalf("report for DE: %+v", de)
		}
		m := f.metricsText("FR")
		for _, want := range []string{`vigil_drill_reachable{country="DE"} 1`, `vigil_drill_reachable{country="NL"} 1`, `vigil_drill_rtt_seconds{country="NL"}`} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		// Any node can drill.
		if r := f.reachabilityDrill("NL")["FR"]; !r.Reachable {
			t.Fatalf("NL → FR: %+v", r)
		}
	})

	t.Run("stopped member: unreachable with an error and a failure count", func(t *testing.T) {
		f.stop("NL")
		res := f.reachabilityDrill("FR")
		if nl := res["NL"]; nl.Reachable || nl.Error == "" || nl.Failures != 1 || nl.RTTMillis != 0 {
			t.Fatalf("NL after stop: %+v", nl)
		}
		if !res["DE"].Reachable {
			t.Fatalf("DE after NL stopped: %+v", res["DE"])
		}
		if m := f.metricsText("FR"); !strings.Contains(m, `vigil_drill_reachable{country="NL"} 0`) {
			t.Error("metrics do not show NL unreachable")
		}
	})

	t.Run("a pong not signed by the member is refused", func(t *testing.T) {
		// An impostor on NL's addresses holding NL's transport identity
		// answers with a pong signed by another key.
		e := f.entry("NL")
		key, err := config.LoadIdentityKey(filepath.Join(e.Dir, "keys", "identity.key"))
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		imp, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(memberOf(t, f, "NL").Addrs...))
		if err != nil {
			t.Fatal(err)
		}
		defer imp.Close()
		imp.SetStreamHandler(drills.ID, func(s network.Stream) {
			defer s.Close()
			_, body, err := protocol.ReadFrame(s, protocol.MaxDrillFrame)
			if err != nil {
				s.Reset()
				return
			}
			ping, err := protocol.ParsePing(body)
			if err != nil {
				s.Reset()
				return
			}
			pong, _ := protocol.SignPong(other, ping, time.Now())
			protocol.WriteFrame(s, protocol.FramePong, pong.Raw)
		})
		nl := f.reachabilityDrill("FR")["NL"]
		if nl.Reachable || !strings.Contains(nl.Error, "signature") || nl.Failures != 2 {
			t.Fatalf("forged pong: %+v", nl)
		}
		imp.Close()
		_, rows := f.drillReport("FR")
		if r := rows["NL"]; r.Reachable == nil || *r.Reachable || r.PingFailures != 2 || r.LastPingError == "" {
			t.Fatalf("report for NL: %+v", r)
		}
	})

	t.Run("member back: reachable again, failures reset", func(t *testing.T) {
		f.start("NL")
		if nl := f.reachabilityDrill("FR")["NL"]; !nl.Reachable || nl.Failures != 0 {
			t.Fatalf("NL after restart: %+v", nl)
		}
	})

	var drillCases map[string]string
	t.Run("response drill: marked as a drill on both sides", func(t *testing.T) {
		var out struct {
			Run     store.DrillRun    `json:"run"`
			CaseIDs map[string]string `json:"case_ids"`
		}
		body := []byte(`{"countries": ["DE", "nl"], "operator": "Duty officer J. Doe"}`)
		if code := f.api("FR", "POST", "/api/v1/drills/response", body, &out); code != http.StatusCreated {
			t.Fatalf("response drill: HTTP %d", code)
		}
		if len(out.CaseIDs) != 2 || out.CaseIDs["DE"] == "" || out.CaseIDs["NL"] == "" || out.Run.Kind != store.DrillResponse {
			t.Fatalf("response drill answer: %+v", out)
		}
		if !strings.HasPrefix(out.Run.Reference, "DRILL-"+f.clock.Now().UTC().Format(time.DateOnly)+"-") {
			t.Fatalf("reference %q", out.Run.Reference)
		}
		drillCases = out.CaseIDs
		for cc, id := range drillCases {
			f.waitDelivered("FR", id)
			fr, _ := f.caseView("FR", id)
			v, code := f.caseView(cc, id)
			if code != http.StatusOK || !contains(v.Flags, "drill") || !contains(fr.Flags, "drill") || v.Kind != "assistance" {
				t.Fatalf("%s drill case: HTTP %d %+v", cc, code, v.CaseSummary)
			}
			var q protocol.AssistanceQuery
			if err := json.Unmarshal(v.Request, &q); err != nil || !q.Drill || !strings.HasPrefix(q.Question, "DRILL") || q.Reference != out.Run.Reference {
				t.Fatalf("%s sees request %s (%v)", cc, v.Request, err)
			}
			if !contains(v.Available, "acknowledge") {
				t.Fatalf("%s cannot acknowledge the drill: %v", cc, v.Available)
			}
		}
		var bad struct {
			Fields []protocol.FieldError `json:"fields"`
		}
		if code := f.api("FR", "POST", "/api/v1/drills/response", []byte(`{"countries":["XX","FR"]}`), &bad); code != http.StatusUnprocessableEntity || len(bad.Fields) != 2 {
			t.Fatalf("drill to unknown and own country: HTTP %d %+v", code, bad)
		}
	})

	t.Run("DE acknowledges, NL misses the deadline", func(t *testing.T) {
		if drillCases == nil {
			t.Skip("no drill sent")
		}
		f.mustAct("DE", drillCases["DE"], op("acknowledge"))
		f.waitState(drillCases["DE"], "acknowledged", "FR", "DE")
		_, rows := f.drillReport("FR")
		if de := rows["DE"]; de.AckSeconds == nil || *de.AckSeconds <= 0 || de.AckMedianSeconds == nil || de.DrillsSent != 1 || de.Acknowledged != 1 || de.Misses != 0 {
			t.Fatalf("report for DE after ack: %+v", de)
		}
		if nl := rows["NL"]; nl.Pending != 1 || nl.Misses != 0 || nl.AckSeconds != nil {
			t.Fatalf("report for NL before deadline: %+v", nl)
		}
		fr := f.nodes["FR"]
		if err := fr.Drills().CheckDrills(f.ctx); err != nil {
			t.Fatal(err)
		}
		if m := f.metricsText("FR"); !strings.Contains(m, `vigil_drill_ack_seconds{country="DE"}`) || strings.Contains(m, `vigil_drill_misses_total{country="NL"}`) {
			t.Fatal("metrics after DE's acknowledgement: ack gauge missing or a miss counted early")
		}

		f.clock.Advance(31 * time.Minute)
		for i := 0; i < 2; i++ { // a second check counts nothing twice
			if err := fr.Drills().CheckDrills(f.ctx); err != nil {
				t.Fatal(err)
			}
		}
		_, rows = f.drillReport("FR")
		if nl := rows["NL"]; nl.Misses != 1 || nl.Pending != 0 || nl.DrillsSent != 1 || nl.AckSeconds != nil {
			t.Fatalf("report for NL after deadline: %+v", nl)
		}
		if de := rows["DE"]; de.Misses != 0 || de.AckSeconds == nil {
			t.Fatalf("report for DE after deadline: %+v", de)
		}
		if m := f.metricsText("FR"); !strings.Contains(m, `vigil_drill_misses_total{country="NL"} 1`) {
			t.Fatal("metrics do not count NL's miss once")
		}
		// A late acknowledgement does not undo the miss.
		f.mustAct("NL", drillCases["NL"], op("acknowledge"))
		f.waitState(drillCases["NL"], "acknowledged", "FR")
		if err := fr.Drills().CheckDrills(f.ctx); err != nil {
			t.Fatal(err)
		}
		if _, rows = f.drillReport("FR"); rows["NL"].Misses != 1 {
			t.Fatalf("NL after late ack: %+v", rows["NL"])
		}
	})

	t.Run("every drill is in the audit log", func(t *testing.T) {
		got := map[string]int{}
		f.nodes["FR"].Store().View(func(tx *store.ReadTx) error {
			all, err := tx.Audit(0, 0)
			for _, r := range all {
				got[r.Action]++
			}
			return err
		})
		if got["drill.reachability"] != 4 || got["drill.response"] != 1 || got["drill.missed"] != 1 {
			t.Fatalf("drill audit records: reachability %d, response %d, missed %d",
				got["drill.reachability"], got["drill.response"], got["drill.missed"])
		}
	})
}
