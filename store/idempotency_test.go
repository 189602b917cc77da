package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidIdempotencyKey(t *testing.T) {
	for k, want := range map[string]bool{
		"a": true, "9f2c1e7a-4b6d-4f0e-8a3b-5c7d9e1f2a3b": true, "!~/:%": true,
		strings.Repeat("k", MaxIdempotencyKey):   true,
		"":                                       false,
		strings.Repeat("k", MaxIdempotencyKey+1): false,
		"has space":                              false,
		"tab\there":                              false,
		"nl\n":                                   false,
		"del\x7f":                                false,
		"café":                                   false,
	} {
		if got := ValidIdempotencyKey(k); got != want {
			t.Errorf("ValidIdempotencyKey(%q) = %v, want %v", k, got, want)
		}
	}
}

// TestIdempotencyRecords: records are kept per (actor, key), a slash in
// the actor cannot alias another pair, an invalid key is never stored,
// and DeleteIdempotencyBefore removes only older records, at most limit.
func TestIdempotencyRecords(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	recs := []*Idempotency{
		{Actor: "user:a/b", Key: "c", CaseID: "case1", CreatedAt: t0},
		{Actor: "user:a", Key: "b/c", CaseID: "case2", CreatedAt: t0.Add(time.Minute)},
		{Actor: "user:a", Key: "k", CaseID: "case3", CreatedAt: t0.Add(2 * time.Minute)},
		{Actor: "user:z", Key: "k", CaseID: "case4", CreatedAt: t0.Add(3 * time.Hour)},
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, r := range recs {
			if err := tx.PutIdempotency(r); err != nil {
				return err
			}
		}
		got, err := tx.Idempotency("user:a", "k") // through the pending writes
		if err != nil || got.CaseID != "case3" {
			t.Errorf("pending record: %+v, %v", got, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutIdempotency(&Idempotency{Actor: "user:a", Key: "bad key"}) }); err == nil {
		t.Fatal("a key with a space was stored")
	}
	get := func(actor, key string) string {
		t.Helper()
		var r *Idempotency
		err := s.View(func(tx *ReadTx) error {
			var err error
			r, err = tx.Idempotency(actor, key)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return r.CaseID
	}
	for _, r := range recs {
		if got := get(r.Actor, r.Key); got != r.CaseID {
			t.Errorf("(%s, %s) holds %q, want %s", r.Actor, r.Key, got, r.CaseID)
		}
	}
	if got := get("user:b", "k"); got != "" {
		t.Errorf("another actor's key is visible: %s", got)
	}

	sweep := func(cutoff time.Time, limit int) int {
		t.Helper()
		var n int
		if err := s.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.DeleteIdempotencyBefore(cutoff, limit)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sweep(t0.Add(time.Hour), 2); n != 2 {
		t.Fatalf("sweep with limit 2 deleted %d", n)
	}
	if n := sweep(t0.Add(time.Hour), 0); n != 1 {
		t.Fatalf("second sweep deleted %d, want the one left before the cutoff", n)
	}
	for _, r := range recs[:3] {
		if got := get(r.Actor, r.Key); got != "" {
			t.Errorf("(%s, %s) survived the sweep", r.Actor, r.Key)
		}
	}
	if got := get("user:z", "k"); got != "case4" {
		t.Errorf("a record newer than the cutoff was swept: %q", got)
	}
}
