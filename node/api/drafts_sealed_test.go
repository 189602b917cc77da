package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/store"
)

// Drafts hold request contents being composed: with a draft key they are
// sealed in the store, not in clear in Badger's files, even without store
// encryption (issue 12); drafts stored in clear before still open.
func TestDraftsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(store.Options{Dir: dir, Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	key, err := api.DraftKeyFrom([]byte("a node identity key of some length"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{Country: "FR", TokenHash: sha256.Sum256([]byte(nodeToken)), Store: st,
		Accounts: accounts.New(st, accounts.Options{}), DraftKey: key}))
	c := client.New(srv.URL, client.WithToken(nodeToken))
	ctx := context.Background()
	const secret = "suspect-mailbox-7f3a9c@example.org"
	id := "0123456789abcdef0123456789abcdef"
	doc := map[string]any{"kind": "preservation", "to": "DE", "doc": map[string]string{"facts_summary": secret}}
	if err := c.Put(ctx, "/api/v1/drafts/"+id, doc, nil); err != nil {
		t.Fatalf("save draft: %v", err)
	}
	var got map[string]any
	if err := c.Get(ctx, "/api/v1/drafts/"+id, &got); err != nil {
		t.Fatalf("read draft: %v", err)
	}
	if b, _ := json.Marshal(got["doc"]); !bytes.Contains(b, []byte(secret)) {
		t.Fatalf("draft read back without its contents: %v", got)
	}
	// A draft stored in clear by an older version still opens.
	legacy := "fedcba9876543210fedcba9876543210"
	if err := st.Update(ctx, func(tx *store.Tx) error {
		return tx.PutDraft(&store.Draft{ID: legacy, Owner: api.NodeAdmin, Kind: "assistance", To: "DE", Doc: json.RawMessage(`{"question":"old"}`), UpdatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "/api/v1/drafts/"+legacy, &got); err != nil {
		t.Fatalf("read legacy draft: %v", err)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing of the sealed draft's contents is in the store's files.
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the draft's contents in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
