package api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/events"
)

// TestEventStreamHeartbeat: the event stream sends a named ping event at
// once and then every HeartbeatEvery, so a console can tell a silent node
// from a quiet one.
func TestEventStreamHeartbeat(t *testing.T) {
	st := openStore(t, false)
	acc := accounts.New(st, accounts.Options{LoginsPerMinute: 1000})
	srv := api.New(api.Deps{TokenHash: sha256.Sum256([]byte(nodeToken)), Store: st, Accounts: acc,
		Events: &events.Hub{}, Log: zaptest.NewLogger(t)})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*api.HeartbeatEvery)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+nodeToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("HTTP %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	pings := 0
	var first time.Time
	for pings < 3 && sc.Scan() {
		if sc.Text() != "event: ping" {
			continue
		}
		pings++
		if pings == 1 {
			first = time.Now()
		}
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), `data: {"every_ms":`) {
			t.Fatalf("ping without its period: %q", sc.Text())
		}
	}
	if pings < 3 {
		t.Fatalf("%d pings before the stream ended (%v)", pings, sc.Err())
	}
	// Two periods passed between the first ping and the third: the pings
	// are periodic, not a burst at connect.
	if d := time.Since(first); d < api.HeartbeatEvery {
		t.Errorf("three pings within %v", d)
	}
}
