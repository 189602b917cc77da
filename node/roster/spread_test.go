package roster

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestClaimantSkipsTriedAndDisconnected(t *testing.T) {
	var m claims
	m.note("old", 1)
	m.note("tried", 5)
	m.note("gone", 5)
	m.note("good", 3)
	conn := func(p peer.ID) network.Connectedness {
		if p == "gone" {
			return network.NotConnected
		}
		return network.Connected
	}
	if p := m.claimant(2, map[peer.ID]bool{"tried": true}, conn); p != "good" {
		t.Errorf("claimant = %q, want good", p)
	}
	m.forget("good")
	if p := m.claimant(2, map[peer.ID]bool{"tried": true}, conn); p != "" {
		t.Errorf("claimant after forget = %q, want none", p)
	}
}
