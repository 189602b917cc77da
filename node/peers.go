package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
)

// peerTracker remembers when each member was last seen and its latest
// round-trip time, for the API's network view.
type peerTracker struct {
	mu       sync.Mutex
	lastSeen map[peer.ID]time.Time
	rtt      map[peer.ID]time.Duration
	nextDial map[peer.ID]time.Time
	failures map[peer.ID]int
}

func newPeerTracker() *peerTracker {
	return &peerTracker{lastSeen: map[peer.ID]time.Time{}, rtt: map[peer.ID]time.Duration{},
		nextDial: map[peer.ID]time.Time{}, failures: map[peer.ID]int{}}
}

func (t *peerTracker) seen(p peer.ID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeen[p] = at
	t.failures[p] = 0
	delete(t.nextDial, p)
}

// touch records that p was seen without resetting its dial backoff.
func (t *peerTracker) touch(p peer.ID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeen[p] = at
}

func (t *peerTracker) setRTT(p peer.ID, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rtt[p] = d
}

func (t *peerTracker) get(p peer.ID) (time.Time, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastSeen[p], t.rtt[p]
}

// dialDue reports whether a reconnect attempt to p is due, and if so books
// the next one with backoff.
func (t *peerTracker) dialDue(p peer.ID, now time.Time, max time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if next, ok := t.nextDial[p]; ok && now.Before(next) {
		return false
	}
	t.failures[p]++
	t.nextDial[p] = now.Add(transport.Backoff(t.failures[p], max))
	return true
}

// addMemberAddrs puts a member's roster addresses in the peerstore.
func (n *Node) addMemberAddrs(m protocol.Member) {
	id, err := m.ID()
	if err != nil || id == n.self {
		return
	}
	addrs, err := m.Multiaddrs()
	if err != nil {
		return
	}
	n.host.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
}

// applyMembership brings the host in line with the current roster: member
// addresses, connection protection and delivery workers; members that left
// lose their connections at once.
func (n *Node) applyMembership(old *protocol.Roster) {
	r, _ := n.roster.current()
	// Address check and resource-manager allowlist follow the roster
	// (node/transport/gater.go, issue 9 "Transport").
	n.gater.SetMembers(r)
	keep := map[peer.ID]bool{}
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil || id == n.self {
			continue
		}
		keep[id] = true
		if old != nil {
			if prev, ok := old.MemberByPeer(id); ok {
				// Drop stale addresses when a member moves.
				if pa, _ := prev.Multiaddrs(); len(pa) > 0 {
					n.host.Peerstore().ClearAddrs(id)
				}
			}
		}
		n.addMemberAddrs(m)
		n.cm.Protect(id, "roster")
		n.engine.Ensure(id)
	}
	if old != nil {
		for _, m := range old.Members {
			id, err := m.ID()
			if err != nil || keep[id] || id == n.self {
				continue
			}
			n.cm.Unprotect(id, "roster")
			n.engine.Stop(id)
			if err := n.host.Network().ClosePeer(id); err == nil {
				n.log.Warn("member left the roster; connections closed", zap.String("country", m.Country), zap.Stringer("peer", id))
			}
		}
	}
	// Also drop any connection the gater admitted under an older roster.
	for _, p := range n.host.Network().Peers() {
		if !n.gater.Allowed(p) {
			_ = n.host.Network().ClosePeer(p)
		}
	}
	// Workers paused because this node was not a member resume when the
	// roster lists it again (delivery.go run).
	n.engine.RosterChanged()
}

// watchPeers follows connectedness events: a member that connects gets an
// immediate delivery retry and a roster exchange.
func (n *Node) watchPeers() error {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	n.goRun("gater", n.gater.Run) // refusal log, handshake timeouts, member DNS (node/transport/gater.go)
	n.goRun("peer-events", func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				e := ev.(event.EvtPeerConnectednessChanged)
				// Only the last-seen time: a connection the remote closes
				// at once (it gates us) must not reset the dial backoff, or
				// a revoked member is redialled every tick (issue 9 item 7).
				// A ping answered over the connection resets it (pingPeer).
				n.peers.touch(e.Peer, n.now())
				if e.Connectedness == network.Connected && n.roster.isMember(e.Peer) {
					n.engine.Connected(e.Peer)
					n.goRun("roster-exchange", func(ctx context.Context) { n.exchangeRoster(ctx, e.Peer) })
				}
				if e.Connectedness != network.Connected {
					n.mesh.forget(e.Peer) // mesh.go
				}
			}
		}
	})
	return nil
}

// connectLoop keeps connections to every member warm: it redials lost
// members with backoff and pings connected ones to measure round trips.
func (n *Node) connectLoop(ctx context.Context) {
	t := time.NewTicker(connectTick)
	defer t.Stop()
	pings := 0
	for {
		r, _ := n.roster.current()
		round := pings      // pings are spread over rounds (mesh.go)
		first := pings == 0 // boot: stagger the dials (mesh.go)
		pings++
		n.antiEntropy(round) // mesh.go
		for _, m := range r.Members {
			id, err := n.mesh.memberID(m)
			if err != nil || id == n.self {
				continue
			}
			if n.host.Network().Connectedness(id) == network.Connected {
				n.pruneDuplicates(id) // mesh.go
				if pingDue(id, round, len(r.Members), n.cfg.Testing.SharedMachine) {
					n.goRun("ping", func(ctx context.Context) { n.pingPeer(ctx, id) })
				}
				continue
			}
			if !n.peers.dialDue(id, n.now(), n.cfg.Delivery.MaxBackoff) {
				continue
			}
			n.goRun("dial", func(ctx context.Context) {
				if first && !n.firstDialWait(ctx, id, len(r.Members)) {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
				defer cancel()
				if err := n.host.Connect(cctx, peer.AddrInfo{ID: id}); err != nil {
					n.log.Debug("member unreachable", zap.String("country", m.Country), zap.Error(err))
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) pingPeer(ctx context.Context, id peer.ID) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case res := <-ping.Ping(cctx, n.host, id):
		if res.Error == nil {
			n.peers.setRTT(id, res.RTT)
			n.peers.seen(id, n.now())
		}
	case <-cctx.Done():
	}
}
