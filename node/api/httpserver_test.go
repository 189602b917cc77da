package api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/events"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// serveHardened serves an API over st and hub with the given server
// options on 127.0.0.1.
func serveHardened(t *testing.T, st *store.Store, hub *events.Hub, o api.ServerOptions) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := zaptest.NewLogger(t)
	srv := api.New(api.Deps{Country: "FR", TokenHash: sha256.Sum256([]byte(nodeToken)), Store: st,
		Accounts: accounts.New(st, accounts.Options{}), Events: hub, Context: ctx, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, capped := api.HTTPServer(ctx, srv, ln, o, log)
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(capped) }()
	t.Cleanup(func() { cancel(); hs.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// Issue 12: the event stream is not cut by the server's write or read
// timeout while the console reads it: each write gets its own window.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	st := openStore(t, false)
	hub := &events.Hub{}
	base := serveHardened(t, st, hub, api.ServerOptions{WriteTimeout: time.Second, ReadTimeout: time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+nodeToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: HTTP %d", resp.StatusCode)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(resp.Body)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "event: ") {
				lines <- l
			}
		}
	}()
	// Eight alerts over four seconds: four times the write timeout.
	for i := range 8 {
		time.Sleep(500 * time.Millisecond)
		id := fmt.Sprintf("test/%d", i)
		if err := st.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.RaiseAlert(&store.Alert{ID: id, Kind: "test", Severity: "info", Message: "m", RaisedAt: time.Now()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		hub.Alert(id)
		select {
		case _, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended after %d events (%v)", i, time.Duration(i+1)*500*time.Millisecond)
			}
		case <-ctx.Done():
			t.Fatal("no event within a minute")
		}
	}
}

// Issue 12: every answer, JSON and errors included, says nosniff and
// carries a restrictive CSP; console pages carry the console's.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	st := openStore(t, false)
	base := serveHardened(t, st, &events.Hub{}, api.ServerOptions{})
	for _, c := range []struct{ method, path, csp string }{
		{"GET", "/api/v1/cases", "default-src 'none'"},         // 401
		{"GET", "/api/v1/no-such-route", "default-src 'none'"}, // 404
		{"PUT", "/api/v1/openapi.json", "default-src 'none'"},  // 405
		{"POST", "/api/v1/login", "default-src 'none'"},        // 415
		{"GET", "/api/v1/openapi.json", "default-src 'none'"},
		{"GET", "/", "default-src 'self'"},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), c.csp) {
			t.Errorf("%s %s (HTTP %d): nosniff %q, CSP %q", c.method, c.path, resp.StatusCode,
				resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// Issue 12: an over-long header is refused, not read without bound.
func TestMaxHeaderBytes(t *testing.T) {
	st := openStore(t, false)
	base := serveHardened(t, st, &events.Hub{}, api.ServerOptions{})
	req, _ := http.NewRequest("GET", base+"/api/v1/openapi.json", nil)
	req.Header.Set("X-Junk", strings.Repeat("a", 200<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("200 KiB header: HTTP %d, want 431", resp.StatusCode)
	}
}

// Issue 12: an upper-case case ID is refused with a field error, not
// taken for another case.
func TestUpperCaseIDRefused(t *testing.T) {
	st := openStore(t, false)
	base := serveHardened(t, st, &events.Hub{}, api.ServerOptions{})
	id := strings.ToUpper(protocol.NewID(time.Now()))
	for _, path := range []string{"/api/v1/cases/" + id, "/api/v1/drafts/" + id} {
		var body types.ErrorBody
		status, err := client.New(base, client.WithToken(nodeToken)).Do(context.Background(), "GET", path, nil, &body)
		var ce *client.Error
		if !errors.As(err, &ce) || status != 0 && status != http.StatusBadRequest || ce.Status != http.StatusBadRequest ||
			len(ce.Fields) != 1 || ce.Fields[0].Field != "id" || !strings.Contains(ce.Fields[0].Message, strings.ToLower(id)) {
			t.Errorf("GET %s: %v %+v, want 400 with a field error on id", path, err, ce)
		}
	}
}
