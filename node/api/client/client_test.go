package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
)

// seen is what the test server saw of the last request.
type seen struct {
	Method, Path, Auth, CSRF, ContentType, Body string
	Cookie                                      bool
}

func newServer(t *testing.T, last *seen) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, err := r.Cookie(client.SessionCookie)
		*last = seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-CSRF-Token"),
			r.Header.Get("Content-Type"), string(b), err == nil}
	}
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		var in struct{ Username, Password string }
		json.Unmarshal([]byte(last.Body), &in)
		if in.Password != "right" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error": "wrong user name or password"}`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: client.SessionCookie, Value: "s3cret", Path: "/", HttpOnly: true, Secure: true})
		io.WriteString(w, `{"name": "alice", "role": "operator", "csrf_token": "csrf-1"}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"method": "`+r.Method+`"}`)
	})
	mux.HandleFunc("/invalid", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"error": "request is invalid", "fields": [{"field": "to", "message": "is not a member"}]}`)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestBearerTokenAndBodies(t *testing.T) {
	var last seen
	srv := newServer(t, &last)
	c := client.New(srv.URL+"/", client.WithToken(" tok-1\n"))
	ctx := context.Background()

	var out struct{ Method string }
	status, err := c.Do(ctx, http.MethodPut, "/echo", map[string]int{"n": 1}, &out)
	if err != nil || status != http.StatusCreated || out.Method != "PUT" {
		t.Fatalf("Do = %d, %v, %+v", status, err, out)
	}
	if last.Auth != "Bearer tok-1" || last.ContentType != "application/json" || last.Body != `{"n":1}` || last.CSRF != "" {
		t.Errorf("request as sent: %+v", last)
	}
	// Bytes go as they are; no body, no Content-Type.
	if err := c.Post(ctx, "/echo", []byte(`{"raw": true}`), nil); err != nil || last.Body != `{"raw": true}` {
		t.Errorf("raw body: %v, sent %q", err, last.Body)
	}
	var raw json.RawMessage
	if err := c.Get(ctx, "/echo", &raw); err != nil || last.ContentType != "" || last.Body != "" || string(raw) != `{"method": "GET"}` {
		t.Errorf("GET: %v, %+v, raw %s", err, last, raw)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	var last seen
	srv := newServer(t, &last)
	c := client.New(srv.URL)
	ctx := context.Background()

	err := c.Post(ctx, "/invalid", map[string]string{}, nil)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Message != "request is invalid" ||
		len(e.Fields) != 1 || e.Fields[0] != (protocol.FieldError{Field: "to", Message: "is not a member"}) {
		t.Fatalf("error = %#v", err)
	}
	if e.Method != "POST" || e.Path != "/invalid" || !strings.Contains(string(e.Body), "fields") {
		t.Errorf("error lacks the request or body: %+v", e)
	}
	if got, want := e.Text(), "request is invalid\n  to: is not a member"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	if got := e.Error(); got != "POST /invalid: HTTP 422: request is invalid\n  to: is not a member" {
		t.Errorf("Error() = %q", got)
	}
	if client.StatusOf(err) != http.StatusUnprocessableEntity || client.StatusOf(errors.New("x")) != 0 {
		t.Error("StatusOf")
	}

	// An answer that is not the API's error body keeps the HTTP status.
	err = c.Get(ctx, "/plain", nil)
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Message != "502 Bad Gateway" || !strings.Contains(string(e.Body), "exploded") {
		t.Fatalf("plain error = %#v", err)
	}
}

func TestTimeouts(t *testing.T) {
	var last seen
	srv := newServer(t, &last)
	start := time.Now()
	if err := client.New(srv.URL, client.WithTimeout(100*time.Millisecond)).Get(context.Background(), "/slow", nil); err == nil || client.StatusOf(err) != 0 {
		t.Fatalf("slow answer: %v, want a timeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := client.New(srv.URL).Get(ctx, "/slow", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeouts took %s", d)
	}
}

func TestSession(t *testing.T) {
	var last seen
	srv := newServer(t, &last)
	ctx := context.Background()
	c := client.New(srv.URL, client.WithSession())
	if err := c.Login(ctx, "alice", "wrong", "", nil); client.StatusOf(err) != http.StatusUnauthorized || c.CSRF() != "" {
		t.Fatalf("wrong password: %v, csrf %q", err, c.CSRF())
	}
	var me struct{ Name, Role string }
	if err := c.Login(ctx, "alice", "right", "", &me); err != nil || me.Name != "alice" || c.CSRF() != "csrf-1" {
		t.Fatalf("login: %v %+v csrf %q", err, me, c.CSRF())
	}
	if last.Body != `{"password":"right","username":"alice"}` {
		t.Errorf("login body %s", last.Body)
	}
	// The cookie goes with every call, the CSRF token with state changes.
	if err := c.Get(ctx, "/echo", nil); err != nil || !last.Cookie || last.CSRF != "" {
		t.Errorf("GET in session: %v %+v", err, last)
	}
	if err := c.Delete(ctx, "/echo"); err != nil || !last.Cookie || last.CSRF != "csrf-1" {
		t.Errorf("DELETE in session: %v %+v", err, last)
	}
	c.SetCSRF("")
	if err := c.Patch(ctx, "/echo", nil, nil); err != nil || last.CSRF != "" {
		t.Errorf("PATCH without CSRF: %v %+v", err, last)
	}
	// A client without WithSession keeps no cookie.
	plain := client.New(srv.URL)
	if err := plain.Login(ctx, "alice", "right", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := plain.Get(ctx, "/echo", nil); err != nil || last.Cookie {
		t.Errorf("cookie kept without WithSession: %v %+v", err, last)
	}
}

func TestStream(t *testing.T) {
	var last seen
	srv := newServer(t, &last)
	c := client.New(srv.URL, client.WithToken("tok-2"), client.WithTimeout(0))
	ctx := context.Background()

	body, err := c.Stream(ctx, "/echo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(b) != `{"method": "GET"}` || last.Auth != "Bearer tok-2" {
		t.Errorf("stream = %q, %v; request %+v", b, err, last)
	}
	if _, err := c.Stream(ctx, "/plain"); client.StatusOf(err) != http.StatusBadGateway {
		t.Errorf("stream of a 502 = %v, want a *client.Error with its status", err)
	}
}

// TestSubmitRequestIdempotencyKey: SubmitRequest sends the key as the
// Idempotency-Key header (none for ""), and reports Idempotent-Replayed.
func TestSubmitRequestIdempotencyKey(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/requests" {
			http.NotFound(w, r)
			return
		}
		got = r.Header.Values(types.IdempotencyKeyHeader)
		if len(got) == 1 && got[0] == "seen" {
			w.Header().Set(types.IdempotentReplayedHeader, "true")
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"case_id": "c1", "message_id": "m1"}`)
	}))
	defer srv.Close()
	c := client.New(srv.URL, client.WithToken("tok"))
	for _, tc := range []struct {
		key      string
		replayed bool
	}{{"", false}, {"fresh", false}, {"seen", true}} {
		sub, err := c.SubmitRequest(context.Background(), []byte(`{}`), tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{tc.key}; tc.key == "" && len(got) != 0 || tc.key != "" && (len(got) != 1 || got[0] != want[0]) {
			t.Errorf("key %q: server saw %q", tc.key, got)
		}
		if sub.CaseID != "c1" || sub.MessageID != "m1" || sub.Replayed != tc.replayed {
			t.Errorf("key %q: %+v, want replayed %v", tc.key, sub, tc.replayed)
		}
	}
}
