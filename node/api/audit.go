package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/store"
)

// audit writes one audit record, or says why it could not (see "No audit
// write is ever dropped" in the package doc). The write does not end with
// the client's connection: hanging up must not leave an action unaudited.
func (s *Server) audit(ctx context.Context, rec store.AuditRecord) error {
	if rec.At.IsZero() {
		rec.At = s.d.Now()
	}
	err := s.d.Store.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.Audit(rec) })
	if err != nil {
		s.log.Error("audit record NOT written", zap.String("action", rec.Action), zap.String("actor", rec.Actor),
			zap.String("detail", rec.Detail), zap.Error(err))
		return fmt.Errorf("write audit record %s: %w", rec.Action, err)
	}
	return nil
}

// unaudited answers an action whose audit record could not be written.
func unaudited(w http.ResponseWriter, what string, err error) {
	WriteError(w, http.StatusServiceUnavailable, what+": "+err.Error(), nil)
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") == "true"
	var stored []*store.Alert
	if err := s.d.Store.View(func(tx *store.ReadTx) error {
		var err error
		stored, err = tx.Alerts(all)
		return err
	}); err != nil {
		WriteError(w, http.StatusInternalServerError, "alerts: "+err.Error(), nil)
		return
	}
	sort.SliceStable(stored, func(i, j int) bool { return stored[i].RaisedAt.After(stored[j].RaisedAt) })
	WriteJSON(w, http.StatusOK, types.AlertList{Alerts: viewsOf(stored, AlertOf)})
}

func (s *Server) handleAuditSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	caseID := r.URL.Query().Get("case")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit")) // absent or malformed: the default
	if limit <= 0 || limit > 5000 {
		limit = 200
	}
	var recs []*store.AuditRecord
	if err := s.d.Store.View(func(tx *store.ReadTx) error {
		var err error
		recs, err = tx.Audit(0, 0)
		return err
	}); err != nil {
		WriteError(w, http.StatusInternalServerError, "audit: "+err.Error(), nil)
		return
	}
	out := types.AuditRecords{Records: []types.AuditRecord{}}
	for i := len(recs) - 1; i >= 0 && len(out.Records) < limit; i-- {
		a := recs[i]
		if caseID != "" && a.CaseID != caseID {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(a.Actor+" "+a.Action+" "+a.CaseID+" "+a.MessageID+" "+a.Detail), q) {
			continue
		}
		out.Records = append(out.Records, AuditRecordOf(a))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	rep, err := s.d.Auditor.Verify(r.Context())
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "verify audit log: "+err.Error(), nil)
		return
	}
	if err := s.audit(r.Context(), store.AuditRecord{Actor: ActorOf(r).String(), Action: "audit.verified",
		Detail: fmt.Sprintf("ok=%v records=%d", rep.OK, rep.Records)}); err != nil {
		unaudited(w, "the audit log was checked, but the check could not be recorded in it, so its result is withheld", err)
		return
	}
	WriteJSON(w, http.StatusOK, AuditReportOf(rep))
}

func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Auditor.Checkpoint(r.Context()); err != nil {
		WriteError(w, http.StatusInternalServerError, "checkpoint audit log: "+err.Error(), nil)
		return
	}
	// Exporting is itself recorded, before the export, so it is included.
	if err := s.audit(r.Context(), store.AuditRecord{Actor: ActorOf(r).String(), Action: "audit.exported"}); err != nil {
		unaudited(w, "record export in audit log", err)
		return
	}
	if err := s.d.Auditor.Checkpoint(r.Context()); err != nil {
		WriteError(w, http.StatusInternalServerError, "checkpoint audit log: "+err.Error(), nil)
		return
	}
	// The export is the log's own format (one stored record per line),
	// which vigil audit verify checks offline against the checkpoints: it
	// is a file, not an API answer.
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="vigil-audit-`+s.d.Country+`.jsonl"`)
	if err := s.d.Store.View(func(tx *store.ReadTx) error { return tx.ExportAudit(w) }); err != nil {
		s.log.Error("audit export", zap.Error(err))
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	st := types.Stats{ByCountry: map[string]int{}, ByKind: map[string]int{}, ByOutcome: map[string]int{}, ByState: map[string]int{}}
	var acks []float64
	if err := s.d.Store.View(func(tx *store.ReadTx) error {
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
		WriteError(w, http.StatusInternalServerError, "stats: "+err.Error(), nil)
		return
	}
	sort.Float64s(acks)
	st.AckMinutes.Count = len(acks)
	if len(acks) > 0 {
		st.AckMinutes.Median = acks[len(acks)/2]
		st.AckMinutes.P90 = acks[(len(acks)*9)/10]
	}
	WriteJSON(w, http.StatusOK, st)
}
