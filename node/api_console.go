package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Routes the console needs beyond the core API: validation without
// sending, drafts, audit search, statistics, assignment and live events.

// ValidateRequest checks a request document the way SubmitRequest would,
// without storing or sending anything.
func (n *Node) ValidateRequest(doc []byte) error {
	return n.cases.Validate(doc)
}

func (n *Node) handleValidate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not valid JSON", []protocol.FieldError{{Field: "(body)", Message: "is not valid JSON"}})
		return
	}
	var verr *protocol.ValidationError
	if err := n.ValidateRequest(body); errors.As(err, &verr) {
		writeError(w, http.StatusUnprocessableEntity, "request is invalid", verr.Fields)
		return
	} else if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (n *Node) handleDrafts(w http.ResponseWriter, r *http.Request) {
	owner := principalFrom(r).Name
	var ds []*store.Draft
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		ds, err = tx.Drafts(owner)
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, "drafts: "+err.Error(), nil)
		return
	}
	type row struct {
		ID        string    `json:"id"`
		Kind      string    `json:"kind"`
		To        string    `json:"to"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	out := []row{}
	for _, d := range ds {
		out = append(out, row{d.ID, d.Kind, d.To, d.UpdatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"drafts": out})
}

func (n *Node) handleDraft(w http.ResponseWriter, r *http.Request) {
	owner, id := principalFrom(r).Name, r.PathValue("id")
	if !protocol.ValidID(id) {
		writeError(w, http.StatusBadRequest, "draft id must be 32 hex characters", nil)
		return
	}
	switch r.Method {
	case http.MethodGet:
		var d *store.Draft
		err := n.store.View(func(tx *store.ReadTx) error {
			var err error
			d, err = tx.Draft(owner, id)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no draft "+id, nil)
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
		writeJSON(w, http.StatusOK, d)
	case http.MethodPut:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		var d store.Draft
		if err := json.Unmarshal(body, &d); err != nil || len(d.Doc) == 0 || !json.Valid(d.Doc) {
			writeError(w, http.StatusBadRequest, "draft must be {kind, to, doc}", nil)
			return
		}
		d.ID, d.Owner, d.UpdatedAt = id, owner, n.now().UTC()
		if err := n.store.Update(r.Context(), func(tx *store.Tx) error { return tx.PutDraft(&d) }); err != nil {
			writeError(w, http.StatusServiceUnavailable, "draft NOT saved: "+err.Error(), nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "updated_at": d.UpdatedAt})
	case http.MethodDelete:
		if err := n.store.Update(r.Context(), func(tx *store.Tx) error { tx.DeleteDraft(owner, id); return nil }); err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error(), nil)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (n *Node) handleAuditSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	caseID := r.URL.Query().Get("case")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 5000 {
		limit = 200
	}
	var recs []*store.AuditRecord
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		recs, err = tx.Audit(0, 0)
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, "audit: "+err.Error(), nil)
		return
	}
	out := []*store.AuditRecord{}
	for i := len(recs) - 1; i >= 0 && len(out) < limit; i-- {
		a := recs[i]
		if caseID != "" && a.CaseID != caseID {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(a.Actor+" "+a.Action+" "+a.CaseID+" "+a.MessageID+" "+a.Detail), q) {
			continue
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}

// Stats are counts for oversight bodies: no personal data, no contents.
type Stats struct {
	ByCountry  map[string]int `json:"by_country"`
	ByKind     map[string]int `json:"by_kind"`
	ByOutcome  map[string]int `json:"by_outcome"`
	ByState    map[string]int `json:"by_state"`
	AckMinutes struct {
		Count  int     `json:"count"`
		Median float64 `json:"median"`
		P90    float64 `json:"p90"`
	} `json:"ack_minutes"`
}

func (n *Node) handleStats(w http.ResponseWriter, _ *http.Request) {
	st := Stats{ByCountry: map[string]int{}, ByKind: map[string]int{}, ByOutcome: map[string]int{}, ByState: map[string]int{}}
	var acks []float64
	if err := n.store.View(func(tx *store.ReadTx) error {
		cases, err := tx.Cases(0)
		for _, c := range cases {
			st.ByCountry[c.Country]++
			st.ByKind[c.Kind]++
			st.ByState[c.State]++
			if c.Outcome != "" {
				st.ByOutcome[c.Outcome]++
			}
			if !c.AcknowledgedAt.IsZero() {
				acks = append(acks, c.AcknowledgedAt.Sub(c.CreatedAt).Minutes())
			}
		}
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, "stats: "+err.Error(), nil)
		return
	}
	sort.Float64s(acks)
	st.AckMinutes.Count = len(acks)
	if len(acks) > 0 {
		st.AckMinutes.Median = acks[len(acks)/2]
		st.AckMinutes.P90 = acks[(len(acks)*9)/10]
	}
	writeJSON(w, http.StatusOK, st)
}

func (n *Node) handleAssign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.User) == "" {
		writeError(w, http.StatusUnprocessableEntity, "give the user to assign", []protocol.FieldError{{Field: "user", Message: "is required"}})
		return
	}
	if n.accounts != nil {
		if _, err := n.accounts.User(req.User); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "no such user", []protocol.FieldError{{Field: "user", Message: "is not a console user"}})
			return
		}
	}
	now := n.now().UTC()
	err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		prev := c.Assignee
		c.Assignee, c.UpdatedAt = req.User, now
		if err := tx.PutCase(c); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: actorOf(r), Action: "case.assigned", CaseID: id,
			Detail: "from " + prev + " to " + req.User})
	})
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no case "+id, nil)
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "NOT assigned: "+err.Error(), nil)
		return
	}
	n.publishCase(id)
	writeJSON(w, http.StatusOK, map[string]string{"assignee": req.User})
}
