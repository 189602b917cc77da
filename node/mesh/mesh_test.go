package mesh

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

func TestMeshPeriodsScaleOnlyOnASharedMachine(t *testing.T) {
	for _, tc := range []struct {
		members    int
		shared     bool
		mesh, ping time.Duration
	}{
		{193, false, 30 * time.Second, 30 * time.Second},
		{3, true, 30 * time.Second, 30 * time.Second},
		{193, true, 96500 * time.Millisecond, 386 * time.Second},
	} {
		if got := KeepAlivePeriod(tc.members, tc.shared); got != tc.mesh {
			t.Errorf("KeepAlivePeriod(%d, %v) = %s, want %s", tc.members, tc.shared, got, tc.mesh)
		}
		if got := pingPeriod(tc.members, tc.shared); got != tc.ping {
			t.Errorf("pingPeriod(%d, %v) = %s, want %s", tc.members, tc.shared, got, tc.ping)
		}
	}
}

// Every member is pinged exactly once per ping period, whatever round the
// connector starts in.
func TestPingDueOncePerPeriod(t *testing.T) {
	ids := []peer.ID{"a", "b", "some-longer-peer-id", "z"}
	for _, shared := range []bool{false, true} {
		rounds := int(pingPeriod(193, shared) / connectTick)
		for _, id := range ids {
			due := 0
			for r := 17; r < 17+rounds; r++ {
				if pingDue(id, r, 193, shared) {
					due++
				}
			}
			if due != 1 {
				t.Errorf("shared=%v: %s due %d times in %d rounds", shared, id, due, rounds)
			}
		}
	}
}

// Two hosts that dialled each other hold two connections. Only the side
// with the smaller peer ID prunes, only a connection that stayed idle over
// two passes, and the peers stay connected.
func TestPruneDuplicatesClosesOnlyIdleExtras(t *testing.T) {
	defer func(d time.Duration) { dupMinAge = d }(dupMinAge)
	dupMinAge = 0
	newHost := func() *Mesh {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return New(h, nil, Options{Self: h.ID()})
	}
	a, b := newHost(), newHost()
	if a.self > b.self {
		a, b = b, a // a has the smaller ID: a prunes
	}
	ctx := context.Background()
	a.host.Peerstore().AddAddrs(b.self, b.host.Addrs(), time.Hour)
	b.host.Peerstore().AddAddrs(a.self, a.host.Addrs(), time.Hour)
	count := func(n *Mesh, id peer.ID) int { return len(n.host.Network().ConnsToPeer(id)) }
	waitConns := func(n *Mesh, id peer.ID, want int) bool {
		for deadline := time.Now().Add(5 * time.Second); count(n, id) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return false
			}
		}
		return true
	}
	// libp2p reuses an open connection, so only dials that cross (as at
	// boot) make a duplicate: dial both ways at once until they do.
	for attempt := 0; ; attempt++ {
		if attempt == 50 {
			t.Fatal("50 simultaneous dials never made two connections")
		}
		a.host.Network().ClosePeer(b.self)
		b.host.Network().ClosePeer(a.self)
		if !waitConns(a, b.self, 0) || !waitConns(b, a.self, 0) {
			t.Fatal("connections did not close")
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, d := range []struct{ from, to *Mesh }{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if sw, ok := d.from.host.Network().(*swarm.Swarm); ok {
					sw.Backoff().Clear(d.to.self) // a crossed dial that lost may have backed off
				}
				d.from.host.Network().DialPeer(ctx, d.to.self)
			}()
		}
		close(start)
		wg.Wait()
		time.Sleep(50 * time.Millisecond) // let both sides register both
		if count(a, b.self) == 2 && count(b, a.self) == 2 {
			break
		}
	}

	b.pruneDuplicates(a.self) // larger ID: never prunes
	b.pruneDuplicates(a.self)
	a.pruneDuplicates(b.self) // first pass: only marks the idle one
	if n := len(a.host.Network().ConnsToPeer(b.self)); n != 2 {
		t.Fatalf("after one pass %d connections, want 2", n)
	}
	a.pruneDuplicates(b.self)
	if !waitConns(a, b.self, 1) || !waitConns(b, a.self, 1) {
		t.Fatalf("after two idle passes: %d and %d connections, want 1", count(a, b.self), count(b, a.self))
	}
	if a.host.Network().Connectedness(b.self) != network.Connected {
		t.Fatal("pruning left the peers disconnected")
	}
}
