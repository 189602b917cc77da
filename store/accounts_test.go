package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func openAccountsStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir(), Profile: ProfileSmall, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestUsersRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openAccountsStore(t)
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	alice := &User{Name: "alice", Role: "operator", PasswordHash: "$argon2id$x", TOTPSecret: "SECRET",
		TOTPEnabled: true, TOTPLastStep: 42, ContentAccess: true, FailedLogins: 2,
		LockedUntil: now.Add(time.Minute), CreatedAt: now, UpdatedAt: now}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutUser(alice); err != nil {
			return err
		}
		// Reads through pending writes.
		got, err := tx.User("alice")
		if err != nil || got.PasswordHash != alice.PasswordHash {
			t.Errorf("Tx.User before commit: %+v, %v", got, err)
		}
		return tx.PutUser(&User{Name: "bob", Role: "admin", CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	err := s.View(func(r *ReadTx) error {
		got, err := r.User("alice")
		if err != nil {
			return err
		}
		if *got != *alice {
			t.Errorf("User(alice) = %+v, want %+v", got, alice)
		}
		us, err := r.Users()
		if err != nil {
			return err
		}
		if len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" {
			t.Errorf("Users() = %v", us)
		}
		if _, err := r.User("carol"); !errors.Is(err, ErrNotFound) {
			t.Errorf("User(carol): %v", err)
		}
		for _, bad := range []string{"", "a/b", "../user"} {
			if _, err := r.User(bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("User(%q): %v", bad, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a/b", "x\x00"} {
		err := s.Update(ctx, func(tx *Tx) error { return tx.PutUser(&User{Name: bad}) })
		if err == nil {
			t.Errorf("PutUser(%q) accepted", bad)
		}
	}
}

func TestTokensAndSessions(t *testing.T) {
	ctx := context.Background()
	s := openAccountsStore(t)
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	put := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	put(func(tx *Tx) error {
		for _, u := range []string{"alice", "bob"} {
			if err := tx.PutUser(&User{Name: u, Role: "operator", CreatedAt: now}); err != nil {
				return err
			}
		}
		for _, tok := range []*Token{
			{ID: "t1", User: "alice", Name: "one", Hash: "h1", CreatedAt: now},
			{ID: "t2", User: "alice", Name: "two", Hash: "h2", CreatedAt: now},
			{ID: "t3", User: "bob", Name: "three", Hash: "h3", CreatedAt: now},
		} {
			if err := tx.PutToken(tok); err != nil {
				return err
			}
		}
		for _, ss := range []*Session{
			{Hash: "s1", User: "alice", CSRF: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now},
			{Hash: "s2", User: "alice", CSRF: "c2", CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now},
			{Hash: "s3", User: "bob", CSRF: "c3", CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now},
		} {
			if err := tx.PutSession(ss); err != nil {
				return err
			}
		}
		return nil
	})

	// A hash belongs to one token only.
	err := s.Update(ctx, func(tx *Tx) error {
		return tx.PutToken(&Token{ID: "t9", User: "bob", Hash: "h1"})
	})
	if err == nil {
		t.Fatal("second token with the same hash accepted")
	}

	err = s.View(func(r *ReadTx) error {
		tok, err := r.TokenByHash("h2")
		if err != nil || tok.ID != "t2" || tok.Name != "two" {
			t.Errorf("TokenByHash(h2) = %+v, %v", tok, err)
		}
		if _, err := r.TokenByHash("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("TokenByHash(nope): %v", err)
		}
		if ts, _ := r.Tokens("alice"); len(ts) != 2 {
			t.Errorf("Tokens(alice) = %d", len(ts))
		}
		if ts, _ := r.Tokens(""); len(ts) != 3 {
			t.Errorf("Tokens() = %d", len(ts))
		}
		ss, err := r.Session("s1")
		if err != nil || ss.CSRF != "c1" || !ss.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("Session(s1) = %+v, %v", ss, err)
		}
		if list, _ := r.Sessions("alice"); len(list) != 2 {
			t.Errorf("Sessions(alice) = %d", len(list))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Updating a token (LastUsedAt) keeps its index.
	put(func(tx *Tx) error {
		tok, err := tx.Token("t3")
		if err != nil {
			return err
		}
		tok.LastUsedAt = now
		return tx.PutToken(tok)
	})
	put(func(tx *Tx) error {
		tx.DeleteSession("s3")
		tx.DeleteSession("missing")
		return tx.DeleteToken("t1")
	})
	err = s.View(func(r *ReadTx) error {
		if _, err := r.TokenByHash("h1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted token's hash index: %v", err)
		}
		if tok, err := r.TokenByHash("h3"); err != nil || !tok.LastUsedAt.Equal(now) {
			t.Errorf("TokenByHash(h3) = %+v, %v", tok, err)
		}
		if _, err := r.Session("s3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// DeleteUser takes the user's tokens and sessions with it.
	put(func(tx *Tx) error { return tx.DeleteUser("alice") })
	err = s.View(func(r *ReadTx) error {
		if _, err := r.User("alice"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted user: %v", err)
		}
		if ts, _ := r.Tokens("alice"); len(ts) != 0 {
			t.Errorf("deleted user's tokens: %d", len(ts))
		}
		if _, err := r.TokenByHash("h2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted user's token index: %v", err)
		}
		if ss, _ := r.Sessions("alice"); len(ss) != 0 {
			t.Errorf("deleted user's sessions: %d", len(ss))
		}
		if ts, _ := r.Tokens(""); len(ts) != 1 || ts[0].ID != "t3" {
			t.Errorf("other tokens: %v", ts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	put(func(tx *Tx) error { return tx.DeleteUser("alice") }) // idempotent

	// DeleteSessions.
	put(func(tx *Tx) error {
		n, err := tx.DeleteSessions("bob")
		if n != 0 {
			t.Errorf("DeleteSessions(bob) = %d, want 0 (s3 was deleted)", n)
		}
		return err
	})
}

func TestUnknownLoginCounter(t *testing.T) {
	ctx := context.Background()
	s := openAccountsStore(t)
	for i := range 3 {
		var n uint64
		if err := s.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.CountUnknownLogin()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n != uint64(i+1) {
			t.Fatalf("count %d, want %d", n, i+1)
		}
	}
	var n uint64
	if err := s.View(func(r *ReadTx) error {
		var err error
		n, err = r.UnknownLogins()
		return err
	}); err != nil || n != 3 {
		t.Fatalf("UnknownLogins = %d, %v", n, err)
	}
}
