package api_test

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
)

// The console asks /api/v1/me on every page load before anyone is logged
// in: that is no event for the log. A wrong token is (issue 12, logs).
func TestRefusedCallsLoggedOnlyWithCredentials(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	st := openStore(t, false)
	acc := accounts.New(st, accounts.Options{Logger: log})
	srv := httptest.NewServer(api.New(api.Deps{Country: "FR", TokenHash: sha256.Sum256([]byte(nodeToken)), Log: log, Store: st, Accounts: acc}))
	t.Cleanup(srv.Close)
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: HTTP %d", code)
	}
	if n := logs.FilterMessage("refused API call without valid credentials").Len(); n != 0 {
		t.Fatalf("a call without credentials logged %d lines", n)
	}
	if code := get("vgl_not-a-token"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: HTTP %d", code)
	}
	if n := logs.FilterMessage("refused API call without valid credentials").Len(); n != 1 {
		t.Fatalf("a wrong token logged %d lines, want 1", n)
	}
}
