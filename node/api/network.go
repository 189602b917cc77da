package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Health, peers, the roster and the test-fault routes.

// handleHealth answers 200 while the node runs (a liveness probe must not
// restart a node because the network is away), with status "degraded" and
// the reasons when it cannot serve its purpose: no connected member although
// the roster lists others (issue 9 item 8), not in its own roster, or an
// expired roster. Monitors that only read the HTTP status ask ?strict=true
// and get 503 while degraded.
func (s *Server) handleHealth(w http.ResponseWriter, req *http.Request) {
	net := s.d.Network
	r, _ := net.Roster()
	self := net.Self()
	h := types.Health{Status: "ok", Country: s.d.Country, PeerID: self.String(), RosterSerial: r.Serial,
		RosterValidUntil: r.ValidUntil, RosterExpired: !r.ValidUntil.After(s.d.Now())}
	if h.RosterExpired {
		h.Degraded = append(h.Degraded, fmt.Sprintf("roster serial %d expired at %s", r.Serial, r.ValidUntil.UTC().Format(time.RFC3339)))
	}
	h.OtherMembers = len(r.Members)
	if m, ok := r.MemberByPeer(self); ok {
		h.Organisation = m.Organisation
	}
	if net.IsMember(self) {
		h.OtherMembers--
	} else {
		h.Degraded = append(h.Degraded, fmt.Sprintf("this node is not in roster serial %d", r.Serial))
	}
	for _, p := range net.ConnectedPeers() {
		if p != self && net.IsMember(p) {
			h.ConnectedMembers++
		}
	}
	if h.OtherMembers > 0 && h.ConnectedMembers == 0 {
		h.Degraded = append(h.Degraded, fmt.Sprintf("no connected peer: 0 of %d other members connected", h.OtherMembers))
	}
	status := http.StatusOK
	if len(h.Degraded) > 0 {
		h.Status = "degraded"
		if req.URL.Query().Get("strict") == "true" {
			status = http.StatusServiceUnavailable
		}
	}
	WriteJSON(w, status, h)
}

