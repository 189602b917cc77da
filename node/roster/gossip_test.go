package roster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

func actions(recs []*store.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Actor+" "+r.Action+" "+r.Detail)
	}
	return out
}

// TestGossipAPIRosterAuditedBeforeInstall: an operator's roster is
// installed with its roster.applied record; on a store that cannot write
// (a full disk, a closed store) it is refused with ErrUnrecorded and
// nothing changes: not the roster in force, its file or the subscribers,
// forced or not. A roster learnt from a peer is the network's act, not
// audited, and still installs.
func TestGossipAPIRosterAuditedBeforeInstall(t *testing.T) {
	ctx := context.Background()
	a := newAuthority(t)
	h := newHost(t)
	others, _ := testMembers(t, 2)
	ms := complete(append([]protocol.Member{memberOf(h, "FR")}, others...))

	t.Run("recorded", func(t *testing.T) {
		st := loadState(t, a, a.sign(t, 1, ms...))
		s := openStore(t, 0)
		g := newGossip(t, st, h, s, &raisedAlerts{})
		if err := g.Apply(ctx, a.sign(t, 2, ms...), FromAPI("user:alice"), false); err != nil {
			t.Fatal(err)
		}
		if st.Serial() != 2 {
			t.Fatalf("serial %d, want 2", st.Serial())
		}
		if got, want := actions(audit(t, s)), []string{"user:alice roster.applied serial 2"}; !slices.Equal(got, want) {
			t.Fatalf("audit %q, want %q", got, want)
		}
	})

	fullDisk := openStore(t, 1<<62) // more free space than any disk has: every write fails
	closed := openStore(t, 0)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		s     *store.Store
		cause error
	}{{"full disk", fullDisk, store.ErrDiskFull}, {"closed store", closed, store.ErrClosed}} {
		t.Run(tc.name, func(t *testing.T) {
			first := a.sign(t, 1, ms...)
			st := loadState(t, a, first)
			changes := 0
			st.OnChange(func(_, _ *protocol.Roster) { changes++ })
			alerts := &raisedAlerts{}
			g := newGossip(t, st, h, tc.s, alerts)
			err := g.Apply(ctx, a.sign(t, 2, ms...), FromAPI("user:alice"), false)
			if !errors.Is(err, ErrUnrecorded) || !errors.Is(err, tc.cause) {
				t.Fatalf("Apply = %v, want ErrUnrecorded from %v", err, tc.cause)
			}
			// Forced past the drop guard (it drops this node): the alert
			// and both records go in one failed transaction; nothing is
			// announced.
			err = g.Apply(ctx, a.sign(t, 3, ms[1:]...), FromAPI("user:admin"), true)
			if !errors.Is(err, ErrUnrecorded) || len(alerts.kinds()) != 0 {
				t.Fatalf("forced Apply = %v, alerts %q; want ErrUnrecorded and none", err, alerts.kinds())
			}
			if onDisk, _ := os.ReadFile(st.path); st.Serial() != 1 || changes != 0 || !bytes.Equal(onDisk, first) {
				t.Fatalf("serial %d, %d changes, file changed %v: an unrecorded roster took effect", st.Serial(), changes, !bytes.Equal(onDisk, first))
			}
			if err := g.Apply(ctx, a.sign(t, 2, ms...), FromPeer(h.ID()), false); err != nil || st.Serial() != 2 || changes != 1 {
				t.Fatalf("from a peer: %v, serial %d, %d changes; want installed", err, st.Serial(), changes)
			}
		})
	}
}

// TestGossipGuardRecords: the drop guard's refusals and an admin's forced
// install leave their critical alert and audit records: a roster refused
// from the API is audited at every push, one refused from peers once per
// document; a forced one is audited as forced and applied.
func TestGossipGuardRecords(t *testing.T) {
	ctx := context.Background()
	a := newAuthority(t)
	h := newHost(t)
	others, otherIDs := testMembers(t, 2)
	ms := complete(append([]protocol.Member{memberOf(h, "FR")}, others...))
	st := loadState(t, a, a.sign(t, 1, ms...))
	s := openStore(t, 0)
	alerts := &raisedAlerts{}
	g := newGossip(t, st, h, s, alerts)

	withoutSelf := a.sign(t, 2, ms[1:]...)
	for range 2 {
		if err := g.Apply(ctx, withoutSelf, FromAPI("user:alice"), false); !errors.Is(err, ErrDrops) {
			t.Fatalf("API push dropping this node: %v, want ErrDrops", err)
		}
	}
	tooMany := a.sign(t, 3, ms[:1]...) // drops 2 of 3
	for _, p := range otherIDs {
		if err := g.Apply(ctx, tooMany, FromPeer(p), false); !errors.Is(err, ErrDrops) {
			t.Fatalf("peer's roster dropping 2 of 3: %v, want ErrDrops", err)
		}
	}
	if err := g.Apply(ctx, withoutSelf, FromAPI("user:admin"), true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if st.Serial() != 2 {
		t.Fatalf("serial %d, want the forced 2", st.Serial())
	}
	if got, want := alerts.kinds(), []string{"roster_refused", "roster_refused", "roster_forced"}; !slices.Equal(got, want) {
		t.Fatalf("alerts raised %q, want %q", got, want)
	}
	var got []string
	for _, r := range audit(t, s) {
		got = append(got, r.Actor+" "+r.Action)
	}
	want := []string{"user:alice roster.refused", "user:alice roster.refused", "node roster.refused",
		"user:admin roster.forced", "user:admin roster.applied"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

// TestExchangeSpreadsRosters: over real hosts, a node pulls a newer roster
// from a peer it exchanges with, and one that installs a roster pushes it
// to a connected member, which pulls it in turn.
func TestExchangeSpreadsRosters(t *testing.T) {
	ctx := context.Background()
	a := newAuthority(t)
	ha, hb := newHost(t), newHost(t)
	ms := complete([]protocol.Member{memberOf(ha, "FR"), memberOf(hb, "DE")})
	sa := loadState(t, a, a.sign(t, 2, ms...))
	sb := loadState(t, a, a.sign(t, 1, ms...))
	var mu sync.Mutex
	var seen []uint64
	sb.OnChange(func(_, cur *protocol.Roster) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, cur.Serial)
	})
	installed := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	ga := newGossip(t, sa, ha, openStore(t, 0), &raisedAlerts{})
	gb := newGossip(t, sb, hb, openStore(t, 0), &raisedAlerts{})
	var hs transport.Handlers
	t.Cleanup(hs.CloseAndWait)
	ga.Register(&hs)
	gb.Register(&hs)
	hb.Peerstore().AddAddrs(ha.ID(), ha.Addrs(), peerstore.PermanentAddrTTL)
	if err := hb.Connect(ctx, peer.AddrInfo{ID: ha.ID()}); err != nil {
		t.Fatal(err)
	}

	gb.Exchange(ctx, ha.ID())
	if sb.Serial() != 2 {
		t.Fatalf("after an exchange with a newer peer: serial %d, want 2", sb.Serial())
	}
	if err := ga.Apply(ctx, a.sign(t, 3, ms...), FromAPI("user:alice"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connected member pulls the pushed roster", func() bool { return len(installed()) == 2 })
	if got := installed(); !slices.Equal(got, []uint64{2, 3}) || sb.Serial() != 3 {
		t.Fatalf("DE installed %v, serial %d; want [2 3]", got, sb.Serial())
	}
}
