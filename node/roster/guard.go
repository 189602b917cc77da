package roster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

// ErrDrops marks a correctly signed, newer roster that the node refuses
// because it drops this node or too many members at once (issue 9 item 8):
// an authority's mistake (a missing or truncated draft) must not take a
// 24/7 contact point off the network. An admin can force it.
var ErrDrops = errors.New("roster drops this node or too many members")

// drop describes what a candidate roster removes from the current one.
type drop struct {
	self    bool                   // this node's peer ID is no longer listed
	dropped []protocol.CountryCode // countries of current members no longer listed
	of      int                    // members of the current roster
}

// drops compares candidate r with the current roster old. Members count by
// country (a member that re-keys keeps its seat); this node counts by peer
// ID (listed under another ID, it is cut off all the same). A node that was
// not in old is not "dropped" by r.
func drops(old, r *protocol.Roster, self peer.ID) drop {
	if old == nil {
		return drop{}
	}
	d := drop{of: len(old.Members)}
	_, wasIn := old.MemberByPeer(self)
	_, isIn := r.MemberByPeer(self)
	d.self = wasIn && !isIn
	for _, m := range old.Members {
		if _, ok := r.Member(m.Country); !ok {
			d.dropped = append(d.dropped, m.Country)
		}
	}
	return d
}

// exceeds reports whether the drop is more than the guard allows: this
// node, or more than maxShare of the members.
func (d drop) exceeds(maxShare float64) bool {
	return d.self || (d.of > 0 && float64(len(d.dropped))/float64(d.of) > maxShare)
}

func (d drop) String() string {
	var parts []string
	if d.self {
		parts = append(parts, "drops this node")
	}
	if len(d.dropped) > 0 {
		list := d.dropped
		more := ""
		if len(list) > 10 { // 193 members: keep alert lines readable
			list, more = list[:10], fmt.Sprintf(" and %d more", len(d.dropped)-10)
		}
		parts = append(parts, fmt.Sprintf("drops %d of %d members (%s%s)", len(d.dropped), d.of, joinCountries(list), more))
	}
	if len(parts) == 0 {
		return "drops no member"
	}
	return strings.Join(parts, ", ")
}

func joinCountries(cc []protocol.CountryCode) string {
	s := make([]string, len(cc))
	for i, c := range cc {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
