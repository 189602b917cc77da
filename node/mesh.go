package node

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
)

// Boot-time dial staggering. The connector keeps a full mesh to every
// member. Without care, a node that starts dials all 192 other members in
// the same instant, and a whole testnet booting together makes 193×192
// simultaneous dials: every pair dials both ways, handshakes twice and
// keeps two connections. So on its first pass the connector
//
//   - spreads its dials over members×10 ms (at most 3 s), and
//   - dials first only members whose peer ID sorts after its own; for the
//     others it waits one spread more plus 2 s, expecting them to dial,
//     and dials only if they have not.
//
// Later passes (redials after a loss) already back off with jitter.
// Delivery workers dial on demand and are not delayed by any of this.

const (
	dialSpreadPerMember = 10 * time.Millisecond
	maxDialSpread       = 3 * time.Second
	dialGrace           = 2 * time.Second
)

// firstDialDelay is how long the first pass waits before dialling id.
func firstDialDelay(self, id peer.ID, members int) time.Duration {
	spread := min(time.Duration(members)*dialSpreadPerMember, maxDialSpread)
	d := rand.N(spread + 1)
	if self > id {
		d += spread + dialGrace // the other side dials first
	}
	return d
}

// firstDialWait waits out id's boot-time delay. It returns false if the
// node stops or id connected meanwhile (nothing left to dial).
func (n *Node) firstDialWait(ctx context.Context, id peer.ID, members int) bool {
	d := firstDialDelay(n.self, id, members)
	// Keep the connector's next pass from dialling id during the wait.
	n.peers.mu.Lock()
	n.peers.nextDial[id] = n.now().Add(d + transport.IOTimeout)
	n.peers.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	// From here the usual backoff applies; the swarm merges a redial
	// with a dial still in flight.
	n.peers.mu.Lock()
	delete(n.peers.nextDial, id)
	n.peers.mu.Unlock()
	return n.host.Network().Connectedness(id) != network.Connected
}

// Keeping the mesh warm. Every connection carries yamux keep-alives and
// round-trip probes, and the connector pings every member to show its
// round trip in the network view, each member every 30 s; the connector
// spreads those pings over the period instead of pinging everyone in one
// burst. A production node has its machine to itself, and 30 s keeps the
// network view fresh and notices a silently dead member within about a
// minute.
//
// A testnet runs the whole network on one machine (testing.shared_machine).
// With 192 members at 30 s that is about 40 probes and pings a second per
// node, each ping a new stream, and a 193-node testnet on two cores spent
// most of its idle CPU on them. So there, beyond 60 members, the periods
// grow with the roster: yamux's to half a second per member (96 s for
// 193), the connector's pings to two seconds per member (6.4 min for 193;
// drills measure reachability on demand). Delivery still notices a lost
// receipt within receipt_timeout.

// connectTick is the connector's period (connectLoop).
const connectTick = 5 * time.Second

// meshPeriod is yamux's keep-alive and round-trip probe period.
func meshPeriod(members int, shared bool) time.Duration {
	if !shared {
		return 30 * time.Second
	}
	return max(30*time.Second, time.Duration(members)*500*time.Millisecond)
}

// pingPeriod is how often the connector pings each member.
func pingPeriod(members int, shared bool) time.Duration {
	if !shared {
		return 30 * time.Second
	}
	return max(30*time.Second, time.Duration(members)*2*time.Second)
}

// pingDue reports whether the connector pings id in the given round: each
// member once per pingPeriod, in a slot fixed by its peer ID.
func pingDue(id peer.ID, round, members int, shared bool) bool {
	rounds := int(pingPeriod(members, shared) / connectTick)
	h := fnv.New32a()
	h.Write([]byte(id))
	return round%rounds == int(h.Sum32()%uint32(rounds))
}

// Roster spreading at scale. A node that installs a roster tells every
// connected member, and a member told of a newer serial pulls the roster
// from the teller. With 192 members every node is told by dozens of peers
// within milliseconds; pulling from each would move the (106 KB for 193
// members) document and verify it thousands of times over. meshState
// keeps one pull in flight at a time and remembers which serial each
// connected peer last claimed, so a node does not tell peers that already
// told it.
type meshState struct {
	mu      sync.Mutex
	pulling uint64             // serial of the pull in flight (0: none)
	serials map[peer.ID]uint64 // latest serial each connected peer claimed
	idle    map[network.Conn]bool

	ids sync.Map // roster peer ID string → decoded peer.ID
}

// memberID is m.ID() without decoding the same base58 string every pass
// of the connector (192 members every 5 s).
func (m *meshState) memberID(mem protocol.Member) (peer.ID, error) {
	if id, ok := m.ids.Load(mem.PeerID); ok {
		return id.(peer.ID), nil
	}
	id, err := mem.ID()
	if err == nil {
		m.ids.Store(mem.PeerID, id)
	}
	return id, err
}

// noteSerial records the serial a peer claimed in an exchange.
func (m *meshState) noteSerial(p peer.ID, s uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.serials == nil {
		m.serials = map[peer.ID]uint64{}
	}
	if s > m.serials[p] {
		m.serials[p] = s
	}
}

