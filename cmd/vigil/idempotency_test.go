package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestCLIRequestSendIdempotencyKey: request send always sends an
// Idempotency-Key (a random one per invocation unless --idempotency-key
// gives it), sends once more with the same key when the first attempt
// gets no answer, and says when the node answered with an earlier
// submission.
func TestCLIRequestSendIdempotencyKey(t *testing.T) {
	var (
		mu     sync.Mutex
		keys   []string
		bodies []string
		drop   = map[int]bool{} // attempts (0-based) answered by closing the connection
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(keys)
		keys = append(keys, strings.Join(r.Header.Values("Idempotency-Key"), ","))
		bodies = append(bodies, string(b))
		dropIt := drop[n]
		mu.Unlock()
		if dropIt {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // no answer: as if the node died mid-call
			}
			return
		}
		if r.Header.Get("Idempotency-Key") == "seen-before" {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"case_id": "0123456789abcdef0123456789abcdef", "message_id": "fedcba9876543210fedcba9876543210"}`)
	}))
	// No keep-alive: every attempt has a fresh connection, so the HTTP
	// transport never retries on its own (it does, once, for a request
	// with an Idempotency-Key on a reused connection) and the test sees
	// the CLI's own attempts only.
	srv.Config.SetKeepAlivesEnabled(false)
	defer srv.Close()
	cli := cliNode{API: srv.URL, Token: "test-token", Country: "XX"}
	reset := func(dropped ...int) {
		mu.Lock()
		defer mu.Unlock()
		keys, bodies, drop = nil, nil, map[int]bool{}
		for _, d := range dropped {
			drop[d] = true
		}
	}
	const file = "../../configs/examples/preservation.json"

	reset(0)
	out, err := cli.run(t, "", "request", "send", "--file", file)
	mustContain(t, "request send after a lost answer", out, err, "accepted and stored; delivering", "sending again with Idempotency-Key")
	if len(keys) != 2 || keys[0] != keys[1] || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(keys[0]) || bodies[0] != bodies[1] {
		t.Fatalf("attempts sent keys %q (want one new UUIDv7 key, twice, with one body)", keys)
	}
	generated := keys[0]

	reset()
	out, err = cli.run(t, "", "request", "send", "--file", file)
	mustContain(t, "request send", out, err, "accepted and stored; delivering")
	if len(keys) != 1 || keys[0] == generated || keys[0] == "" {
		t.Fatalf("a second invocation sent keys %q (the first used %s)", keys, generated)
	}

	reset()
	out, err = cli.run(t, "", "request", "send", "--file", file, "--idempotency-key", "seen-before")
	mustContain(t, "request send --idempotency-key (replayed)", out, err, "accepted earlier with this Idempotency-Key", "case:    0123456789abcdef0123456789abcdef")
	if len(keys) != 1 || keys[0] != "seen-before" {
		t.Fatalf("sent keys %q, want the given one", keys)
	}

	reset(0, 1)
	_, err = cli.run(t, "", "request", "send", "--file", file, "--idempotency-key", "lost-twice")
	mustFail(t, "request send with no answer twice", err, "request not sent", "retry with --idempotency-key lost-twice")
	if len(keys) != 2 {
		t.Fatalf("%d attempts, want 2", len(keys))
	}
}
