package mesh

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/transport"
)

// Peers remembers when each member was last seen and its latest round
// trip, for the network view, and the connector's redial backoff.
type Peers struct {
	mu       sync.Mutex
	lastSeen map[peer.ID]time.Time
	rtt      map[peer.ID]time.Duration
	nextDial map[peer.ID]time.Time
	failures map[peer.ID]int
}

func newPeers() *Peers {
	return &Peers{lastSeen: map[peer.ID]time.Time{}, rtt: map[peer.ID]time.Duration{},
		nextDial: map[peer.ID]time.Time{}, failures: map[peer.ID]int{}}
}

// Seen records that p answered at at, and resets its redial backoff.
func (t *Peers) Seen(p peer.ID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeen[p] = at
	t.failures[p] = 0
	delete(t.nextDial, p)
}

// Touch records that p was seen without resetting its redial backoff.
func (t *Peers) Touch(p peer.ID, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSeen[p] = at
}

// SetRTT records p's latest round trip.
func (t *Peers) SetRTT(p peer.ID, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rtt[p] = d
}

// Get returns when p was last seen and its latest round trip (zero if
// never).
func (t *Peers) Get(p peer.ID) (time.Time, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastSeen[p], t.rtt[p]
}

// ResetBackoff lets the connector redial p on its next pass, as after a
// healed partition whose refused dials grew the backoff.
func (t *Peers) ResetBackoff(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.nextDial, p)
	t.failures[p] = 0
}

// dialDue reports whether a redial of p is due, and if so books the next
// one with backoff.
func (t *Peers) dialDue(p peer.ID, now time.Time, max time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if next, ok := t.nextDial[p]; ok && now.Before(next) {
		return false
	}
	t.failures[p]++
	t.nextDial[p] = now.Add(transport.Backoff(t.failures[p], max))
	return true
}

// holdDial keeps the connector from dialling p before until.
func (t *Peers) holdDial(p peer.ID, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextDial[p] = until
}

// releaseDial ends a holdDial.
func (t *Peers) releaseDial(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.nextDial, p)
}
