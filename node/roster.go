package node

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

// rosterState holds the current roster and answers membership questions
// for the gater and the envelope opener. Reads are lock-free in spirit
// (RWMutex, short critical sections); replacement is atomic.
type rosterState struct {
	authority ed25519.PublicKey
	path      string

	// applyMu serialises replacements, so the file write (an fsync or
	// two) happens outside mu and never stalls the gater or a handler.
	applyMu sync.Mutex

	// refused remembers the last document the drop guard refused, so the
	// same roster offered again by every peer (gossip, anti-entropy) is
	// turned away without re-verifying, re-alerting or re-auditing it.
	// Guarded by applyMu; cleared whenever a roster is installed.
	refused struct {
		hash [32]byte
		r    *protocol.Roster
		err  error
	}

	mu        sync.RWMutex
	doc       []byte
	roster    *protocol.Roster
	byPeer    map[peer.ID]protocol.Member
	byCountry map[string]peer.ID
}

func newRosterState(path string, authority ed25519.PublicKey) *rosterState {
	return &rosterState{path: path, authority: authority,
		byPeer: map[peer.ID]protocol.Member{}, byCountry: map[string]peer.ID{}}
}

// load reads the roster file at startup. An expired roster is still loaded
// (cutting a 24/7 network off silently is worse) but reported.
func (rs *rosterState) load(now time.Time) error {
	doc, err := os.ReadFile(rs.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("roster %s does not exist: get the signed roster from the network authority", rs.path)
	}
	if err != nil {
		return fmt.Errorf("read roster %s: %w", rs.path, err)
	}
	r, err := protocol.VerifyRoster(doc, rs.authority)
	if err != nil {
		return fmt.Errorf("roster %s: %w", rs.path, err)
	}
	rs.swap(doc, r)
	return nil
}

// apply verifies a candidate roster and, if it is newer and guard (if
// set) allows it, persists it and makes it current. It returns the
// previous roster. guard runs under applyMu, so it judges the candidate
// against the roster it would replace; an error from guard is remembered
// for that exact document (see refused).
func (rs *rosterState) apply(doc []byte, now time.Time, guard func(old, r *protocol.Roster) error) (old *protocol.Roster, r *protocol.Roster, err error) {
	h := sha256.Sum256(doc)
	if guard != nil {
		rs.applyMu.Lock()
		hit, cr, cerr := rs.refused.hash == h && rs.refused.err != nil, rs.refused.r, rs.refused.err
		rs.applyMu.Unlock()
		if hit {
			cur, _ := rs.current()
			return cur, cr, fmt.Errorf("%w: %w", errRefusedBefore, cerr)
		}
	}
	r, err = protocol.VerifyRoster(doc, rs.authority)
	if err != nil {
		return nil, nil, err
	}
	rs.applyMu.Lock()
	defer rs.applyMu.Unlock()
	old, _ = rs.current()
	if err := protocol.AcceptRoster(old, r, now); err != nil {
		return nil, nil, err
	}
	if guard != nil {
		if err := guard(old, r); err != nil {
			rs.refused.hash, rs.refused.r, rs.refused.err = h, r, err
			return old, r, err
		}
	}
	if err := WriteFileAtomic(rs.path, doc, 0o644); err != nil {
		return nil, nil, fmt.Errorf("persist roster: %w", err)
	}
	rs.refused.hash, rs.refused.r, rs.refused.err = [32]byte{}, nil, nil
	rs.swap(doc, r)
	return old, r, nil
}

// forgetRefused drops the cached refusal, so an admin's forced push of a
// document refused before is judged afresh.
func (rs *rosterState) forgetRefused() {
	rs.applyMu.Lock()
	defer rs.applyMu.Unlock()
	rs.refused.hash, rs.refused.r, rs.refused.err = [32]byte{}, nil, nil
}

// ErrRosterDrops marks a correctly signed, newer roster that the node
// refuses because it drops this node or too many members at once (issue
// 9 item 8): an authority's mistake (a missing or truncated draft) must
// not take a 24/7 contact point off the network. An admin can force it.
var ErrRosterDrops = errors.New("roster drops this node or too many members")

// errRefusedBefore wraps the cached refusal of a document offered again.
var errRefusedBefore = errors.New("refused before")

// rosterDrop describes what a candidate roster removes from the current one.
type rosterDrop struct {
	self    bool     // this node's peer ID is no longer listed
	dropped []string // countries of current members no longer listed
	of      int      // members of the current roster
}

// rosterDrops compares candidate r with the current roster old. Members
// count by country (a member that re-keys keeps its seat); this node
// counts by peer ID (listed under another ID, it is cut off all the same).
// A node that was not in old is not "dropped" by r.
func rosterDrops(old, r *protocol.Roster, self peer.ID) rosterDrop {
	if old == nil {
		return rosterDrop{}
	}
	d := rosterDrop{of: len(old.Members)}
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

// exceeds reports whether the drop is more than the guard allows.
func (d rosterDrop) exceeds(maxShare float64) bool {
	return d.self || (d.of > 0 && float64(len(d.dropped))/float64(d.of) > maxShare)
}

func (d rosterDrop) String() string {
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
		parts = append(parts, fmt.Sprintf("drops %d of %d members (%s%s)", len(d.dropped), d.of, strings.Join(list, ", "), more))
	}
	if len(parts) == 0 {
		return "drops no member"
	}
	return strings.Join(parts, ", ")
}

func (rs *rosterState) swap(doc []byte, r *protocol.Roster) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.swapLocked(doc, r)
}

func (rs *rosterState) swapLocked(doc []byte, r *protocol.Roster) {
	byPeer := make(map[peer.ID]protocol.Member, len(r.Members))
	byCountry := make(map[string]peer.ID, len(r.Members))
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil {
			continue // Validate already refused these
		}
		byPeer[id] = m
		byCountry[m.Country] = id
	}
	rs.doc, rs.roster, rs.byPeer, rs.byCountry = doc, r, byPeer, byCountry
}

// MemberByPeer implements protocol.Directory.
func (rs *rosterState) MemberByPeer(id peer.ID) (protocol.Member, bool) {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	m, ok := rs.byPeer[id]
	return m, ok
}

func (rs *rosterState) isMember(id peer.ID) bool {
	_, ok := rs.MemberByPeer(id)
	return ok
}

func (rs *rosterState) byCountryCode(cc string) (peer.ID, protocol.Member, bool) {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	id, ok := rs.byCountry[cc]
	if !ok {
		return "", protocol.Member{}, false
	}
	return id, rs.byPeer[id], true
}

func (rs *rosterState) current() (*protocol.Roster, []byte) {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.roster, rs.doc
}

func (rs *rosterState) serial() uint64 {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if rs.roster == nil {
		return 0
	}
	return rs.roster.Serial
}
