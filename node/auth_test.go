package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
)

// session is a browser-like client: the API client with a cookie jar the
// test can look into.
type session struct {
	*client.Client
	t   *testing.T
	jar *cookiejar.Jar
}

func (f *federation) login(cc, user, password string) (*session, int, map[string]any) {
	f.t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{t: f.t, jar: jar,
		Client: client.New(f.entry(cc).API, client.WithHTTPClient(&http.Client{Jar: jar, Timeout: client.DefaultTimeout}))}
	var out map[string]any
	status := http.StatusOK
	if err := s.Login(context.Background(), user, password, "", &out); err != nil {
		if status = client.StatusOf(err); status == 0 {
			f.t.Fatal(err)
		}
	}
	return s, status, out
}

// do calls the API in the session, with or without its CSRF token, and
// returns the status and the body.
func (s *session) do(method, path string, body []byte, csrf bool) (int, []byte) {
	s.t.Helper()
	if !csrf {
		tok := s.CSRF()
		s.SetCSRF("")
		defer s.SetCSRF(tok)
	}
	var raw json.RawMessage
	status, err := s.Do(context.Background(), method, path, body, &raw)
	var e *client.Error
	switch {
	case errors.As(err, &e):
		return e.Status, e.Body
	case err != nil:
		s.t.Fatal(err)
	}
	return status, raw
}

func (f *federation) addUser(cc, name, role, password string) {
	f.t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name, "role": role, "password": password})
	if code := f.api(cc, "POST", "/api/v1/users", b, nil); code != http.StatusCreated {
		f.t.Fatalf("add user %s: HTTP %d", name, code)
	}
}

func TestConsoleAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	f.addUser("FR", "alice", "operator", "alice-long-passphrase")
	f.addUser("FR", "olga", "auditor", "olga-long-passphrase")
	f.addUser("FR", "sam", "supervisor", "sam-long-passphrase")

	t.Run("wrong password refused, right one gives a session cookie", func(t *testing.T) {
		if _, code, _ := f.login("FR", "alice", "wrong-password-here"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password: HTTP %d", code)
		}
		if _, code, _ := f.login("FR", "nobody", "wrong-password-here"); code != http.StatusUnauthorized {
			t.Fatalf("unknown user: HTTP %d", code)
		}
		s, code, me := f.login("FR", "alice", "alice-long-passphrase")
		if code != http.StatusOK || me["role"] != "operator" || s.CSRF() == "" {
			t.Fatalf("login: HTTP %d %v", code, me)
		}
		u, _ := url.Parse(s.Base())
		cookies := s.jar.Cookies(u)
		// One cookie per node (host and port): two consoles in one browser
		// must not log each other out.
		if len(cookies) != 1 || cookies[0].Name != "vigil_session_"+strings.NewReplacer(".", "_", ":", "_").Replace(u.Host) {
			t.Fatalf("session cookie not set per node: %v", cookies)
		}
	})

	t.Run("two nodes' consoles in one browser keep their sessions", func(t *testing.T) {
		f.addUser("DE", "dora", "operator", "dora-long-passphrase")
		jar, _ := cookiejar.New(nil) // one browser: cookies are shared across the ports of 127.0.0.1
		open := func(cc, user, pass string) *client.Client {
			c := client.New(f.entry(cc).API, client.WithHTTPClient(&http.Client{Jar: jar, Timeout: client.DefaultTimeout}))
			if err := c.Login(context.Background(), user, pass, "", nil); err != nil {
				t.Fatalf("login %s on %s: %v", user, cc, err)
			}
			return c
		}
		fr := open("FR", "alice", "alice-long-passphrase")
		de := open("DE", "dora", "dora-long-passphrase")
		for name, c := range map[string]*client.Client{"FR": fr, "DE": de} {
			var me map[string]any
			if _, err := c.Do(context.Background(), "GET", "/api/v1/me", nil, &me); err != nil {
				t.Fatalf("%s session lost after the other node's login: %v", name, err)
			}
		}
	})

	t.Run("state changes without the CSRF token are refused", func(t *testing.T) {
		s, _, _ := f.login("FR", "alice", "alice-long-passphrase")
		req := exampleRequest(t, "DE")
		if code, _ := s.do("POST", "/api/v1/requests", req, false); code != http.StatusForbidden {
			t.Fatalf("POST without CSRF: HTTP %d, want 403", code)
		}
		s.SetCSRF("forged")
		if code, _ := s.do("POST", "/api/v1/requests", req, true); code != http.StatusForbidden {
			t.Fatalf("POST with a wrong CSRF token: HTTP %d, want 403", code)
		}
		s2, _, _ := f.login("FR", "alice", "alice-long-passphrase")
		if code, b := s2.do("POST", "/api/v1/requests", req, true); code != http.StatusCreated {
			t.Fatalf("POST with CSRF: HTTP %d %s", code, b)
		}
		// Reads need no CSRF token.
		if code, _ := s2.do("GET", "/api/v1/cases", nil, false); code != http.StatusOK {
			t.Fatalf("GET cases: HTTP %d", code)
		}
	})

	t.Run("roles: auditor sees metadata only, operator cannot manage users", func(t *testing.T) {
		sub := f.submit("FR", "DE")
		aud, _, _ := f.login("FR", "olga", "olga-long-passphrase")
		code, b := aud.do("GET", "/api/v1/cases/"+sub.CaseID, nil, false)
		if code != http.StatusOK || strings.Contains(string(b), "facts_summary") || strings.Contains(string(b), `"request": {`) {
			t.Fatalf("auditor case view: HTTP %d, contents leaked: %v", code, strings.Contains(string(b), "facts_summary"))
		}
		if code, _ := aud.do("POST", "/api/v1/requests", exampleRequest(t, "DE"), true); code != http.StatusForbidden {
			t.Fatalf("auditor submitted a request: HTTP %d", code)
		}
		if code, _ := aud.do("GET", "/api/v1/audit/verify", nil, false); code != http.StatusOK {
			t.Fatalf("auditor audit verify: HTTP %d", code)
		}
		op, _, _ := f.login("FR", "alice", "alice-long-passphrase")
		if code, _ := op.do("GET", "/api/v1/users", nil, false); code != http.StatusForbidden {
			t.Fatalf("operator listed users: HTTP %d", code)
		}
		code, b = op.do("GET", "/api/v1/cases/"+sub.CaseID, nil, false)
		if code != http.StatusOK || !strings.Contains(string(b), "facts_summary") {
			t.Fatalf("operator case view lacks contents: HTTP %d", code)
		}
		sup, _, _ := f.login("FR", "sam", "sam-long-passphrase")
		if code, b := sup.do("POST", "/api/v1/cases/"+sub.CaseID+"/assign", []byte(`{"user":"alice"}`), true); code != http.StatusOK {
			t.Fatalf("supervisor assign: HTTP %d %s", code, b)
		}
		if code, _ := op.do("POST", "/api/v1/cases/"+sub.CaseID+"/assign", []byte(`{"user":"alice"}`), true); code != http.StatusForbidden {
			t.Fatalf("operator assigned a case: HTTP %d", code)
		}
	})

	t.Run("personal API token: shown once, works as bearer, revocable", func(t *testing.T) {
		s, _, _ := f.login("FR", "alice", "alice-long-passphrase")
		code, b := s.do("POST", "/api/v1/tokens", []byte(`{"name":"laptop cli"}`), true)
		var tok struct{ ID, Token string }
		json.Unmarshal(b, &tok)
		if code != http.StatusCreated || !strings.HasPrefix(tok.Token, "vgt_") {
			t.Fatalf("create token: HTTP %d %s", code, b)
		}
		bearer := client.New(s.Base(), client.WithToken(tok.Token))
		var me map[string]any
		if err := bearer.Get(context.Background(), "/api/v1/me", &me); err != nil || me["name"] != "alice" {
			t.Fatalf("token auth: %v %v", err, me)
		}
		if code, _ := s.do("DELETE", "/api/v1/tokens/"+tok.ID, nil, true); code != http.StatusNoContent {
			t.Fatalf("revoke: HTTP %d", code)
		}
		if err := bearer.Get(context.Background(), "/api/v1/me", nil); client.StatusOf(err) != http.StatusUnauthorized {
			t.Fatalf("revoked token still works: %v", err)
		}
	})

	t.Run("repeated failures raise an alert and slow the source, never lock the account", func(t *testing.T) {
		f.addUser("FR", "mallory", "operator", "mallory-long-passphrase")
		for i, try := 0, 0; i < 5; try++ {
			if try > 30 {
				t.Fatal("5 failed logins took over 30 tries")
			}
			_, code, out := f.login("FR", "mallory", "not-the-password")
			switch code {
			case http.StatusUnauthorized:
				i++
			case http.StatusTooManyRequests: // backoff: wait and try again
				time.Sleep(time.Second)
			default:
				t.Fatalf("failure %d: HTTP %d %v", i+1, code, out)
			}
		}
		for try := 0; ; try++ {
			_, code, _ := f.login("FR", "mallory", "mallory-long-passphrase")
			if code == http.StatusOK {
				break
			}
			if code != http.StatusTooManyRequests || try > 30 {
				t.Fatalf("right password after 5 failures: HTTP %d, want 200 after the backoff", code)
			}
			time.Sleep(time.Second)
		}
		var out struct {
			Alerts []struct{ Kind string } `json:"alerts"`
		}
		f.api("FR", "GET", "/api/v1/alerts", nil, &out)
		found := false
		for _, a := range out.Alerts {
			found = found || a.Kind == "login_lockout"
		}
		if !found {
			t.Fatal("no login_lockout alert")
		}
	})

	t.Run("logout ends the session", func(t *testing.T) {
		s, _, _ := f.login("FR", "alice", "alice-long-passphrase")
		if code, _ := s.do("POST", "/api/v1/logout", nil, true); code != http.StatusNoContent {
			t.Fatalf("logout: HTTP %d", code)
		}
		if code, _ := s.do("GET", "/api/v1/me", nil, false); code != http.StatusUnauthorized {
			t.Fatalf("after logout: HTTP %d", code)
		}
	})
}
