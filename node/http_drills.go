package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/vigil-network/vigil/protocol"
	"go.uber.org/zap"
)

func (n *Node) drillContext(r *http.Request) context.Context {
	if n.ctx != nil {
		return n.ctx
	}
	return r.Context()
}

func (n *Node) handleDrillReachability(w http.ResponseWriter, r *http.Request) {
	run, err := n.RunReachabilityDrill(n.drillContext(r), actorOf(r))
	if err != nil {
		n.log.Named("api").Error("reachability drill", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// ResponseDrillRequest is the body of POST /api/v1/drills/response.
type ResponseDrillRequest struct {
	// Countries to drill; empty means every other member.
	Countries []string `json:"countries"`
	// Operator is named as the requesting person in the drill requests.
	Operator string `json:"operator,omitempty"`
}

func (n *Node) handleDrillResponse(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req ResponseDrillRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body must be {\"countries\": [\"DE\", ...], \"operator\": \"...\"}: "+err.Error(), nil)
			return
		}
	}
	run, err := n.RunResponseDrill(n.drillContext(r), actorOf(r), req.Operator, req.Countries)
	var verr *protocol.ValidationError
	switch {
	case errors.As(err, &verr):
		writeError(w, http.StatusUnprocessableEntity, "drill refused", verr.Fields)
		return
	case err != nil:
		n.log.Named("api").Error("response drill", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "drill failed: "+err.Error(), nil)
		return
	}
	ids := map[string]string{}
	for _, res := range run.Results {
		if res.CaseID != "" {
			ids[res.Country] = res.CaseID
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"run": run, "case_ids": ids})
}

func (n *Node) handleDrillReport(w http.ResponseWriter, _ *http.Request) {
	rep, err := n.DrillReport()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "drill report: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
