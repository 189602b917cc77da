package api_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/store"
)

// The audit rule of the package doc, tested with real stores: a healthy
// one that holds the accounts, and one whose every write fails as on a
// full disk, to which the API writes its audit records.

const nodeToken = "node-token-for-audit-tests"

func openStore(t *testing.T, full bool) *store.Store {
	t.Helper()
	opts := store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall}
	if full {
		opts.MinFreeBytes = math.MaxInt64 // no disk is this free: every Update fails with ErrDiskFull
	}
	st, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// announced records the alerts the API announces.
type announced struct {
	mu     sync.Mutex
	alerts []store.Alert
}

func (a *announced) Announce(al *store.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = append(a.alerts, *al)
}

func (a *announced) all() []store.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.alerts)
}

// storeAuditor checks a real store's audit log, unsigned.
type storeAuditor struct{ st *store.Store }

func (a storeAuditor) Checkpoint(ctx context.Context) error {
	_, err := a.st.SignAuditCheckpoint(ctx, "test", func(b []byte) ([]byte, error) { return b[:1], nil }, time.Now())
	return err
}

func (a storeAuditor) Verify(context.Context) (*store.AuditReport, error) {
	var rep *store.AuditReport
	err := a.st.View(func(tx *store.ReadTx) error {
		var err error
		rep, err = tx.VerifyAuditLog(nil)
		return err
	})
	return rep, err
}

// auditEnv is one accounts manager over a healthy store, served by two
// APIs: ok audits into the healthy store, broken into a full one.
type auditEnv struct {
	t          *testing.T
	st, full   *store.Store
	acc        *accounts.Manager
	ok, broken *httptest.Server
	alerts     *announced
}

