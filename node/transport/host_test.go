package transport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/vigil-network/vigil/protocol"
)

// dialer is a plain libp2p host on loopback, playing a member or a
// stranger that dials the host under test.
func dialer(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// gatedHost builds a host with NewHost whose roster lists members.
func gatedHost(t *testing.T, members ...protocol.Member) (host.Host, *Gater) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	r := &protocol.Roster{Members: members}
	g, err := NewGater(rosterMembers{r}, GaterOptions{Self: self, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g.SetMembers(r)
	h, cm, err := NewHost(HostOptions{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, TCP: true,
		Members: len(members), KeepAlive: 30 * time.Second}, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); cm.Close() })
	return h, g
}

func memberOf(h host.Host) protocol.Member {
	addrs := make([]string, len(h.Addrs()))
	for i, a := range h.Addrs() {
		addrs[i] = a.String()
	}
	return protocol.Member{Country: "FR", PeerID: h.ID().String(), Addrs: addrs}
}

// TestHostAdmitsOnlyMembers: over real TCP on loopback, a roster member
// connects; a stranger from the same IP is refused after the handshake
// proves its peer ID, and counted; a partitioned member is refused until
// Heal.
func TestHostAdmitsOnlyMembers(t *testing.T) {
	member, stranger := dialer(t), dialer(t)
	h, g := gatedHost(t, memberOf(member))
	if g.allowlist == nil || len(g.listed) != 1 {
		t.Fatalf("allowlist attached %v with %d entries, want the member's one", g.allowlist != nil, len(g.listed))
	}
	target := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := member.Connect(ctx, target); err != nil {
		t.Fatalf("member refused: %v", err)
	}
	if err := stranger.Connect(ctx, target); err == nil {
		// The dialer may see the connection before the gater closes it.
		waitFor(t, func() bool { return h.Network().Connectedness(stranger.ID()) != network.Connected })
	}
	waitFor(t, func() bool { return counterValue(g.refused.WithLabelValues(refusePeer, "inbound")) == 1 })
	if h.Network().Connectedness(member.ID()) != network.Connected {
		t.Fatal("member lost its connection")
	}

	g.Partition(member.ID())
	if g.Allowed(member.ID()) {
		t.Fatal("partitioned member allowed")
	}
	h.Network().ClosePeer(member.ID())
	waitFor(t, func() bool { return member.Network().Connectedness(h.ID()) != network.Connected })
	if err := member.Connect(ctx, target); err == nil {
		waitFor(t, func() bool { return h.Network().Connectedness(member.ID()) != network.Connected })
	}
	waitFor(t, func() bool { return counterValue(g.refused.WithLabelValues(refusePeer, "inbound")) == 2 })
	if got := g.Partitioned(); len(got) != 1 || got[0] != member.ID() {
		t.Fatalf("partitioned %v, want the member", got)
	}
	if healed := g.Heal(); len(healed) != 1 || healed[0] != member.ID() {
		t.Fatalf("Heal returned %v, want the member", healed)
	}
	if len(g.Partitioned()) != 0 || !g.Allowed(member.ID()) {
		t.Fatal("member still cut off after Heal")
	}
	if sw, ok := member.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(h.ID()) // the refused dial backed off
	}
	if err := member.Connect(ctx, target); err != nil {
		t.Fatalf("member refused after Heal: %v", err)
	}
}

// TestNewHostErrors: a port in use is an error naming it, not a host
// silently running without it (issue 9 item 10); a host needs a transport.
func TestNewHostErrors(t *testing.T) {
	busy := dialer(t)
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGater(rosterMembers{&protocol.Roster{}}, GaterOptions{HandshakeTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addrs()[0].String()
	if _, _, err := NewHost(HostOptions{Key: key, Listen: []string{addr}, TCP: true, KeepAlive: time.Minute}, g); err == nil ||
		!strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "another node") {
		t.Errorf("port in use: err = %v, want one naming %s", err, addr)
	}
	if _, _, err := NewHost(HostOptions{Key: key, KeepAlive: time.Minute}, g); err == nil || !strings.Contains(err.Error(), "no transport") {
		t.Errorf("no transport: err = %v", err)
	}
	if _, err := NewGater(rosterMembers{&protocol.Roster{}}, GaterOptions{}); err == nil {
		t.Error("NewGater accepted a zero handshake timeout")
	}
}

// TestRosterLimits: the limits grow with the roster, never below the UN's
// 193 members; strangers keep a fixed transient budget; descriptors stay
// under three quarters of the process limit.
func TestRosterLimits(t *testing.T) {
	small, big := rosterLimits(3, 0).ToPartialLimitConfig(), rosterLimits(400, 0).ToPartialLimitConfig()
	if got, want := small.System.Conns, (unMembers+64)*2; int(got) != want {
		t.Errorf("3 members: %v system connections, want %d (sized for %d)", got, want, unMembers)
	}
	if got, want := big.System.Conns, (400+64)*2; int(got) != want {
		t.Errorf("400 members: %v system connections, want %d", got, want)
	}
	if small.Transient.Conns != strangerConns || big.Transient.Conns != strangerConns {
		t.Errorf("stranger budget %v and %v, want %d", small.Transient.Conns, big.Transient.Conns, strangerConns)
	}
	if fd := rosterLimits(193, 400).ToPartialLimitConfig().System.FD; int(fd) != 300 {
		t.Errorf("with 400 descriptors the system may use %v, want 300", fd)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
