package api_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
)

// TestMountedRoutes: a route mounted with Server.Handle gets the same
// authentication, permission and CSRF checks as the API's own, and its
// handler can name the caller for the audit log.
func TestMountedRoutes(t *testing.T) {
	st := openStore(t, false)
	acc := accounts.New(st, accounts.Options{LoginsPerMinute: 1000})
	ctx := context.Background()
	if err := acc.AddUser(ctx, "olga", accounts.RoleAuditor, "olga-long-passphrase"); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{TokenHash: sha256.Sum256([]byte(nodeToken)), Store: st, Accounts: acc, Log: zaptest.NewLogger(t)})
	whoami := func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, types.Me{Name: api.ActorOf(r).String()})
	}
	srv.Handle("POST /api/v1/mounted", accounts.PermManageRoster, whoami)
	srv.Handle("POST /api/v1/mounted/any", api.AnyCaller, whoami)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	if got := srv.Routes(); got[len(got)-1] != (api.Route{Method: "POST", Path: "/api/v1/mounted/any"}) {
		t.Errorf("last route %+v", got[len(got)-1])
	}
	var me types.Me
	if err := client.New(hs.URL, client.WithToken(nodeToken)).Post(ctx, "/api/v1/mounted", nil, &me); err != nil || me.Name != "user:node-admin" {
		t.Fatalf("node token: %v %+v", err, me)
	}
	if err := client.New(hs.URL).Post(ctx, "/api/v1/mounted", nil, nil); client.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("no credentials: %v, want 401", err)
	}
	olga := client.New(hs.URL, client.WithSession())
	if err := olga.Login(ctx, "olga", "olga-long-passphrase", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := olga.Post(ctx, "/api/v1/mounted", nil, nil); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("auditor on a roster route: %v, want 403", err)
	}
	if err := olga.Post(ctx, "/api/v1/mounted/any", nil, &me); err != nil || me.Name != "user:olga" {
		t.Errorf("auditor on an open route: %v %+v", err, me)
	}
	olga.SetCSRF("")
	if err := olga.Post(ctx, "/api/v1/mounted/any", nil, nil); client.StatusOf(err) != http.StatusForbidden {
		t.Errorf("session without CSRF token: %v, want 403", err)
	}
}