// newAuditEnv builds the environment; lockoutsUnrecorded sends the
// lockout records to the full store as well.
func newAuditEnv(t *testing.T, lockoutsUnrecorded bool) *auditEnv {
	t.Helper()
	e := &auditEnv{t: t, st: openStore(t, false), full: openStore(t, true), alerts: &announced{}}
	log := zaptest.NewLogger(t)
	lockouts := e.st
	if lockoutsUnrecorded {
		lockouts = e.full
	}
	e.acc = accounts.New(e.st, accounts.Options{LoginsPerMinute: 1000, Logger: log, MaxFailures: 3,
		OnLockout: api.Lockouts(lockouts, e.alerts, time.Now, log)})
	serve := func(audit *store.Store) *httptest.Server {
		srv := httptest.NewServer(api.New(api.Deps{Country: "FR", TokenHash: sha256.Sum256([]byte(nodeToken)), Log: log,
			Store: audit, Accounts: e.acc, Auditor: storeAuditor{e.st}, Alerts: e.alerts}))
		t.Cleanup(srv.Close)
		return srv
	}
	e.ok, e.broken = serve(e.st), serve(e.full)
	for _, u := range []string{"alice", "carol"} {
		if err := e.acc.AddUser(context.Background(), u, accounts.RoleOperator, u+"-long-passphrase"); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// admin is a client with the node token.
func (e *auditEnv) admin(srv *httptest.Server) *client.Client {
	return client.New(srv.URL, client.WithToken(nodeToken))
}

// actions are the audit log's actions, in order.
func (e *auditEnv) actions(st *store.Store) []string {
	e.t.Helper()
	var out []string
	if err := st.View(func(tx *store.ReadTx) error {
		recs, err := tx.Audit(0, 0)
		for _, r := range recs {
			out = append(out, r.Actor+" "+r.Action)
		}
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// wantUnaudited checks that err is the 503 of an unaudited action, saying what.
func wantUnaudited(t *testing.T, what string, err error, says string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %v, want HTTP 503", what, err)
	}
	if !strings.Contains(ce.Message, says) || !strings.Contains(ce.Message, store.ErrDiskFull.Error()) {
		t.Errorf("%s: message %q does not say %q and why", what, ce.Message, says)
	}
}

func TestAccountActionsAreAudited(t *testing.T) {
	e := newAuditEnv(t, false)
	ctx := context.Background()
	c := client.New(e.ok.URL, client.WithSession())
	var me types.Me
	if err := c.Login(ctx, "alice", "alice-long-passphrase", "", &me); err != nil || me.Name != "alice" || c.CSRF() == "" {
		t.Fatalf("login: %v %+v", err, me)
	}
	var tok types.NewToken
	if err := c.Post(ctx, "/api/v1/tokens", map[string]string{"name": "laptop"}, &tok); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/api/v1/tokens/"+tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "/api/v1/logout", nil, nil); err != nil {
		t.Fatal(err)
	}
	admin := e.admin(e.ok)
	if err := admin.Post(ctx, "/api/v1/users", map[string]any{"name": "bob", "role": "auditor", "password": "bob-long-passphrase"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Patch(ctx, "/api/v1/users/bob", map[string]any{"role": "supervisor"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, "/api/v1/users/bob"); err != nil {
		t.Fatal(err)
	}
	var rep types.AuditReport
	if err := admin.Get(ctx, "/api/v1/audit/verify", &rep); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	want := []string{"user:alice user.login", "user:alice token.created", "user:alice token.revoked", "user:alice user.logout",
		"user:node-admin user.added", "user:node-admin user.changed", "user:node-admin user.deleted", "user:node-admin audit.verified"}
	if got := e.actions(e.st); !slices.Equal(got, want) {
		t.Errorf("audit log:\n got %v\nwant %v", got, want)
	}
}

func TestUnauditedLoginGrantsNoSession(t *testing.T) {
	e := newAuditEnv(t, false)
	c := client.New(e.broken.URL, client.WithSession())
	err := c.Login(context.Background(), "alice", "alice-long-passphrase", "", nil)
	wantUnaudited(t, "login", err, "login refused")
	if c.CSRF() != "" {
		t.Error("an unaudited login handed out a CSRF token")
	}
	if err := e.st.View(func(tx *store.ReadTx) error {
		ss, err := tx.Sessions("alice")
		if len(ss) != 0 {
			t.Errorf("an unaudited login left %d sessions", len(ss))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), "/api/v1/me", nil); client.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("after an unaudited login, GET /me: %v, want 401", err)
	}
}

func TestUnauditedLogoutStillEndsTheSession(t *testing.T) {
	e := newAuditEnv(t, false)
	ctx := context.Background()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// One browser (one cookie jar) talking to both APIs of one node.
	hc := &http.Client{Jar: jar, Timeout: client.DefaultTimeout}
	ok := client.New(e.ok.URL, client.WithHTTPClient(hc))
	if err := ok.Login(ctx, "alice", "alice-long-passphrase", "", nil); err != nil {
		t.Fatal(err)
	}
	broken := client.New(e.broken.URL, client.WithHTTPClient(hc))
	broken.SetCSRF(ok.CSRF())
	// The session cookie is named per host and port: hand the session to
	// the second API under its name, as the same node behind two addresses.
	okURL, _ := url.Parse(e.ok.URL)
	brokenURL, _ := url.Parse(e.broken.URL)
	for _, c := range jar.Cookies(okURL) {
		jar.SetCookies(brokenURL, []*http.Cookie{{Name: api.SessionCookieName(&http.Request{Host: brokenURL.Host}), Value: c.Value, Path: "/"}})
	}
	wantUnaudited(t, "logout", broken.Post(ctx, "/api/v1/logout", nil, nil), "logged out")
	if err := ok.Get(ctx, "/api/v1/me", nil); client.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("after an unaudited logout, GET /me: %v, want 401", err)
	}
	name := api.SessionCookieName(&http.Request{Host: brokenURL.Host})
	for _, c := range jar.Cookies(brokenURL) {
		if c.Name == name {
			t.Errorf("the session cookie was not cleared: %v", c)
		}
	}
}

func TestUnauditedAccountChanges(t *testing.T) {
	e := newAuditEnv(t, false)
	ctx := context.Background()
	admin := e.admin(e.broken)

	t.Run("a new token is revoked and its secret never shown", func(t *testing.T) {
		err := admin.Post(ctx, "/api/v1/users/alice/tokens", map[string]string{"name": "laptop"}, nil)
		wantUnaudited(t, "create token", err, "token NOT created")
		var ce *client.Error
		if errors.As(err, &ce) && strings.Contains(string(ce.Body), accounts.TokenPrefix) {
			t.Errorf("the answer shows a token: %s", ce.Body)
		}
		if ts, err := e.acc.Tokens("alice"); err != nil || len(ts) != 0 {
			t.Errorf("tokens after an unaudited creation: %d, %v", len(ts), err)
		}
	})
	t.Run("a new user is deleted again", func(t *testing.T) {
		err := admin.Post(ctx, "/api/v1/users", map[string]any{"name": "bob", "role": "supervisor", "password": "bob-long-passphrase"}, nil)
		wantUnaudited(t, "add user", err, "NOT added")
		if _, err := e.acc.User("bob"); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("user after an unaudited addition: %v", err)
		}
	})
	t.Run("the first admin cannot be deleted again, and the answer says so", func(t *testing.T) {
		err := admin.Post(ctx, "/api/v1/users", map[string]any{"name": "ada", "role": "admin", "password": "ada-long-passphrase"}, nil)
		wantUnaudited(t, "add first admin", err, "was added but NOT recorded")
		if _, err := e.acc.User("ada"); err != nil {
			t.Errorf("the first admin: %v", err)
		}
	})
	t.Run("a change to an existing user stands and says so", func(t *testing.T) {
		wantUnaudited(t, "change user", admin.Patch(ctx, "/api/v1/users/alice", map[string]any{"role": "supervisor"}, nil), "NOT recorded")
		if u, err := e.acc.User("alice"); err != nil || u.Role != string(accounts.RoleSupervisor) {
			t.Errorf("alice after an unaudited change: %+v, %v", u, err)
		}
	})
	t.Run("a deletion stands and says so", func(t *testing.T) {
		wantUnaudited(t, "delete user", admin.Delete(ctx, "/api/v1/users/carol"), "deleted")
		if _, err := e.acc.User("carol"); !errors.Is(err, accounts.ErrNotFound) {
			t.Errorf("carol after an unaudited deletion: %v", err)
		}
	})
	t.Run("an unrecorded audit check withholds its result", func(t *testing.T) {
		err := admin.Get(ctx, "/api/v1/audit/verify", nil)
		wantUnaudited(t, "verify", err, "withheld")
		var ce *client.Error
		if errors.As(err, &ce) && strings.Contains(string(ce.Body), `"records"`) {
			t.Errorf("the answer shows the report: %s", ce.Body)
		}
	})
	if got := e.actions(e.full); len(got) != 0 {
		t.Errorf("the full store took audit records: %v", got)
	}
}

func TestLockoutRecord(t *testing.T) {
	lockOut := func(e *auditEnv) {
		t.Helper()
		c := client.New(e.ok.URL, client.WithSession())
		var err error
		for range 3 {
			err = c.Login(context.Background(), "carol", "not-the-password", "", nil)
		}
		if client.StatusOf(err) != http.StatusUnauthorized {
			t.Fatalf("3rd failed login: %v, want 401 (nothing is locked)", err)
		}
	}

	t.Run("recorded with its alert", func(t *testing.T) {
		e := newAuditEnv(t, false)
		lockOut(e)
		got := e.alerts.all()
		if len(got) != 1 || got[0].Kind != "login_lockout" || got[0].Severity != "warning" {
			t.Fatalf("announced %+v, want one warning login_lockout", got)
		}
		if !slices.Contains(e.actions(e.st), "node user.login_failures") {
			t.Errorf("no user.login_failures record: %v", e.actions(e.st))
		}
		var out types.AlertList
		if err := e.admin(e.ok).Get(context.Background(), "/api/v1/alerts", &out); err != nil || len(out.Alerts) != 1 || out.Alerts[0].ID != got[0].ID {
			t.Errorf("stored alerts: %+v, %v", out, err)
		}
	})
	t.Run("unrecorded: announced as critical", func(t *testing.T) {
		e := newAuditEnv(t, true)
		lockOut(e)
		got := e.alerts.all()
		if len(got) != 1 || got[0].Kind != "login_lockout" || got[0].Severity != "critical" ||
			!strings.Contains(got[0].Message, "could NOT be recorded") || !strings.Contains(got[0].Message, store.ErrDiskFull.Error()) {
			t.Fatalf("announced %+v, want one critical login_lockout saying it was not recorded", got)
		}
		if u, err := e.acc.User("carol"); err != nil || u.FailedLogins != 3 {
			t.Errorf("carol's failures not counted: %+v, %v", u, err)
		}
	})
}
