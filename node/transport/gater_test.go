package transport

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-network/vigil/protocol"
)

// connAddrs is a network.ConnMultiaddrs for calling the gater directly.
type connAddrs struct{ local, remote ma.Multiaddr }

func (c connAddrs) LocalMultiaddr() ma.Multiaddr  { return c.local }
func (c connAddrs) RemoteMultiaddr() ma.Multiaddr { return c.remote }

func inbound(t *testing.T, ip string, port int) network.ConnMultiaddrs {
	t.Helper()
	return connAddrs{local: ma.StringCast("/ip4/127.0.0.1/tcp/4701"),
		remote: ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%d", ip, port))}
}

// testClock is a settable clock for the gater's log windows.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rosterMembers answers Members from one roster, as the roster in force
// does.
type rosterMembers struct{ r *protocol.Roster }

func (m rosterMembers) IsMember(p peer.ID) bool { _, ok := m.r.MemberByPeer(p); return ok }

func newTestGater(t *testing.T, o GaterOptions, members ...protocol.Member) (*Gater, *observer.ObservedLogs, *testClock) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	r := &protocol.Roster{Members: members}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	o.Logger = zap.New(core)
	g, err := NewGater(rosterMembers{r}, o)
	if err != nil {
		t.Fatal(err)
	}
	g.SetMembers(r)
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	g.now = clock.now
	g.logs.now = clock.now
	return g, logs, clock
}

func testMember(t *testing.T, cc string, addrs ...string) (protocol.Member, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Member{Country: protocol.CountryCode(cc), PeerID: id.String(), Addrs: addrs}, id
}

// TestGaterAddressCheck: InterceptAccept admits the IPs members' roster
// addresses use and refuses others unless network.behind_nat; a roster
// change moves the set (issue 9, "Transport").
func TestGaterAddressCheck(t *testing.T) {
	m, _ := testMember(t, "FR", "/ip4/127.0.0.1/tcp/4701", "/ip6/::1/udp/4701/quic-v1")
	g, _, _ := newTestGater(t, GaterOptions{}, m)
	if !g.InterceptAccept(inbound(t, "127.0.0.1", 40000)) {
		t.Fatal("member address refused")
	}
	if !g.InterceptAccept(connAddrs{remote: ma.StringCast("/ip6/::1/udp/5000/quic-v1")}) {
		t.Fatal("member IPv6 address refused")
	}
	if g.InterceptAccept(inbound(t, "127.0.0.2", 40001)) {
		t.Fatal("non-member address admitted")
	}
	if got := counterValue(g.refused.WithLabelValues(refuseAddress, "inbound")); got != 1 {
		t.Fatalf("address refusals counted %v, want 1", got)
	}
	// The member moves: its old address is refused, the new one admitted.
	m.Addrs = []string{"/ip4/127.0.0.2/tcp/4701"}
	g.SetMembers(&protocol.Roster{Members: []protocol.Member{m}})
	if g.InterceptAccept(inbound(t, "127.0.0.1", 40002)) || !g.InterceptAccept(inbound(t, "127.0.0.2", 40003)) {
		t.Fatal("address set did not follow the roster")
	}

	nat, _, _ := newTestGater(t, GaterOptions{BehindNAT: true}, m)
	if !nat.InterceptAccept(inbound(t, "192.0.2.9", 40004)) {
		t.Fatal("behind_nat refused a non-member address")
	}
}

// TestRefusalLogAggregated: 1,000 refusals from one source write two
// lines (the first at once, then one summary with the count), not 1,000
// (issue 9 item 7), while the metric counts every one.
func TestRefusalLogAggregated(t *testing.T) {
	g, logs, clock := newTestGater(t, GaterOptions{})
	for i := range 1000 {
		if g.InterceptAccept(inbound(t, "127.0.0.2", 10000+i)) {
			t.Fatal("stranger admitted")
		}
	}
	g.InterceptAccept(inbound(t, "127.0.0.3", 9999)) // another source: its own first line
	if got := counterValue(g.refused.WithLabelValues(refuseAddress, "inbound")); got != 1001 {
		t.Fatalf("metric counted %v refusals, want 1001", got)
	}
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d log lines before the summary, want 2 (first refusal per source)", n)
	}
	clock.add(refusalLogWindow)
	g.logs.flush()
	lines := logs.TakeAll()
	if len(lines) != 3 {
		t.Fatalf("%d log lines after the summary, want 3: %v", len(lines), lines)
	}
	sum := lines[2].ContextMap()
	if sum["source"] != "127.0.0.2" || sum["count"] != int64(999) {
		t.Fatalf("summary %v, want source 127.0.0.2 count 999", sum)
	}
	// A quiet minute writes nothing and forgets the source; its next
	// refusal is logged at once again.
	clock.add(refusalLogWindow)
	g.logs.flush()
	if logs.Len() != 0 {
		t.Fatalf("quiet window logged %v", logs.All())
	}
	g.InterceptAccept(inbound(t, "127.0.0.2", 20000))
	if logs.Len() != 1 {
		t.Fatalf("refusal after a quiet window logged %d lines, want 1", logs.Len())
	}
}

// TestHandshakeTimeoutsCounted: an admitted connection that never reaches
// InterceptSecured within the handshake timeout is counted once.
func TestHandshakeTimeoutsCounted(t *testing.T) {
	m, id := testMember(t, "FR", "/ip4/127.0.0.1/tcp/4701")
	g, _, clock := newTestGater(t, GaterOptions{HandshakeTimeout: 2 * time.Second}, m)
	done, idle := inbound(t, "127.0.0.1", 1), inbound(t, "127.0.0.1", 2)
	g.InterceptAccept(done)
	g.InterceptAccept(idle)
	if !g.InterceptSecured(network.DirInbound, id, done) {
		t.Fatal("member refused")
	}
	g.sweepHandshakes()
	clock.add(10 * time.Second)
	g.sweepHandshakes()
	g.sweepHandshakes()
	if got := counterValue(g.refused.WithLabelValues(refuseHandshake, "inbound")); got != 1 {
		t.Fatalf("handshake timeouts counted %v, want 1", got)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
