package flood

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/bench"
)

// TestRunShort runs both phases for two seconds each on a real three-node
// testnet (victim and honest member in this process, the hostile member a
// driver) and checks the report is complete. It asserts nothing about
// speed.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and a hostile driver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Harness: bench.Harness{Dir: t.TempDir(), StoreProfile: "small"},
		Duration: 2 * time.Second, HonestRate: 5, FloodStreams: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, ph := range map[string]Phase{"unloaded": rep.Unloaded, "flooded": rep.Flooded} {
		if ph.Sent == 0 || ph.Delivered == 0 || ph.Honest.N != ph.Delivered || ph.Honest.P99 <= 0 {
			t.Errorf("%s: %d sent, %d delivered, honest %+v", name, ph.Sent, ph.Delivered, ph.Honest)
		}
	}
	if rep.Flood.Sent == 0 || rep.DeliverLimit <= 0 || rep.FloodRate != 10*rep.DeliverLimit || rep.P99Ratio <= 0 {
		t.Errorf("flood %+v, limit %.1f/s, aimed at %.1f/s, p99 ratio %.2f", rep.Flood, rep.DeliverLimit, rep.FloodRate, rep.P99Ratio)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"honest p99", "victim store growth", "GOAL honest p99 under flood"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"honest":{"n":`)) || !bytes.Contains(b, []byte(`"p99_ms":`)) {
		t.Errorf("JSON: %s", b)
	}
}
