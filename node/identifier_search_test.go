package node_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-network/vigil/node/api/types"
)

// TestCaseSearchByIdentifier: an operator finds a case by one of its
// request's identifiers on both sides (issue 12), an exact match with case
// ignored, while the identifier is never kept in clear outside the sealed
// request: the case record holds only a keyed hash.
func TestCaseSearchByIdentifier(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	sub := f.submit("FR", "DE")
	f.waitDelivered("FR", sub.CaseID)
	f.waitState(sub.CaseID, "open", "DE")
	search := func(cc, q string) []string {
		var l types.CaseList
		if code := f.api(cc, "GET", "/api/v1/cases?q="+url.QueryEscape(q), nil, &l); code != http.StatusOK {
			t.Fatalf("%s search %q: HTTP %d", cc, q, code)
		}
		var ids []string
		for _, c := range l.Cases {
			ids = append(ids, c.ID)
		}
		return ids
	}
	for _, cc := range []string{"FR", "DE"} {
		for _, q := range []string{"restore-support@mail.example.org", "  Restore-Support@MAIL.example.org ", "203.0.113.47"} {
			if got := search(cc, q); len(got) != 1 || got[0] != sub.CaseID {
				t.Errorf("%s: search %q found %v, want the case", cc, q, got)
			}
		}
		if got := search(cc, "restore-support"); len(got) != 0 {
			t.Errorf("%s: a part of an identifier found %v: only exact identifiers are indexed", cc, got)
		}
	}
	// The index is a keyed hash: the identifier is not in the store's
	// files outside the sealed envelope, which is not plain text.
	f.stop("DE")
	err := filepath.Walk(filepath.Join(f.dir, "DE"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("restore-support@mail.example.org")) {
			t.Errorf("%s holds the identifier in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