// forget drops what is known of a peer when it disconnects: it may come
// back with another roster (restored from a backup, say).
func (m *meshState) forget(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.serials, p)
	for c := range m.idle {
		if c.RemotePeer() == p {
			delete(m.idle, c)
		}
	}
}

// behind reports whether p may not hold serial s yet.
func (m *meshState) behind(p peer.ID, s uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.serials[p] < s
}

// gossipFanout is how many peers a node tells of a roster it learnt from
// another peer. The node that installed it (from the API or a file) tells
// every connected member; in a full mesh that already reaches everyone,
// and the relays cover members that origin could not reach. Relaying to
// everyone instead made 193 nodes open 37,000 roster streams per update.
const gossipFanout = 8

// pushTargets lists the connected members to tell of roster serial,
// leaving out the peer it came from.
func (n *Node) pushTargets(source string, serial uint64) []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.roster.isMember(p) && n.mesh.behind(p, serial) && source != "peer:"+p.String() {
			out = append(out, p)
		}
	}
	if !strings.HasPrefix(source, "peer:") || len(out) <= gossipFanout {
		return out
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:gossipFanout]
}

// antiEntropy compares rosters with one random connected member every
// rosterCheckRounds rounds of the connector, so a node that missed an
// update (a failed push, a relay that skipped it) catches up within
// about half a minute even when no connection changes.
func (n *Node) antiEntropy(round int) {
	if round%rosterCheckRounds != rosterCheckRounds-1 {
		return
	}
	var peers []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.roster.isMember(p) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return
	}
	p := peers[rand.N(len(peers))]
	n.goRun("roster-check", func(ctx context.Context) { n.exchangeRoster(ctx, p) })
}

// rosterCheckRounds is the anti-entropy period in connector rounds (30 s).
const rosterCheckRounds = 6

// pullAttempts bounds the peers one pull tries.
const pullAttempts = 4

// pullRoster pulls serial (or newer) from p unless a pull is in flight
// for serial or higher. If that fails, it tries other connected peers
// that claimed a serial newer than this node's, a few at most: a member
// that claims a serial nobody has (a bug, or an attack) then delays an
// update by one failed exchange, not until the next anti-entropy round.
func (n *Node) pullRoster(p peer.ID, serial uint64) {
	n.mesh.mu.Lock()
	if n.mesh.pulling >= serial {
		n.mesh.mu.Unlock()
		return
	}
	n.mesh.pulling = serial
	n.mesh.mu.Unlock()
	n.goRun("roster-pull", func(ctx context.Context) {
		defer func() {
			n.mesh.mu.Lock()
			if n.mesh.pulling == serial {
				n.mesh.pulling = 0
			}
			n.mesh.mu.Unlock()
		}()
		tried := map[peer.ID]bool{}
		for attempt := 0; attempt < pullAttempts && ctx.Err() == nil; attempt++ {
			tried[p] = true
			n.exchangeRoster(ctx, p)
			if n.roster.serial() >= serial {
				return
			}
			if p = n.mesh.claimant(n.roster.serial()+1, tried, n.host.Network().Connectedness); p == "" {
				return
			}
		}
	})
}

// claimant finds a connected peer, not yet tried, that claimed serial or
// newer.
func (m *meshState) claimant(serial uint64, tried map[peer.ID]bool, conn func(peer.ID) network.Connectedness) peer.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, s := range m.serials {
		if s >= serial && !tried[p] && conn(p) == network.Connected {
			return p
		}
	}
	return ""
}

// Duplicate connections. Two nodes that dial each other at the same
// moment end up with two connections. Only the peer with the smaller ID
// prunes, so the two sides never close both. It keeps the connection
// libp2p itself would open new streams on (most streams, then newest) and
// closes another only once it has carried no stream on two passes of the
// connector in a row (5 s apart) and is older than dupMinAge: a stream
// opened on it in between is reset and retried like any broken stream
// (delivery retries; nothing accepted is lost), but that is rare.
var dupMinAge = 10 * time.Second // a variable for tests

// pruneDuplicates closes idle extra connections to id (connector pass).
func (n *Node) pruneDuplicates(id peer.ID) {
	conns := n.host.Network().ConnsToPeer(id)
	if len(conns) < 2 || n.self > id {
		return
	}
	keep := conns[0]
	for _, c := range conns[1:] {
		if ks, cs := len(keep.GetStreams()), len(c.GetStreams()); cs > ks || (cs == ks && !c.Stat().Opened.Before(keep.Stat().Opened)) {
			keep = c
		}
	}
	n.mesh.mu.Lock()
	defer n.mesh.mu.Unlock()
	if n.mesh.idle == nil {
		n.mesh.idle = map[network.Conn]bool{}
	}
	for _, c := range conns {
		idle := c != keep && len(c.GetStreams()) == 0 && time.Since(c.Stat().Opened) > dupMinAge
		switch {
		case !idle:
			delete(n.mesh.idle, c)
		case n.mesh.idle[c]:
			delete(n.mesh.idle, c)
			_ = c.Close()
		default:
			n.mesh.idle[c] = true // close on the next pass if still idle
		}
	}
}