func (s *Server) handlePeers(w http.ResponseWriter, _ *http.Request) {
	net := s.d.Network
	r, _ := net.Roster()
	self := net.Self()
	var depths map[string]int
	quar := map[string]*store.Quarantine{}
	if err := s.d.Store.View(func(tx *store.ReadTx) error {
		var err error
		if depths, err = tx.OutboxDepths(); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		qs, err := tx.Quarantines()
		if err != nil {
			return fmt.Errorf("quarantines: %w", err)
		}
		for _, q := range qs {
			quar[q.Country] = q
		}
		return nil
	}); err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	out := types.PeerList{RosterSerial: r.Serial, RosterValidUntil: r.ValidUntil, Peers: make([]types.PeerView, 0, len(r.Members))}
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil {
			continue
		}
		pv := types.PeerView{Country: string(m.Country), Organisation: m.Organisation, PeerID: m.PeerID, Self: id == self,
			Outbox: depths[m.PeerID], TimeZone: m.TimeZone, OfficeHours: m.OfficeHours, Languages: m.Languages,
			Phone: m.FallbackPhone, Email: m.FallbackEmail,
			Treaties: append([]protocol.Party{}, m.Treaties...), Declarations: append([]protocol.Declaration{}, m.Declarations...)}
		if r := m.Preservation; r != (protocol.PreservationRegime{}) {
			pv.Preservation = &r
		}
		if q := quar[string(m.Country)]; q != nil {
			pv.Quarantine = QuarantineViewOf(q)
		}
		if !pv.Self {
			pv.Connected = net.Connected(id)
			seen, rtt := net.LastSeen(id)
			if pv.Connected {
				seen = s.d.Now()
			}
			pv.LastSeen = timePtr(seen)
			pv.RTTMillis = float64(rtt.Microseconds()) / 1000
		}
		out.Peers = append(out.Peers, pv)
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetRoster(w http.ResponseWriter, _ *http.Request) {
	_, doc := s.d.Network.Roster()
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

func (s *Server) handlePostRoster(w http.ResponseWriter, r *http.Request) {
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	// ?force=true installs a roster the drop guard refuses (it drops this
	// node or more than roster.max_drop_share of the members; issue 9
	// item 8). Only an admin may, and a critical alert records it.
	force := r.URL.Query().Get("force") == "true"
	if p := principalFrom(r); force && (p == nil || p.role() != string(accounts.RoleAdmin)) {
		WriteError(w, http.StatusForbidden, "only an admin may force a roster", nil)
		return
	}
	by := ActorOf(r)
	if err := s.d.Network.ApplyRoster(body, "api:"+by.String(), force); err != nil {
		status := http.StatusServiceUnavailable // verified but could not be saved
		switch {
		case errors.Is(err, ErrRosterDrops):
			status = http.StatusConflict // retry with ?force=true if this is really meant
		case errors.Is(err, ErrRosterUnrecorded):
			status = http.StatusServiceUnavailable // not installed: its audit record could not be written; retry
		case errors.Is(err, protocol.ErrRosterStale):
			status = http.StatusConflict
		case errors.Is(err, protocol.ErrRosterSignature), errors.Is(err, protocol.ErrRosterInvalid),
			errors.Is(err, protocol.ErrRosterExpired), errors.Is(err, protocol.ErrMalformed), errors.Is(err, protocol.ErrFrameTooLarge):
			status = http.StatusUnprocessableEntity
		}
		WriteError(w, status, "roster refused: "+err.Error(), nil)
		return
	}
	// Its roster.applied record was written before it took effect
	// (node/roster: an unrecorded roster is not installed).
	cur, _ := s.d.Network.Roster()
	WriteJSON(w, http.StatusOK, types.RosterApplied{Serial: cur.Serial, Members: len(cur.Members)})
}

// faults is the fault injector, or nil after answering 404 when fault
// injection is off. The routes exist on every node so that scripted
// exercises (vigil testnet scenario) get a clear answer; only `vigil
// testnet init` turns them on (testing.fault_injection).
func (s *Server) faults(w http.ResponseWriter) Faults {
	if s.d.Faults == nil {
		WriteError(w, http.StatusNotFound, "fault injection is disabled on this node (testing.fault_injection)", nil)
	}
	return s.d.Faults
}

func (s *Server) handleTestPartition(w http.ResponseWriter, r *http.Request) {
	f := s.faults(w)
	if f == nil {
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req types.PartitionRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, `body must be {"peers": ["12D3Koo..."], "countries": ["DE"]}: `+err.Error(), nil)
		return
	}
	var ids []peer.ID
	for _, p := range req.Peers {
		id, err := peer.Decode(p)
		if err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("peer %q: %v", p, err), nil)
			return
		}
		ids = append(ids, id)
	}
	for _, cc := range req.Countries {
		id, ok := s.d.Network.MemberByCountry(protocol.CountryCode(strings.ToUpper(cc)))
		if !ok {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("country %q is not in the roster", cc), nil)
			return
		}
		ids = append(ids, id)
	}
	f.Partition(ids...)
	s.d.Log.Warn("fault injection: partitioned from peers", zap.Int("peers", len(ids)), zap.Stringer("actor", ActorOf(r)))
	WriteJSON(w, http.StatusOK, types.Partitioned{Partitioned: f.Partitioned()})
}

func (s *Server) handleTestHeal(w http.ResponseWriter, r *http.Request) {
	f := s.faults(w)
	if f == nil {
		return
	}
	healed := f.Heal()
	s.d.Log.Warn("fault injection: partition healed", zap.Int("peers", healed), zap.Stringer("actor", ActorOf(r)))
	WriteJSON(w, http.StatusOK, types.Healed{Healed: healed})
}

func (s *Server) handleTestClock(w http.ResponseWriter, r *http.Request) {
	f := s.faults(w)
	if f == nil {
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req types.ClockRequest
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, `body must be {"skew": "10m"}: `+err.Error(), nil)
		return
	}
	d, err := time.ParseDuration(req.Skew)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "skew: "+err.Error(), nil)
		return
	}
	f.SetClockSkew(d)
	s.d.Log.Warn("fault injection: clock skewed", zap.Duration("skew", d), zap.Stringer("actor", ActorOf(r)))
	WriteJSON(w, http.StatusOK, types.ClockSet{Skew: d.String(), Now: s.d.Now().UTC()})
}
