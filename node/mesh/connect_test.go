package mesh

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/protocol"
)

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// rosterOf is a roster in force listing hosts at their listen addresses,
// signed by a throwaway authority.
func rosterOf(t *testing.T, hosts ...host.Host) *roster.State {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := &protocol.Roster{Network: "mesh-test", Serial: 1, IssuedAt: now, ValidUntil: now.Add(time.Hour)}
	for i, h := range hosts {
		m := protocol.Member{Country: protocol.CountryCode([]byte{'A' + byte(i), 'X'}), Organisation: "member " + h.ID().String(),
			PeerID: h.ID().String(), EncryptionKey: protocol.EncodeKey([32]byte{byte(i + 1)}), TimeZone: "UTC"}
		for _, a := range h.Addrs() {
			m.Addrs = append(m.Addrs, a.String())
		}
		r.Members = append(r.Members, m)
	}
	doc, err := protocol.SignRoster(r, priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	st := roster.NewState(path, pub)
	if err := st.Load(); err != nil {
		t.Fatal(err)
	}
	return st
}

// observed records what a mesh tells its Observer.
type observed struct {
	mu                      sync.Mutex
	rounds                  []int
	connected, disconnected []peer.ID
}

func (o *observed) Round(r int) { o.mu.Lock(); defer o.mu.Unlock(); o.rounds = append(o.rounds, r) }
func (o *observed) MemberConnected(p peer.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.connected = append(o.connected, p)
}
func (o *observed) PeerDisconnected(p peer.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.disconnected = append(o.disconnected, p)
}

func (o *observed) has(list *[]peer.ID, p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(*list, p)
}

// newMesh is h's mesh of the members in st; its goroutines end with the
// test, which waits for them.
func newMesh(t *testing.T, h host.Host, st *roster.State, obs Observer) *Mesh {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return New(h, st, Options{Self: h.ID(), MaxBackoff: time.Second, Observer: obs, Logger: zaptest.NewLogger(t),
		Go: func(_ string, fn func(context.Context)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(ctx)
			}()
		}})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// At boot the side whose peer ID sorts first dials within the spread; the
// other waits one spread more plus the grace, expecting to be dialled.
func TestFirstDialDelay(t *testing.T) {
	const members = 5
	spread := members * dialSpreadPerMember
	for range 200 {
		if d := firstDialDelay("a", "b", members); d < 0 || d > spread {
			t.Fatalf("smaller ID waits %s, want within [0, %s]", d, spread)
		}
		if d := firstDialDelay("b", "a", members); d < spread+dialGrace || d > 2*spread+dialGrace {
			t.Fatalf("larger ID waits %s, want within [%s, %s]", d, spread+dialGrace, 2*spread+dialGrace)
		}
	}
	if d := firstDialDelay("b", "a", 1000); d > 2*maxDialSpread+dialGrace {
		t.Fatalf("1000 members: %s, want the spread capped at %s", d, maxDialSpread)
	}
}

// TestConnectorAndWatcher: a connector pass dials a member from its roster
// addresses, the watcher reports it connected, a ping measures its round
// trip, and once it drops the watcher reports it and the next pass
// redials it.
func TestConnectorAndWatcher(t *testing.T) {
	a, b := loopbackHost(t), loopbackHost(t)
	st := rosterOf(t, a, b)
	obs := &observed{}
	m := newMesh(t, a, st, obs)
	if err := m.Watch(); err != nil {
		t.Fatal(err)
	}
	r, _ := st.Current()
	for _, mem := range r.Members {
		m.AddMemberAddrs(mem) // as the node does on every roster change
	}
	m.pass(1)
	eventually(t, "the member is reported connected", func() bool { return obs.has(&obs.connected, b.ID()) })
	if obs.rounds[0] != 1 {
		t.Fatalf("rounds %v, want [1]", obs.rounds)
	}

	m.pingPeer(context.Background(), b.ID())
	if seen, rtt := m.Peers().Get(b.ID()); seen.IsZero() || rtt <= 0 {
		t.Fatalf("after a ping: last seen %s, RTT %s", seen, rtt)
	}

	b.Network().ClosePeer(a.ID())
	eventually(t, "the member is reported disconnected", func() bool { return obs.has(&obs.disconnected, b.ID()) })
	eventually(t, "the next pass redials it", func() bool {
		m.pass(2)
		return a.Network().Connectedness(b.ID()) == network.Connected
	})
}

// TestOpenDialsMemberAndTagsStream: Open (and a Dialer) connects to a
// member known only from the roster and opens a stream accounted to the
// given resource-manager service; a peer the roster does not list cannot
// be reached.
func TestOpenDialsMemberAndTagsStream(t *testing.T) {
	a, b, stranger := loopbackHost(t), loopbackHost(t), loopbackHost(t)
	const proto = "/vigil/mesh-test/1.0.0"
	b.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		line, err := bufio.NewReader(s).ReadString('\n')
		if err == nil {
			_, err = s.Write([]byte(line))
		}
		if err != nil {
			s.Reset()
		}
	})
	m := newMesh(t, a, rosterOf(t, a, b), &observed{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := m.Dialer(proto, "vigil.mesh-test").Open(ctx, b.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(s).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	var outbound int
	if err := a.Network().ResourceManager().ViewService("vigil.mesh-test", func(sc network.ServiceScope) error {
		outbound = sc.Stat().NumStreamsOutbound
		return nil
	}); err != nil || outbound != 1 {
		t.Fatalf("service vigil.mesh-test holds %d outbound streams (%v), want 1", outbound, err)
	}
	if _, err := m.Open(ctx, stranger.ID(), proto, "vigil.mesh-test"); err == nil {
		t.Fatal("opened a stream to a peer with no roster entry and no known address")
	}
}
