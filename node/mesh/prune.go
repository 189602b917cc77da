package mesh

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

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
func (m *Mesh) pruneDuplicates(id peer.ID) {
	conns := m.host.Network().ConnsToPeer(id)
	if len(conns) < 2 || m.self > id {
		return
	}
	keep := conns[0]
	for _, c := range conns[1:] {
		if ks, cs := len(keep.GetStreams()), len(c.GetStreams()); cs > ks || (cs == ks && !c.Stat().Opened.Before(keep.Stat().Opened)) {
			keep = c
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range conns {
		idle := c != keep && len(c.GetStreams()) == 0 && time.Since(c.Stat().Opened) > dupMinAge
		switch {
		case !idle:
			delete(m.idle, c)
		case m.idle[c]:
			delete(m.idle, c)
			_ = c.Close() // an idle duplicate; the kept connection carries on
		default:
			m.idle[c] = true // close on the next pass if still idle
		}
	}
}

// forgetConns drops the idle marks of p's connections once it has none.
func (m *Mesh) forgetConns(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.idle {
		if c.RemotePeer() == p {
			delete(m.idle, c)
		}
	}
}
