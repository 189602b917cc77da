package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Quarantines is the admission controller's quarantine list
// (*admission.Controller): what it refuses at once. The store holds the
// durable list; the controller is told only once a change is durable.
type Quarantines interface {
	Quarantine(country, reason string)
	Release(country string)
}

// handleQuarantine quarantines (POST) or releases (DELETE) a member: its
// envelopes are refused with a retryable "quarantined", its pings and
// roster exchanges refused; what it sent before stays. Admin only,
// audited, persisted.
func (s *Server) handleQuarantine(w http.ResponseWriter, r *http.Request) {
	cc := strings.ToUpper(r.PathValue("country"))
	if _, ok := s.d.Network.MemberByCountry(protocol.CountryCode(cc)); !ok {
		WriteError(w, http.StatusNotFound, cc+" is not a roster member", nil)
		return
	}
	if cc == s.d.Country {
		WriteError(w, http.StatusUnprocessableEntity, "this node cannot quarantine itself", nil)
		return
	}
	now := s.d.Now().UTC()
	by := ActorOf(r).String()
	log := s.log.Named("admission")
	if r.Method == http.MethodDelete {
		var had bool
		err := s.d.Store.Update(r.Context(), func(tx *store.Tx) error {
			var err error
			if had, err = tx.DeleteQuarantine(cc); err != nil || !had {
				return err
			}
			return tx.Audit(store.AuditRecord{At: now, Actor: by, Action: "peer.released", Detail: cc})
		})
		switch {
		case err != nil:
			WriteError(w, http.StatusServiceUnavailable, "NOT released: "+err.Error(), nil)
		case !had:
			WriteError(w, http.StatusNotFound, cc+" is not quarantined", nil)
		default:
			s.d.Quarantines.Release(cc)
			log.Warn("member released from quarantine", zap.String("country", cc), zap.String("by", by))
			WriteJSON(w, http.StatusOK, types.QuarantineResult{Country: cc, Quarantined: false})
		}
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 500 {
		WriteError(w, http.StatusBadRequest, "body must be {\"reason\": \"...\"} with a reason of at most 500 characters", nil)
		return
	}
	q := &store.Quarantine{Country: cc, Reason: strings.TrimSpace(req.Reason), By: by, At: now}
	if err := s.d.Store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.PutQuarantine(q); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: by, Action: "peer.quarantined", Detail: cc + ": " + q.Reason})
	}); err != nil {
		WriteError(w, http.StatusServiceUnavailable, "NOT quarantined: "+err.Error(), nil)
		return
	}
	// Only once durable: a quarantine the node would forget on restart
	// is not one.
	s.d.Quarantines.Quarantine(cc, q.Reason)
	log.Warn("member quarantined", zap.String("country", cc), zap.String("by", by))
	WriteJSON(w, http.StatusOK, types.QuarantineResult{Country: cc, Quarantined: true, Quarantine: QuarantineViewOf(q)})
}
