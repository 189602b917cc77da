package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Drills runs the network's drills (*drills.Service).
type Drills interface {
	RunReachabilityDrill(ctx context.Context, actor string) (*store.DrillRun, error)
	RunResponseDrill(ctx context.Context, actor, operator string, countries []string) (*store.DrillRun, error)
	Report() (*drills.Report, error)
}

// drillContext outlives the caller: a drill the operator started runs to
// its end and is stored even if the console hangs up, but stops with the
// node.
func (s *Server) drillContext(r *http.Request) context.Context {
	if s.d.Context != nil {
		return s.d.Context
	}
	return r.Context()
}

func (s *Server) handleDrillReachability(w http.ResponseWriter, r *http.Request) {
	run, err := s.d.Drills.RunReachabilityDrill(s.drillContext(r), ActorOf(r).String())
	if err != nil {
		s.log.Error("reachability drill", zap.Error(err))
		WriteError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	WriteJSON(w, http.StatusOK, DrillRunOf(run))
}

func (s *Server) handleDrillResponse(w http.ResponseWriter, r *http.Request) {
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req types.ResponseDrillRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			WriteError(w, http.StatusBadRequest, "body must be {\"countries\": [\"DE\", ...], \"operator\": \"...\"}: "+err.Error(), nil)
			return
		}
	}
	run, err := s.d.Drills.RunResponseDrill(s.drillContext(r), ActorOf(r).String(), req.Operator, req.Countries)
	var verr *protocol.ValidationError
	switch {
	case errors.As(err, &verr):
		WriteError(w, http.StatusUnprocessableEntity, "drill refused", verr.Fields)
		return
	case err != nil:
		s.log.Error("response drill", zap.Error(err))
		WriteError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	ids := map[string]string{}
	for _, res := range run.Results {
		if res.CaseID != "" {
			ids[res.Country] = res.CaseID
		}
	}
	WriteJSON(w, http.StatusCreated, types.ResponseDrillStarted{Run: DrillRunOf(run), CaseIDs: ids})
}

func (s *Server) handleDrillReport(w http.ResponseWriter, _ *http.Request) {
	rep, err := s.d.Drills.Report()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "drill report: "+err.Error(), nil)
		return
	}
	out := types.DrillReport{Countries: rep.Countries}
	if rep.LastRun != nil {
		last := DrillRunOf(rep.LastRun)
		out.LastRun = &last
	}
	WriteJSON(w, http.StatusOK, out)
}
