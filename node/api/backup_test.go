package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/store"
)

// TestBackupEndpoint: only an admin gets a backup; it is a complete
// backup file, recorded in the audit log first; unrecorded, none is sent.
func TestBackupEndpoint(t *testing.T) {
	e := newAuditEnv(t, false)
	ctx := context.Background()
	if err := e.acc.AddUser(ctx, "dora", accounts.RoleAuditor, "dora-long-passphrase"); err != nil {
		t.Fatal(err)
	}
	for _, role := range []accounts.Role{accounts.RoleSupervisor, accounts.RoleAdmin} {
		if err := e.acc.AddUser(ctx, string(role)+"-user", role, "a-long-passphrase-"+string(role)); err != nil {
			t.Fatal(err)
		}
	}
	status := func(srv string, token string) (int, []byte) {
		t.Helper()
		opts := []client.Option{client.WithTimeout(0)}
		if token != "" {
			opts = append(opts, client.WithToken(token))
		}
		body, err := client.New(srv, opts...).Stream(ctx, "/api/v1/backup")
		if err != nil {
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatal(err)
			}
			return ce.Status, nil
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return http.StatusOK, b
	}
	for _, user := range []string{"alice", "dora", "supervisor-user"} {
		tok, _, err := e.acc.CreateToken(ctx, user, "cli")
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := status(e.ok.URL, tok); code != http.StatusForbidden {
			t.Errorf("%s's backup: HTTP %d, want 403", user, code)
		}
	}
	if code, _ := status(e.ok.URL, ""); code != http.StatusUnauthorized {
		t.Errorf("backup without credentials: HTTP %d, want 401", code)
	}
	if slices.Contains(e.actions(e.st), "user:alice store.backup") {
		t.Error("a refused backup was recorded as taken")
	}

	adminTok, _, err := e.acc.CreateToken(ctx, "admin-user", "backups")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{nodeToken, adminTok} {
		code, b := status(e.ok.URL, tok)
		if code != http.StatusOK {
			t.Fatalf("admin's backup: HTTP %d", code)
		}
		path := filepath.Join(t.TempDir(), "b")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := store.CheckBackup(path)
		if err != nil || h.Country != "FR" {
			t.Fatalf("the answer is no complete backup: %+v, %v", h, err)
		}
	}
	acts := e.actions(e.st)
	if !slices.Contains(acts, "user:node-admin store.backup") || !slices.Contains(acts, "user:admin-user store.backup") {
		t.Errorf("backups not in the audit log: %v", acts)
	}

	// A backup that cannot be recorded is not taken.
	if code, b := status(e.broken.URL, nodeToken); code != http.StatusServiceUnavailable || b != nil {
		t.Errorf("unrecorded backup: HTTP %d with %d bytes, want 503 and none", code, len(b))
	}
}
