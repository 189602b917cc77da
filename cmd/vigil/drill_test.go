package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/store"
)

// TestDrillAnswersDecodeIntoAPITypes: what the node sends for the drill
// report and a response drill (drills.Report, the stored run) decodes into
// the API types the CLI reads, field for field: nothing unknown, nothing
// lost.
func TestDrillAnswersDecodeIntoAPITypes(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	yes, rtt, ack := true, 1.5, 42.0
	run := &store.DrillRun{ID: "r1", Kind: store.DrillResponse, Actor: "token:node", StartedAt: at, FinishedAt: at.Add(time.Second),
		Reference: "DRILL-1", DeadlineAt: at.Add(time.Hour),
		Results: []store.DrillResult{{Country: "DE", PeerID: "p", Reachable: true, RTTMillis: 2, Error: "e", Failures: 1,
			CaseID: "c", AcknowledgedAt: at.Add(time.Minute), AckSeconds: 60, Missed: true}}}
	rep := drills.Report{LastRun: run, Countries: []drills.Country{{Country: "DE", Reachable: &yes, RTTMillis: &rtt,
		LastPingAt: &at, LastPingError: "x", PingFailures: 2, AckSeconds: &ack, AckMedianSeconds: &ack,
		DrillsSent: 3, Acknowledged: 2, Pending: 1, Misses: 1}}}
	sameJSON(t, rep, &types.DrillReport{})
	// The answer to POST /api/v1/drills/response (node/http_drills.go).
	sameJSON(t, map[string]any{"run": run, "case_ids": map[string]string{"DE": "c"}}, &types.ResponseDrillStarted{})
	sameJSON(t, run, &types.DrillRun{})
}

// sameJSON decodes sent's JSON strictly into into and checks it encodes
// back to the same document.
func sameJSON(t *testing.T, sent, into any) {
	t.Helper()
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%T: %v\n%s", into, err, b)
	}
	back, err := json.Marshal(into)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(back, &y); err != nil {
		t.Fatal(err)
	}
	if xb, yb := mustJSON(t, x), mustJSON(t, y); !bytes.Equal(xb, yb) {
		t.Fatalf("%T loses or changes fields:\nsent %s\ngot  %s", into, xb, yb)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
