package roster

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Roster spreading at scale. A node that installs a roster tells every
// connected member, and a member told of a newer serial pulls the roster
// from the teller. With 192 members every node is told by dozens of peers
// within milliseconds; pulling from each would move the (106 KB for 193
// members) document and verify it thousands of times over. claims keeps
// one pull in flight at a time and remembers which serial each connected
// peer last claimed, so a node does not tell peers that already told it.
type claims struct {
	mu      sync.Mutex
	pulling uint64             // serial of the pull in flight (0: none)
	serials map[peer.ID]uint64 // latest serial each connected peer claimed
}

// note records the serial a peer claimed in an exchange.
func (c *claims) note(p peer.ID, s uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.serials == nil {
		c.serials = map[peer.ID]uint64{}
	}
	if s > c.serials[p] {
		c.serials[p] = s
	}
}

// forget drops what is known of a peer when it disconnects: it may come
// back with another roster (restored from a backup, say).
func (c *claims) forget(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.serials, p)
}

// behind reports whether p may not hold serial s yet.
func (c *claims) behind(p peer.ID, s uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serials[p] < s
}

// startPull books a pull of serial; false if one for serial or higher is
// in flight.
func (c *claims) startPull(serial uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pulling >= serial {
		return false
	}
	c.pulling = serial
	return true
}

// endPull ends the pull of serial (unless a newer one took its place).
func (c *claims) endPull(serial uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pulling == serial {
		c.pulling = 0
	}
}

// claimant finds a connected peer, not yet tried, that claimed serial or
// newer.
func (c *claims) claimant(serial uint64, tried map[peer.ID]bool, conn func(peer.ID) network.Connectedness) peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, s := range c.serials {
		if s >= serial && !tried[p] && conn(p) == network.Connected {
			return p
		}
	}
	return ""
}

// Connected starts an exchange with a member that just connected.
func (g *Gossip) Connected(p peer.ID) {
	g.goRun("roster-exchange", func(ctx context.Context) { g.Exchange(ctx, p) })
}

// Disconnected forgets the serial p claimed.
func (g *Gossip) Disconnected(p peer.ID) { g.claims.forget(p) }

// gossipFanout is how many peers a node tells of a roster it learnt from
// another peer. The node that installed it (from the API or a file) tells
// every connected member; in a full mesh that already reaches everyone,
// and the relays cover members that origin could not reach. Relaying to
// everyone instead made 193 nodes open 37,000 roster streams per update.
const gossipFanout = 8

// pushTargets lists the connected members to tell of roster serial,
// leaving out the peer it came from.
func (g *Gossip) pushTargets(src Source, serial uint64) []peer.ID {
	var out []peer.ID
	for _, p := range g.host.Network().Peers() {
		if g.state.IsMember(p) && g.claims.behind(p, serial) && src != FromPeer(p) {
			out = append(out, p)
		}
	}
	if !src.fromPeer() || len(out) <= gossipFanout {
		return out
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:gossipFanout]
}

// checkRounds is the anti-entropy period in rounds of the connector that
// calls AntiEntropy (5 s each: 30 s).
const checkRounds = 6

// AntiEntropy compares rosters with one random connected member every
// checkRounds rounds of the connector, so a node that missed an update (a
// failed push, a relay that skipped it) catches up within about half a
// minute even when no connection changes.
func (g *Gossip) AntiEntropy(round int) {
	if round%checkRounds != checkRounds-1 {
		return
	}
	var peers []peer.ID
	for _, p := range g.host.Network().Peers() {
		if g.state.IsMember(p) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return
	}
	p := peers[rand.N(len(peers))]
	g.goRun("roster-check", func(ctx context.Context) { g.Exchange(ctx, p) })
}

// pullAttempts bounds the peers one pull tries.
const pullAttempts = 4

// pull pulls serial (or newer) from p unless a pull is in flight for
// serial or higher. If that fails, it tries other connected peers that
// claimed a serial newer than this node's, a few at most: a member that
// claims a serial nobody has (a bug, or an attack) then delays an update by
// one failed exchange, not until the next anti-entropy round.
func (g *Gossip) pull(p peer.ID, serial uint64) {
	if !g.claims.startPull(serial) {
		return
	}
	g.goRun("roster-pull", func(ctx context.Context) {
		defer g.claims.endPull(serial)
		tried := map[peer.ID]bool{}
		for attempt := 0; attempt < pullAttempts && ctx.Err() == nil; attempt++ {
			tried[p] = true
			g.Exchange(ctx, p)
			if g.state.Serial() >= serial {
				return
			}
			if p = g.claims.claimant(g.state.Serial()+1, tried, g.host.Network().Connectedness); p == "" {
				return
			}
		}
	})
}
