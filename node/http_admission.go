package node

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// QuarantineView is a quarantined member, as the API shows it.
type QuarantineView struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// handleQuarantine quarantines (POST) or releases (DELETE) a member: its
// envelopes are refused with a retryable "quarantined", its pings and
// roster exchanges refused; what it sent before stays. Admin only,
// audited, persisted.
func (n *Node) handleQuarantine(w http.ResponseWriter, r *http.Request) {
	cc := strings.ToUpper(r.PathValue("country"))
	if _, _, ok := n.roster.byCountryCode(cc); !ok {
		writeError(w, http.StatusNotFound, cc+" is not a roster member", nil)
		return
	}
	if cc == n.cfg.Country {
		writeError(w, http.StatusUnprocessableEntity, "this node cannot quarantine itself", nil)
		return
	}
	now := n.now().UTC()
	actor := actorOf(r)
	if r.Method == http.MethodDelete {
		var had bool
		err := n.store.Update(r.Context(), func(tx *store.Tx) error {
			var err error
			if had, err = tx.DeleteQuarantine(cc); err != nil || !had {
				return err
			}
			return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "peer.released", Detail: cc})
		})
		switch {
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "NOT released: "+err.Error(), nil)
		case !had:
			writeError(w, http.StatusNotFound, cc+" is not quarantined", nil)
		default:
			n.admission.Release(cc)
			n.log.Named("admission").Warn("member released from quarantine", zap.String("country", cc), zap.String("by", actor))
			writeJSON(w, http.StatusOK, map[string]any{"country": cc, "quarantined": false})
		}
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 500 {
		writeError(w, http.StatusBadRequest, "body must be {\"reason\": \"...\"} with a reason of at most 500 characters", nil)
		return
	}
	q := &store.Quarantine{Country: cc, Reason: strings.TrimSpace(req.Reason), By: actor, At: now}
	if err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.PutQuarantine(q); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "peer.quarantined", Detail: cc + ": " + q.Reason})
	}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "NOT quarantined: "+err.Error(), nil)
		return
	}
	// Only once durable: a quarantine the node would forget on restart
	// is not one.
	n.admission.Quarantine(cc, q.Reason)
	n.log.Named("admission").Warn("member quarantined", zap.String("country", cc), zap.String("by", actor))
	writeJSON(w, http.StatusOK, map[string]any{"country": cc, "quarantined": true,
		"quarantine": QuarantineView{Reason: q.Reason, By: q.By, At: q.At}})
}
