package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// apply verifies a candidate roster and, if it is newer, persists it and
// makes it current. It returns the previous roster.
func (rs *rosterState) apply(doc []byte, now time.Time) (old *protocol.Roster, r *protocol.Roster, err error) {
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
	if err := WriteFileAtomic(rs.path, doc, 0o644); err != nil {
		return nil, nil, fmt.Errorf("persist roster: %w", err)
	}
	rs.swap(doc, r)
	return old, r, nil
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
