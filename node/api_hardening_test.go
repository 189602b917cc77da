package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/vigil-network/vigil/node/config"
)

// Issue 12, "Security of the API and console": these tests run against a
// real node's API on 127.0.0.1.

// rawLogin posts a login as a browser or a script would, with the given
// headers, and returns the status, the Retry-After and the body.
func rawLogin(t *testing.T, base string, hdr map[string]string, body string) (int, time.Duration, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/v1/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// A generous deadline is the failure condition, not a measurement.
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, time.Duration(secs) * time.Second, string(b)
}

func loginBody(user, pass, code string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": pass, "totp": code})
	return string(b)
}

var asJSON = map[string]string{"Content-Type": "application/json"}

// loginWaiting logs in, waiting out a backoff at most twice, and fails
// the test if the login does not succeed.
func loginWaiting(t *testing.T, base, user, pass string, code func() string) {
	t.Helper()
	for try := 0; ; try++ {
		c := ""
		if code != nil {
			c = code()
		}
		status, wait, body := rawLogin(t, base, asJSON, loginBody(user, pass, c))
		switch {
		case status == http.StatusOK:
			return
		case status == http.StatusTooManyRequests && try < 2:
			if wait <= 0 || wait > 5*time.Minute {
				t.Fatalf("login of %s held back with Retry-After %v: %s", user, wait, body)
			}
			time.Sleep(wait)
		default:
			t.Fatalf("real user %s with the right credentials: HTTP %d %s", user, status, body)
		}
	}
}

func TestLoginAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	cc := "FR"
	base := f.entry(cc).API
	f.addUser(cc, "alice", "operator", "alice-long-passphrase")
	f.addUser(cc, "bob", "operator", "bob-long-passphrase")
	f.addUser(cc, "carol", "operator", "carol-long-passphrase")

	t.Run("cross-site and non-JSON logins refused", func(t *testing.T) {
		u, _ := url.Parse(base)
		for _, c := range []struct {
			name string
			hdr  map[string]string
			want int
		}{
			{"a form's text/plain simple POST", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
			{"a urlencoded form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
			{"no Content-Type", nil, http.StatusUnsupportedMediaType},
			{"text/plain from another site", map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, http.StatusUnsupportedMediaType},
			{"JSON with another Origin", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, http.StatusForbidden},
			{"JSON with Origin null", map[string]string{"Content-Type": "application/json", "Origin": "null"}, http.StatusForbidden},
			{"Sec-Fetch-Site cross-site", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		} {
			status, _, body := rawLogin(t, base, c.hdr, loginBody("alice", "alice-long-passphrase", ""))
			if status != c.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: HTTP %d %s, want %d with an error", c.name, status, body, c.want)
			}
		}
		// The console's own page: same origin, JSON.
		status, _, body := rawLogin(t, base, map[string]string{"Content-Type": "application/json; charset=utf-8",
			"Origin": "http://" + u.Host, "Sec-Fetch-Site": "same-origin"}, loginBody("alice", "alice-long-passphrase", ""))
		if status != http.StatusOK {
			t.Fatalf("same-origin JSON login: HTTP %d %s", status, body)
		}
	})

	t.Run("junk user names do not throttle a real user", func(t *testing.T) {
		throttled := 0
		for i := range 40 { // over the node's 30 a minute for unknown names
			status, _, _ := rawLogin(t, base, asJSON, loginBody(fmt.Sprintf("junk%d", i), "whatever-password", ""))
			if status == http.StatusTooManyRequests {
				throttled++
			}
		}
		if throttled == 0 {
			t.Fatal("40 unknown names from one address were never throttled")
		}
		// Same address (loopback), a real user: no wait at all.
		if status, _, body := rawLogin(t, base, asJSON, loginBody("bob", "bob-long-passphrase", "")); status != http.StatusOK {
			t.Fatalf("bob after the junk names: HTTP %d %s", status, body)
		}
	})

	t.Run("an attacker's failures never keep the real user out", func(t *testing.T) {
		// alice enrols a second factor.
		s, code, _ := f.login(cc, "alice", "alice-long-passphrase")
		if code != http.StatusOK {
			t.Fatalf("login: HTTP %d", code)
		}
		status, raw := s.do("POST", "/api/v1/me/totp", nil, true)
		var enrol struct{ Secret string }
		if status != http.StatusOK || json.Unmarshal(raw, &enrol) != nil || enrol.Secret == "" {
			t.Fatalf("begin TOTP: HTTP %d %s", status, raw)
		}
		now, _ := totp.GenerateCode(enrol.Secret, time.Now())
		b, _ := json.Marshal(map[string]string{"code": now})
		if status, raw := s.do("POST", "/api/v1/me/totp/confirm", b, true); status != http.StatusOK {
			t.Fatalf("confirm TOTP: HTTP %d %s", status, raw)
		}
		// One step of skew is accepted: a code for the next step is fresh.
		nextCode := func() string {
			c, _ := totp.GenerateCode(enrol.Secret, time.Now().Add(30*time.Second))
			return c
		}

		// The attacker, from the same address, hammers alice's account.
		const attempts = 60
		var refused, checked int
		for range attempts {
			status, wait, _ := rawLogin(t, base, asJSON, loginBody("alice", "guess-"+strconv.Itoa(checked), "123456"))
			switch status {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
				refused++
				if wait <= 0 {
					t.Fatal("429 without Retry-After")
				}
			default:
				t.Fatalf("attacker: HTTP %d", status)
			}
		}
		if refused == 0 {
			t.Fatalf("%d failed logins in a row were never slowed down", attempts)
		}
		// Other users behind the same address are not held.
		if status, _, body := rawLogin(t, base, asJSON, loginBody("carol", "carol-long-passphrase", "")); status != http.StatusOK {
			t.Fatalf("carol during the attack on alice: HTTP %d %s", status, body)
		}
		// alice, with her password and code, is in after at most the backoff.
		loginWaiting(t, base, "alice", "alice-long-passphrase", nextCode)

		// An admin clears a backoff at once.
		for range 10 {
			rawLogin(t, base, asJSON, loginBody("bob", "not-bobs-password", ""))
		}
		if status, _, _ := rawLogin(t, base, asJSON, loginBody("bob", "bob-long-passphrase", "")); status != http.StatusTooManyRequests {
			t.Fatalf("bob after 10 failures: HTTP %d, want 429", status)
		}
		if code := f.api(cc, "PATCH", "/api/v1/users/bob", []byte(`{"unlock":true}`), nil); code != http.StatusOK {
			t.Fatalf("unlock: HTTP %d", code)
		}
		if status, _, body := rawLogin(t, base, asJSON, loginBody("bob", "bob-long-passphrase", "")); status != http.StatusOK {
			t.Fatalf("bob after unlock: HTTP %d %s", status, body)
		}
	})
}

// slowConn opens a connection from local (a loopback address of its own)
// and starts a login whose body never finishes.
func slowConn(t *testing.T, local, apiAddr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", apiAddr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", apiAddr)
	return c
}

