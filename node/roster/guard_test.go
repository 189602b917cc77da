package roster

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

func testMembers(t *testing.T, n int) ([]protocol.Member, []peer.ID) {
	t.Helper()
	ms, ids := make([]protocol.Member, n), make([]peer.ID, n)
	for i := range ms {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ids[i], _ = peer.IDFromPrivateKey(k)
		ms[i] = protocol.Member{Country: protocol.CountryCode(fmt.Sprintf("%c%c", 'A'+i/26, 'A'+i%26)), PeerID: ids[i].String()}
	}
	return ms, ids
}

// TestRosterDropsShare pins the drop guard's arithmetic (issue 9 item 8):
// the default 0.34 lets 3 members lose 1, refuses 5 of 12, and dropping
// this node is refused whatever the share.
func TestRosterDropsShare(t *testing.T) {
	const share = 0.34
	ms, ids := testMembers(t, 12)
	old := &protocol.Roster{Members: ms[:3]}
	d := drops(old, &protocol.Roster{Members: ms[:2]}, ids[0])
	if d.exceeds(share) || d.String() != "drops 1 of 3 members (AC)" {
		t.Fatalf("3 → 2: %q exceeds=%v, want allowed", d, d.exceeds(share))
	}
	if d := drops(old, &protocol.Roster{Members: ms[:1]}, ids[0]); !d.exceeds(share) {
		t.Fatalf("3 → 1 allowed: %q", d)
	}
	old = &protocol.Roster{Members: ms}
	d = drops(old, &protocol.Roster{Members: ms[:7]}, ids[0])
	if !d.exceeds(share) || d.String() != "drops 5 of 12 members (AH, AI, AJ, AK, AL)" {
		t.Fatalf("12 → 7: %q exceeds=%v, want refused", d, d.exceeds(share))
	}
	if d := drops(old, &protocol.Roster{Members: ms[:8]}, ids[0]); d.exceeds(share) {
		t.Fatalf("12 → 8 (4 of 12) refused: %q", d)
	}
	// Dropping this node alone, and this node listed under another peer ID.
	d = drops(old, &protocol.Roster{Members: ms[1:]}, ids[0])
	if !d.exceeds(1) || d.String() != "drops this node, drops 1 of 12 members (AA)" {
		t.Fatalf("self dropped: %q exceeds=%v", d, d.exceeds(1))
	}
	rekeyed := append([]protocol.Member{ms[1]}, ms[1:]...)
	rekeyed[0].Country = ms[0].Country
	if d := drops(old, &protocol.Roster{Members: rekeyed}, ids[0]); !d.self || len(d.dropped) != 0 {
		t.Fatalf("self re-listed under another ID: %+v", d)
	}
	// A node that was not in the roster before is not "dropped".
	if d := drops(&protocol.Roster{Members: ms[1:4]}, &protocol.Roster{Members: ms[1:4]}, ids[0]); d.exceeds(share) {
		t.Fatalf("outsider: %q", d)
	}
	if d := drops(nil, &protocol.Roster{Members: ms[:1]}, ids[5]); d.exceeds(share) {
		t.Fatalf("first roster: %q", d)
	}
}
