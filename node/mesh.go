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
	n.peers.nextDial[id] = n.now().Add(d + ioTimeout)
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

// Keeping a large mesh warm. Every connection carries yamux keep-alives
// and round-trip probes, and the connector pings every member to show its
// round trip in the network view. With 192 members at the default 30 s
// that is about 40 probes and pings a second per node, each ping a new
// stream; a 193-node testnet on one machine spent most of its idle CPU on
// them. So beyond 60 members the periods grow with the roster: yamux's to
// half a second per member (96 s for 193), the connector's pings to two
// seconds per member (6.4 min for 193; drills measure reachability on
// demand), and the connector spreads its pings over the period instead of
// pinging everyone in one burst. The kernel's TCP keep-alive and yamux
// still notice a dead connection, and delivery notices a lost receipt
// within receipt_timeout.

// connectTick is the connector's period (connectLoop).
const connectTick = 5 * time.Second

// meshPeriod is yamux's keep-alive and round-trip probe period.
func meshPeriod(members int) time.Duration {
	return max(30*time.Second, time.Duration(members)*500*time.Millisecond)
}

// pingPeriod is how often the connector pings each member.
func pingPeriod(members int) time.Duration {
	return max(30*time.Second, time.Duration(members)*2*time.Second)
}

// pingDue reports whether the connector pings id in the given round: each
// member once per pingPeriod, in a slot fixed by its peer ID.
func pingDue(id peer.ID, round, members int) bool {
	rounds := int(pingPeriod(members) / connectTick)
	h := fnv.New32a()
	h.Write([]byte(id))
	return round%rounds == int(h.Sum32()%uint32(rounds))
}

// Roster spreading at scale. A node that installs a roster tells every
// connected member, and a member told of a newer serial pulls the roster
// from the teller. With 192 members every node is told by dozens of peers
// within milliseconds; pulling from each would move the (113 KB for 193
// members) document and verify it thousands of times over. meshState
// keeps one pull per serial in flight and remembers which serial each peer
// last claimed, so a node does not tell peers that already told it.
type meshState struct {
	mu      sync.Mutex
	pulling uint64             // serial of the pull in flight (0: none)
	serials map[peer.ID]uint64 // latest serial each peer claimed

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

// pushTargets lists the connected members to tell of roster serial.
func (n *Node) pushTargets(source string, serial uint64) []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.roster.isMember(p) && n.mesh.behind(p, serial) {
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

// pullRoster pulls serial (or newer) from p unless a pull of it is in
// flight. If the pull fails, it tries the other connected peers that
// claimed the serial, a few at most.
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
		for attempt := 0; attempt < 4 && ctx.Err() == nil; attempt++ {
			tried[p] = true
			n.exchangeRoster(ctx, p)
			if n.roster.serial() >= serial {
				return
			}
			if p = n.mesh.claimant(serial, tried, n.host.Network().Connectedness); p == "" {
				return
			}
		}
	})
}

// claimant finds a connected peer, not yet tried, that claimed serial.
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

// pruneDuplicates closes extra connections to a member. Two nodes that
// dial each other at the same moment end up with two connections; both
// keep the one the peer with the smaller ID dialled (so they agree
// without talking) and close the others once no stream uses them.
func (n *Node) pruneDuplicates(id peer.ID) {
	conns := n.host.Network().ConnsToPeer(id)
	if len(conns) < 2 {
		return
	}
	want := network.DirOutbound // we dial first (firstDialDelay)
	if n.self > id {
		want = network.DirInbound
	}
	keep := -1
	for i, c := range conns {
		if c.Stat().Direction == want && (keep < 0 || c.Stat().Opened.Before(conns[keep].Stat().Opened)) {
			keep = i
		}
	}
	if keep < 0 {
		keep = 0 // no connection in the agreed direction: keep the first
	}
	for i, c := range conns {
		if i != keep && len(c.GetStreams()) == 0 {
			_ = c.Close()
		}
	}
}