// answered says how the node treated a slow connection: "" if it is
// still waiting for the body (accepted), else its status line, or
// "closed" if it closed the connection without one.
func answered(c net.Conn) string {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	defer c.SetReadDeadline(time.Time{})
	line, err := bufio.NewReader(c).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() && line == "" {
		return ""
	}
	if line == "" {
		return "closed"
	}
	return strings.TrimSpace(line)
}

func TestSlowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	const perAddr, total = 100, 220
	f := newFederationWith(t, 2, func(cc string, cfg *config.Config) {
		cfg.API.MaxConnections, cfg.API.MaxConnectionsPerAddress = total, perAddr
		if cc == "FR" {
			cfg.API.ReadTimeout = 2 * time.Second
		}
	})
	f.addUser("DE", "alice", "operator", "alice-long-passphrase")
	base := f.entry("DE").API
	apiAddr := strings.TrimPrefix(base, "http://")

	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	// dribble sends one more body byte every 2 s until the test ends.
	dribble := func(c net.Conn) {
		wg.Go(func() {
			tick := time.NewTicker(2 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		})
	}
	// open opens n slow connections from local and counts how the node
	// took them: accepted (waiting for the body), refused with a 503, or
	// closed without an answer (past the refusals it answers at once).
	open := func(local string, n int) (accepted, refused, closed int) {
		cs := make([]net.Conn, n)
		for i := range cs {
			cs[i] = slowConn(t, local, apiAddr)
		}
		mu.Lock()
		conns = append(conns, cs...)
		mu.Unlock()
		how := make([]string, n)
		var check sync.WaitGroup
		for i, c := range cs {
			check.Go(func() { how[i] = answered(c) })
		}
		check.Wait()
		for i, h := range how {
			switch {
			case h == "":
				accepted++
				dribble(cs[i])
			case strings.HasPrefix(h, "HTTP/1.1 503"):
				refused++
			case h == "closed":
				closed++
			default:
				t.Fatalf("slow connection answered %q", h)
			}
		}
		return accepted, refused, closed
	}
	healthy := func() int {
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(base + "/healthz")
		if err != nil {
			t.Fatalf("/healthz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("hundreds of slow connections from one address", func(t *testing.T) {
		acc, ref, closed := open("127.0.0.2", 300)
		if acc != perAddr || ref+closed != 300-perAddr || ref == 0 {
			t.Fatalf("%d accepted, %d refused with 503, %d closed; want %d accepted, the rest refused", acc, ref, closed, perAddr)
		}
		if code := healthy(); code != http.StatusOK {
			t.Fatalf("/healthz with 300 slow connections: HTTP %d", code)
		}
		loginWaiting(t, base, "alice", "alice-long-passphrase", nil)
	})

	t.Run("over the total cap: a clear 503", func(t *testing.T) {
		acc, _, _ := open("127.0.0.3", 150) // 100 + 100 slow ones hold 200 of 220
		acc4, ref4, closed4 := open("127.0.0.4", 50)
		// The test's own idle keep-alive connections count too.
		if n := acc + acc4; n > total-perAddr || n < total-perAddr-5 || ref4+closed4 != 50-acc4 {
			t.Fatalf("accepted %d + %d (want about %d in all), refused %d, closed %d", acc, acc4, total-perAddr, ref4, closed4)
		}
		fresh := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := fresh.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("/healthz over the cap: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!bytes.Contains(body, []byte("too many connections")) {
			t.Fatalf("over the cap: HTTP %d %s, want a 503 saying why", resp.StatusCode, body)
		}
		// Once the slow clients go, the node answers again.
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		deadline := time.Now().Add(30 * time.Second)
		for healthy() != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatal("/healthz still refused 30 s after the slow clients left")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("a slow request is cut off at the read timeout", func(t *testing.T) {
		c := slowConn(t, "127.0.0.5", strings.TrimPrefix(f.entry("FR").API, "http://"))
		defer c.Close()
		if line := answered(c); line != "" {
			t.Fatalf("answered at once: %q", line)
		}
		done := make(chan error, 1)
		go func() {
			// Keep dribbling: only the read timeout (2 s) can end it.
			for range 30 {
				if _, err := c.Write([]byte(" ")); err != nil {
					done <- err
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
			done <- nil
		}()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.Copy(io.Discard, c) // until the node closes it
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the node kept a slow request open for 30 s (read_timeout 2s)")
		}
		c.Close()
		<-done
	})
}

// The event stream outlives the write timeout: each event gets its own
// write window, and the read timeout does not end it.
func TestSlowClientEventStreamOutlivesTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederationWith(t, 2, func(_ string, cfg *config.Config) { cfg.API.ReadTimeout = time.Second })
	cc := "FR"
	f.addUser(cc, "alice", "operator", "alice-long-passphrase")
	s, code, _ := f.login(cc, "alice", "alice-long-passphrase")
	if code != http.StatusOK {
		t.Fatalf("login: HTTP %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.entry(cc).API+"/api/v1/events", nil)
	u, _ := url.Parse(f.entry(cc).API)
	for _, ck := range s.jar.Cookies(u) {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: HTTP %d", resp.StatusCode)
	}
	// Well past the read timeout (1 s), the stream still carries a change.
	r := bufio.NewReader(resp.Body)
	time.Sleep(3 * time.Second)
	f.submit("FR", "DE")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after the read timeout: %v", err)
		}
		if strings.HasPrefix(line, "event: ") {
			return
		}
	}
}

// Issue 12: /metrics needs credentials, and per-country series are opt-in.
func TestMetricsNeedCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	const scrapeToken = "scrape-token-0123456789abcdef"
	f := newFederationWith(t, 2, func(cc string, cfg *config.Config) {
		if cc == "FR" {
			path := cfg.Path("keys/scrape.token")
			if err := os.WriteFile(path, []byte(scrapeToken+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.Metrics.TokenFile, cfg.Metrics.PerCountry = "keys/scrape.token", false
		}
	})
	f.addUser("FR", "olga", "auditor", "olga-long-passphrase")
	f.addUser("FR", "alice", "operator", "alice-long-passphrase")
	f.submit("FR", "DE")
	scrape := func(cc string, c *http.Client, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.entry(cc).API+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if c == nil {
			c = &http.Client{Timeout: 30 * time.Second}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := scrape("FR", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d, want 401", code)
	}
	if code, _ := scrape("FR", nil, "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: HTTP %d, want 401", code)
	}
	code, text := scrape("FR", nil, scrapeToken)
	if code != http.StatusOK || !strings.Contains(text, "vigil_outbox_messages ") || !strings.Contains(text, "vigil_open_cases{") {
		t.Fatalf("scrape token: HTTP %d\n%s", code, text)
	}
	if strings.Contains(text, `country="`) {
		t.Fatalf("per-country series without metrics.per_country:\n%s", text)
	}
	if code, _ := scrape("FR", nil, f.entry("FR").Token); code != http.StatusOK {
		t.Fatalf("node token: HTTP %d", code)
	}
	// A console session of a role that may read statistics, and one that may not.
	olga, code, _ := f.login("FR", "olga", "olga-long-passphrase")
	if code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	if code, _ := scrape("FR", &http.Client{Jar: olga.jar, Timeout: 30 * time.Second}, ""); code != http.StatusOK {
		t.Fatalf("auditor's session: HTTP %d", code)
	}
	alice, _, _ := f.login("FR", "alice", "alice-long-passphrase")
	if code, _ := scrape("FR", &http.Client{Jar: alice.jar, Timeout: 30 * time.Second}, ""); code != http.StatusForbidden {
		t.Fatalf("operator's session: HTTP %d, want 403", code)
	}
	// The scrape token is FR's only; DE (per_country on) shows countries.
	if code, _ := scrape("DE", nil, scrapeToken); code != http.StatusUnauthorized {
		t.Fatalf("FR's scrape token on DE: HTTP %d", code)
	}
	if code, text := scrape("DE", nil, f.entry("DE").Token); code != http.StatusOK || !strings.Contains(text, `vigil_outbox_depth{country="FR"}`) {
		t.Fatalf("DE with per_country: HTTP %d\n%s", code, text)
	}
}
