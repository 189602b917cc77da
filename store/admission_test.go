package store

import (
	"context"
	"errors"
	"testing"
)

// Peer writes keep out of the local reserve; local writes use it.
func TestPeerReserve(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, t.TempDir(), func(o *Options) { o.MinFreeBytes = 1 << 20; o.PeerReserveBytes = 100 << 20 })
	s.freeBytes = (&fakeFree{free: []uint64{50 << 20}}).probe // above the minimum, below the reserve
	ran := false
	err := s.UpdatePeer(ctx, func(tx *Tx) error { ran = true; return enqueueWithAudit("peer", "p", 100)(tx) })
	if !errors.Is(err, ErrLocalReserve) || ran {
		t.Fatalf("peer write into the reserve: %v (fn ran: %v)", err, ran)
	}
	if err := s.Update(ctx, enqueueWithAudit("local", "p", 100)); err != nil {
		t.Fatalf("local write: %v", err)
	}
	s.freeBytes = (&fakeFree{free: []uint64{200 << 20}}).probe
	if err := s.UpdatePeer(ctx, enqueueWithAudit("peer", "p", 100)); err != nil {
		t.Fatalf("peer write with room: %v", err)
	}
	checkExactly(t, s, []string{"local", "peer"}, nil)
}

func openIncoming(c *Case) bool { return c.Direction == Incoming && c.State != "closed" }

// The open-case count follows PutCase and is rebuilt from the cases for a
// store that predates it.
func TestOpenCaseIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	put := func(s *Store, cs ...*Case) {
		t.Helper()
		if err := s.Update(ctx, func(tx *Tx) error {
			for _, c := range cs {
				if err := tx.PutCase(c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(s *Store, cc string) int64 {
		t.Helper()
		var n int64
		if err := s.Update(ctx, func(tx *Tx) error {
			var err error
			n, err = tx.OpenCases(cc)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Written without the index, as an older version did.
	s, _ := openStore(t, dir)
	put(s, &Case{ID: "a", Direction: Incoming, Country: "NL", State: "open"},
		&Case{ID: "b", Direction: Incoming, Country: "NL", State: "closed"},
		&Case{ID: "c", Direction: Outgoing, Country: "NL", State: "open"},
		&Case{ID: "d", Direction: Incoming, Country: "FR", State: "open"})
	s.Close()

	s, _ = openStore(t, dir, func(o *Options) { o.OpenCase = openIncoming })
	if nl, fr := count(s, "NL"), count(s, "FR"); nl != 1 || fr != 1 {
		t.Fatalf("rebuilt counts NL %d FR %d, want 1 1", nl, fr)
	}
	put(s, &Case{ID: "e", Direction: Incoming, Country: "NL", State: "open"})
	put(s, &Case{ID: "e", Direction: Incoming, Country: "NL", State: "acknowledged"}) // still open: counted once
	if n := count(s, "NL"); n != 2 {
		t.Fatalf("after a new case: %d, want 2", n)
	}
	put(s, &Case{ID: "a", Direction: Incoming, Country: "NL", State: "closed"})
	s.Close()
	s, _ = openStore(t, dir, func(o *Options) { o.OpenCase = openIncoming })
	if n := count(s, "NL"); n != 1 {
		t.Fatalf("after closing one and a restart: %d, want 1", n)
	}
}
