package roster

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

// ErrUnrecorded marks a roster that passed every check but was not
// installed because its audit record (and alert, if it had one) could not be
// written: no operator's roster change takes effect without its record.
var ErrUnrecorded = errors.New("roster not applied: its audit record could not be written")

// errRefusedBefore wraps the cached refusal of a document offered again.
var errRefusedBefore = errors.New("refused before")

// State holds the roster in force and answers membership questions for the
// gater, the envelope opener and submit. Reads take a read lock for a map
// lookup; a replacement is verified and written to disk before it becomes
// visible, all at once.
type State struct {
	authority ed25519.PublicKey
	path      string

	// applyMu serialises replacements and the change callbacks, so
	// subscribers see rosters one at a time and in the order they were
	// installed (membership changes follow rosters in their order). The
	// file write (an fsync or two) happens under applyMu, outside mu, so it
	// never stalls the gater or a handler. It is the node's only roster
	// lock.
	applyMu sync.Mutex
	// refused remembers the last document the drop guard refused, so the
	// same roster offered again by every peer (gossip, anti-entropy) is
	// turned away without re-verifying, re-alerting or re-auditing it.
	// Cleared whenever a roster is installed.
	refused struct {
		hash [32]byte
		r    *protocol.Roster
		err  error
	}
	subs []func(old, cur *protocol.Roster)

	mu        sync.RWMutex // guards the roster in force and its indexes
	doc       []byte
	roster    *protocol.Roster
	byPeer    map[peer.ID]protocol.Member
	byCountry map[protocol.CountryCode]peer.ID
}

// NewState returns an empty state for the roster file at path, which only
// rosters signed by authority replace. Load reads the file.
func NewState(path string, authority ed25519.PublicKey) *State {
	return &State{path: path, authority: authority,
		byPeer: map[peer.ID]protocol.Member{}, byCountry: map[protocol.CountryCode]peer.ID{}}
}

// Load reads the roster file at startup. An expired roster is still loaded
// (cutting a 24/7 network off silently is worse); the caller reports it.
func (s *State) Load() error {
	doc, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("roster %s does not exist: get the signed roster from the network authority", s.path)
	}
	if err != nil {
		return fmt.Errorf("read roster %s: %w", s.path, err)
	}
	r, err := protocol.VerifyRoster(doc, s.authority)
	if err != nil {
		return fmt.Errorf("roster %s: %w", s.path, err)
	}
	s.swap(doc, r)
	return nil
}

// OnChange subscribes fn to roster replacements: after every install, fn
// gets the roster replaced (nil before the first) and the one now in force.
// Subscribers run in the order they subscribed, one install at a time, in
// install order, before the install returns; they must not install a
// roster themselves.
func (s *State) OnChange(fn func(old, cur *protocol.Roster)) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.subs = append(s.subs, fn)
}

// applyHooks are what an install runs besides its checks, all under
// applyMu and in this order.
type applyHooks struct {
	// guard (if set) judges the candidate against the roster it would
	// replace; its error refuses the candidate and is remembered for that
	// exact document (see refused).
	guard func(old, r *protocol.Roster) error
	// record (if set) writes the install's audit record. It runs after the
	// document is written beside the roster file and before it takes the
	// file's place, so a roster whose record cannot be written is refused
	// (ErrUnrecorded) and leaves neither the file nor the roster in force
	// changed. The one gap left is a rename that fails after the record
	// was written (the directory vanished): the error says the roster was
	// not persisted, and the record stands for an attempt.
	record func(old, r *protocol.Roster) error
	// installed (if set) runs once r is in force, before the subscribers:
	// the install's log line dates the install itself, not the membership
	// changes that follow it.
	installed func(old, r *protocol.Roster)
}

// apply verifies a candidate roster and, if it is newer and the hooks allow
// it, persists it, makes it current and tells the subscribers. It returns
// the previous roster.
func (s *State) apply(doc []byte, now time.Time, h applyHooks) (old *protocol.Roster, r *protocol.Roster, err error) {
	sum := sha256.Sum256(doc)
	if h.guard != nil {
		s.applyMu.Lock()
		hit, cr, cerr := s.refused.hash == sum && s.refused.err != nil, s.refused.r, s.refused.err
		s.applyMu.Unlock()
		if hit {
			cur, _ := s.Current()
			return cur, cr, fmt.Errorf("%w: %w", errRefusedBefore, cerr)
		}
	}
	r, err = protocol.VerifyRoster(doc, s.authority)
	if err != nil {
		return nil, nil, err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	old, _ = s.Current()
	if err := protocol.AcceptRoster(old, r, now); err != nil {
		return nil, nil, err
	}
	if h.guard != nil {
		if err := h.guard(old, r); err != nil {
			s.refused.hash, s.refused.r, s.refused.err = sum, r, err
			return old, r, err
		}
	}
	staged, err := stageFile(s.path, doc)
	if err != nil {
		return nil, nil, fmt.Errorf("persist roster: %w", err)
	}
	if h.record != nil {
		if err := h.record(old, r); err != nil {
			staged.discard()
			return old, r, fmt.Errorf("%w: serial %d: %w", ErrUnrecorded, r.Serial, err)
		}
	}
	if err := staged.commit(); err != nil {
		return nil, nil, fmt.Errorf("persist roster: %w", err)
	}
	s.refused.hash, s.refused.r, s.refused.err = [32]byte{}, nil, nil
	s.swap(doc, r)
	if h.installed != nil {
		h.installed(old, r)
	}
	for _, fn := range s.subs {
		fn(old, r)
	}
	return old, r, nil
}

// forgetRefused drops the cached refusal, so an admin's forced push of a
// document refused before is judged afresh.
func (s *State) forgetRefused() {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.refused.hash, s.refused.r, s.refused.err = [32]byte{}, nil, nil
}

func (s *State) swap(doc []byte, r *protocol.Roster) {
	byPeer := make(map[peer.ID]protocol.Member, len(r.Members))
	byCountry := make(map[protocol.CountryCode]peer.ID, len(r.Members))
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil {
			continue // Validate already refused these
		}
		byPeer[id] = m
		byCountry[m.Country] = id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.roster, s.byPeer, s.byCountry = doc, r, byPeer, byCountry
}

// MemberByPeer finds a member by peer ID (protocol.Directory).
func (s *State) MemberByPeer(id peer.ID) (protocol.Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.byPeer[id]
	return m, ok
}

// IsMember reports whether id is listed in the roster in force (the
// gater's question, transport.Members).
func (s *State) IsMember(id peer.ID) bool {
	_, ok := s.MemberByPeer(id)
	return ok
}

// ByCountry finds the member for an ISO 3166-1 alpha-2 country code.
func (s *State) ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byCountry[cc]
	if !ok {
		return "", protocol.Member{}, false
	}
	return id, s.byPeer[id], true
}

// Current returns the roster in force and its signed document (nil, nil
// before Load).
func (s *State) Current() (*protocol.Roster, []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.roster, s.doc
}

// Serial is the serial of the roster in force (0 before Load).
func (s *State) Serial() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.roster == nil {
		return 0
	}
	return s.roster.Serial
}
