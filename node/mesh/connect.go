package mesh

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
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
func (m *Mesh) firstDialWait(ctx context.Context, id peer.ID, members int) bool {
	d := firstDialDelay(m.self, id, members)
	// Keep the connector's next pass from dialling id during the wait.
	m.peers.holdDial(id, m.now().Add(d+transport.IOTimeout))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	// From here the usual backoff applies; the swarm merges a redial
	// with a dial still in flight.
	m.peers.releaseDial(id)
	return m.host.Network().Connectedness(id) != network.Connected
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

// connectTick is the connector's period (Run).
const connectTick = 5 * time.Second

// KeepAlivePeriod is yamux's keep-alive and round-trip probe period for a
// roster of members (the host's muxer takes it).
func KeepAlivePeriod(members int, sharedMachine bool) time.Duration {
	if !sharedMachine {
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

// Run is the connector: until ctx ends it redials lost members with
// backoff, pings connected ones to measure round trips and prunes
// duplicate connections, one pass every connectTick.
func (m *Mesh) Run(ctx context.Context) {
	t := time.NewTicker(connectTick)
	defer t.Stop()
	for round := 0; ; round++ {
		m.pass(round)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass is one round of the connector; round 0 staggers its dials.
func (m *Mesh) pass(round int) {
	r, _ := m.members.Current()
	first := round == 0 // boot: stagger the dials
	m.obs.Round(round)
	for _, mem := range r.Members {
		id, err := m.memberID(mem)
		if err != nil || id == m.self {
			continue
		}
		if m.host.Network().Connectedness(id) == network.Connected {
			m.pruneDuplicates(id)
			if pingDue(id, round, len(r.Members), m.shared) {
				m.goRun("ping", func(ctx context.Context) { m.pingPeer(ctx, id) })
			}
			continue
		}
		if !m.peers.dialDue(id, m.now(), m.maxBackoff) {
			continue
		}
		m.goRun("dial", func(ctx context.Context) {
			if first && !m.firstDialWait(ctx, id, len(r.Members)) {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
			defer cancel()
			if err := m.host.Connect(cctx, peer.AddrInfo{ID: id}); err != nil {
				m.log.Debug("member unreachable", zap.Stringer("country", mem.Country), zap.Error(err))
			}
		})
	}
}

// pingPeer measures id's round trip with libp2p's ping; an answer also
// resets id's redial backoff.
func (m *Mesh) pingPeer(ctx context.Context, id peer.ID) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case res := <-ping.Ping(cctx, m.host, id):
		if res.Error == nil {
			m.peers.SetRTT(id, res.RTT)
			m.peers.Seen(id, m.now())
		}
	case <-cctx.Done():
	}
}
