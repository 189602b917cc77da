package node

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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
