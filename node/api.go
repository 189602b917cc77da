package node

import (
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument returns the API's OpenAPI 3 description.
func OpenAPIDocument() []byte { return openAPIDoc }

const maxRequestBody = 512 << 10

func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.handleHealth)
	if n.metrics != nil {
		mux.Handle("GET /metrics", n.metrics.handler())
	}
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	mux.HandleFunc("POST /api/v1/login", n.handleLogin)
	mux.Handle("POST /api/v1/logout", n.auth(n.handleLogout))
	mux.Handle("GET /api/v1/me", n.auth(n.handleMe))
	mux.Handle("POST /api/v1/me/totp", n.auth(n.handleTOTPBegin))
	mux.Handle("POST /api/v1/me/totp/confirm", n.auth(n.handleTOTPConfirm))

	mux.Handle("POST /api/v1/requests", n.authz(accounts.PermSubmit, n.handleSubmit))
	mux.Handle("POST /api/v1/requests/validate", n.authz(accounts.PermSubmit, n.handleValidate))
	mux.Handle("GET /api/v1/drafts", n.authz(accounts.PermSubmit, n.handleDrafts))
	mux.Handle("GET /api/v1/drafts/{id}", n.authz(accounts.PermSubmit, n.handleDraft))
	mux.Handle("PUT /api/v1/drafts/{id}", n.authz(accounts.PermSubmit, n.handleDraft))
	mux.Handle("DELETE /api/v1/drafts/{id}", n.authz(accounts.PermSubmit, n.handleDraft))

	mux.Handle("GET /api/v1/cases", n.authz(accounts.PermReadCases, n.handleCases))
	mux.Handle("GET /api/v1/cases/{id}", n.authz(accounts.PermReadCases, n.handleCase))
	mux.Handle("POST /api/v1/cases/{id}/actions", n.authz(accounts.PermAct, n.handleAct))
	mux.Handle("POST /api/v1/cases/{id}/assign", n.authz(accounts.PermAssign, n.handleAssign))
	mux.Handle("GET /api/v1/alerts", n.authz(accounts.PermReadAlerts, n.handleAlerts))
	mux.Handle("GET /api/v1/events", n.authz(accounts.PermReadCases, n.handleEvents))

	mux.Handle("GET /api/v1/peers", n.authz(accounts.PermReadPeers, n.handlePeers))
	mux.Handle("POST /api/v1/peers/{country}/quarantine", n.authz(accounts.PermManageRoster, n.handleQuarantine))
	mux.Handle("DELETE /api/v1/peers/{country}/quarantine", n.authz(accounts.PermManageRoster, n.handleQuarantine))
	mux.Handle("GET /api/v1/roster", n.authz(accounts.PermReadPeers, n.handleGetRoster))
	mux.Handle("POST /api/v1/roster", n.authz(accounts.PermManageRoster, n.handlePostRoster))
	mux.Handle("POST /api/v1/drills/reachability", n.authz(accounts.PermManageRoster, n.handleDrillReachability))
	mux.Handle("POST /api/v1/drills/response", n.authz(accounts.PermManageRoster, n.handleDrillResponse))
	mux.Handle("GET /api/v1/drills/report", n.authz(accounts.PermReadPeers, n.handleDrillReport))
	// Fault injection for test networks; 404 unless testing.fault_injection (faults.go).
	mux.Handle("POST /api/v1/testing/partition", n.authz(accounts.PermManageRoster, n.handleTestPartition))
	mux.Handle("POST /api/v1/testing/heal", n.authz(accounts.PermManageRoster, n.handleTestHeal))
	mux.Handle("POST /api/v1/testing/clock", n.authz(accounts.PermManageRoster, n.handleTestClock))

	mux.Handle("GET /api/v1/audit", n.authz(accounts.PermReadAudit, n.handleAuditSearch))
	mux.Handle("GET /api/v1/audit/verify", n.authz(accounts.PermReadAudit, n.handleAuditVerify))
	mux.Handle("GET /api/v1/audit/export", n.authz(accounts.PermReadAudit, n.handleAuditExport))
	mux.Handle("GET /api/v1/stats", n.authz(accounts.PermReadStats, n.handleStats))

	mux.Handle("GET /api/v1/users", n.authz(accounts.PermManageUsers, n.handleUsers))
	mux.Handle("POST /api/v1/users", n.authz(accounts.PermManageUsers, n.handleUsers))
	mux.Handle("PATCH /api/v1/users/{name}", n.authz(accounts.PermManageUsers, n.handleUser))
	mux.Handle("DELETE /api/v1/users/{name}", n.authz(accounts.PermManageUsers, n.handleUser))
	mux.Handle("GET /api/v1/users/{name}/tokens", n.authz(accounts.PermManageUsers, n.handleTokens))
	mux.Handle("POST /api/v1/users/{name}/tokens", n.authz(accounts.PermManageUsers, n.handleTokens))
	mux.Handle("DELETE /api/v1/users/{name}/tokens/{id}", n.authz(accounts.PermManageUsers, n.handleToken))
	mux.Handle("GET /api/v1/tokens", n.auth(n.handleTokens))
	mux.Handle("POST /api/v1/tokens", n.auth(n.handleTokens))
	mux.Handle("DELETE /api/v1/tokens/{id}", n.auth(n.handleToken))

	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	}))
	mux.Handle("/", consoleHandler())
	return mux
}

type apiError struct {
	Error  string                `json:"error"`
	Fields []protocol.FieldError `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, fields []protocol.FieldError) {
	writeJSON(w, status, apiError{Error: msg, Fields: fields})
}

// handleHealth answers 200 while the node runs (a liveness probe must not
// restart a node because the network is away), with status "degraded" and
// the reasons when it cannot serve its purpose: no connected member although
// the roster lists others (issue 9 item 8), not in its own roster, or an
// expired roster. Monitors that only read the HTTP status ask ?strict=true
// and get 503 while degraded.
func (n *Node) handleHealth(w http.ResponseWriter, req *http.Request) {
	r, _ := n.roster.current()
	now := n.now()
	expired := !r.ValidUntil.After(now)
	body := map[string]any{"status": "ok", "country": n.cfg.Country, "peer_id": n.self.String(),
		"roster_serial": r.Serial, "roster_valid_until": r.ValidUntil, "roster_expired": expired}
	var degraded []string
	if expired {
		degraded = append(degraded, fmt.Sprintf("roster serial %d expired at %s", r.Serial, r.ValidUntil.UTC().Format(time.RFC3339)))
	}
	others := len(r.Members)
	if _, ok := n.roster.MemberByPeer(n.self); ok {
		others--
	} else {
		degraded = append(degraded, fmt.Sprintf("this node is not in roster serial %d", r.Serial))
	}
	connected := 0
	for _, p := range n.host.Network().Peers() {
		if p != n.self && n.roster.isMember(p) {
			connected++
		}
	}
	body["connected_members"], body["other_members"] = connected, others
	if others > 0 && connected == 0 {
		degraded = append(degraded, fmt.Sprintf("no connected peer: 0 of %d other members connected", others))
	}
	status := http.StatusOK
	if len(degraded) > 0 {
		body["status"], body["degraded"] = "degraded", degraded
		if req.URL.Query().Get("strict") == "true" {
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, body)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body over 512 KiB", nil)
		} else {
			writeError(w, http.StatusBadRequest, "read body: "+err.Error(), nil)
		}
		return nil, false
	}
	return body, true
}

func (n *Node) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not valid JSON", []protocol.FieldError{{Field: "(body)", Message: "is not valid JSON"}})
		return
	}
	sub, err := n.SubmitRequest(r.Context(), actorOf(r), body)
	var verr *protocol.ValidationError
	switch {
	case errors.As(err, &verr):
		writeError(w, http.StatusUnprocessableEntity, "request is invalid", verr.Fields)
	case err != nil:
		n.log.Named("api").Error("submit request", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "request was NOT accepted: "+err.Error(), nil)
	default:
		writeJSON(w, http.StatusCreated, sub)
	}
}

// CaseSummary is one row of the case list.
type CaseSummary struct {
	ID        string    `json:"id"`
	Direction string    `json:"direction"`
	Country   string    `json:"country"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Delivery  string    `json:"delivery"` // transport state of the first message
	Urgency   string    `json:"urgency,omitempty"`
	Flags     []string  `json:"flags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	AckDueAt       *time.Time `json:"ack_due_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	Hold           bool       `json:"hold,omitempty"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	PurgedAt       *time.Time `json:"purged_at,omitempty"`
	Assignee       string     `json:"assignee,omitempty"`
	// The requester's zone and office hours, beside the UTC times above.
	RequesterTimeZone    string `json:"requester_time_zone,omitempty"`
	RequesterOfficeHours string `json:"requester_office_hours,omitempty"`
	RequesterLocalTime   string `json:"requester_local_time,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (n *Node) summarize(c *store.Case) CaseSummary {
	cs := CaseSummary{ID: c.ID, Direction: string(c.Direction), Country: c.Country, Kind: c.Kind,
		State: c.State, Urgency: c.Urgency, Flags: c.Flags, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		AckDueAt: timePtr(c.AckDueAt), AcknowledgedAt: timePtr(c.AcknowledgedAt), ExpiresAt: timePtr(c.ExpiresAt),
		Hold: c.Hold, ClosedAt: timePtr(c.ClosedAt), Outcome: c.Outcome, PurgedAt: timePtr(c.PurgedAt), Assignee: c.Assignee,
		RequesterTimeZone: c.RequesterTimeZone, RequesterOfficeHours: c.RequesterOfficeHours}
	if loc, err := loadLocation(c.RequesterTimeZone); err == nil && c.RequesterTimeZone != "" {
		cs.RequesterLocalTime = n.now().In(loc).Format("Mon 2006-01-02 15:04 MST")
	}
	return cs
}

func (n *Node) handleCases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state, direction, kind := q.Get("state"), q.Get("direction"), q.Get("kind")
	var out []CaseSummary
	err := n.store.View(func(tx *store.ReadTx) error {
		cases, err := tx.Cases(0)
		if err != nil {
			return err
		}
		out = make([]CaseSummary, 0, len(cases))
		for _, c := range cases {
			if (state != "" && c.State != state) || (direction != "" && string(c.Direction) != direction) || (kind != "" && c.Kind != kind) {
				continue
			}
			cs := n.summarize(c)
			if len(c.MessageIDs) > 0 {
				if m, err := tx.Message(c.MessageIDs[0]); err == nil {
					cs.Delivery = n.deliveryState(m)
				}
			}
			out = append(out, cs)
		}
		return nil
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "list cases: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
}

func (n *Node) deliveryState(m *store.Message) string {
	if m.State == store.StateQueued && n.engine.InFlight(m.ID) {
		return string(store.StateSent)
	}
	return string(m.State)
}

// MessageView is a message as the API shows it.
type MessageView struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Direction   string          `json:"direction"`
	Country     string          `json:"country"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	Flags       []string        `json:"flags,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	Receipt     *ReceiptView    `json:"receipt,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

// ReceiptView is a signed receipt, decoded and re-verified.
type ReceiptView struct {
	Receiver    string    `json:"receiver"`
	ReceivedAt  time.Time `json:"received_at"`
	MessageHash string    `json:"message_hash"`
	Signature   string    `json:"signature"`
	Verified    bool      `json:"verified"`
}

// CaseView is a case with its messages and the request as sent.
type CaseView struct {
	CaseSummary
	Peer      string          `json:"peer"`
	Role      string          `json:"role"` // requester or responder: this node's side
	Available []string        `json:"available_actions"`
	Request   json.RawMessage `json:"request,omitempty"`
	History   []HistoryEntry  `json:"history"`
	Messages  []MessageView   `json:"messages"`
}

// HistoryEntry is one action in the order both nodes apply it.
type HistoryEntry struct {
	MessageID string          `json:"message_id"`
	By        string          `json:"by"`
	At        time.Time       `json:"at"`
	Action    string          `json:"action"`
	Seq       uint64          `json:"seq"`
	Operator  string          `json:"operator,omitempty"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Invalid   string          `json:"invalid,omitempty"`
	Details   json.RawMessage `json:"details,omitempty"`
}

func (n *Node) handleCase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !protocol.ValidID(id) {
		writeError(w, http.StatusBadRequest, "case id must be 32 hex characters", nil)
		return
	}
	var view CaseView
	contents := principalFrom(r).can(accounts.PermReadContents)
	err := n.store.View(func(tx *store.ReadTx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		msgs, err := tx.Messages(c)
		if err != nil {
			return err
		}
		view.CaseSummary = n.summarize(c)
		view.Peer = c.Peer
		role := roleOf(c)
		view.Role = string(role)
		view.Available = []string{}
		if c.PurgedAt.IsZero() {
			for _, a := range protocol.Available(protocol.RequestKind(c.Kind), protocol.State(c.State), role) {
				view.Available = append(view.Available, string(a))
			}
		}
		payloads := map[string][]byte{}
		for i, m := range msgs {
			mv := n.messageView(m, contents)
			if i == 0 {
				view.Delivery = mv.State
			}
			if m.Type == string(protocol.TypeAction) && mv.Payload != nil {
				payloads[m.ID] = mv.Payload
			}
			if m.Type == string(protocol.TypeRequest) && view.Request == nil {
				view.Request, mv.Payload = mv.Payload, nil
			}
			view.Messages = append(view.Messages, mv)
		}
		cs := protocol.Replay(protocol.RequestKind(c.Kind), n.caseEvents(c, msgs))
		view.History = []HistoryEntry{}
		for _, h := range cs.History {
			he := HistoryEntry{MessageID: h.MessageID, By: string(h.By), At: h.At, From: string(h.From), To: string(h.To), Invalid: h.Invalid}
			if h.Meta.Action != "" {
				he.Action, he.Seq, he.Operator = string(h.Meta.Action), h.Meta.Seq, h.Meta.Operator
				if contents {
					he.Details = payloads[h.MessageID]
				}
			}
			view.History = append(view.History, he)
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no case "+id, nil)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "read case: "+err.Error(), nil)
		return
	}
	// Reading request contents is itself an auditable act (Protocol Art. 14).
	action := "case.viewed"
	if !contents {
		action = "case.viewed.metadata"
	}
	if err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: action, CaseID: id})
	}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot record the access in the audit log: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (n *Node) messageView(m *store.Message, contents bool) MessageView {
	mv := MessageView{ID: m.ID, Type: m.Type, Direction: string(m.Direction), Country: m.Country,
		State: n.deliveryState(m), Attempts: m.Attempts, LastError: m.LastError, Flags: m.Flags, CreatedAt: m.CreatedAt}
	if !m.DeliveredAt.IsZero() {
		t := m.DeliveredAt
		mv.DeliveredAt = &t
	}
	if m.Purged {
		return mv
	}
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		mv.Flags = store.AddFlag(mv.Flags, "corrupt-envelope")
		return mv
	}
	if !contents {
		// Metadata only: the caller's role may not read request contents.
	} else if payload, err := n.sealer.Decrypt(env); err == nil && json.Valid(payload) {
		mv.Payload = payload
	} else {
		mv.Flags = store.AddFlag(mv.Flags, "undecryptable")
	}
	if len(m.Receipt) > 0 {
		if rc, err := protocol.ParseReceipt(m.Receipt); err == nil {
			h := rc.MessageHash
			mv.Receipt = &ReceiptView{Receiver: rc.Receiver.String(), ReceivedAt: rc.ReceivedAt,
				MessageHash: hex.EncodeToString(h[:]), Signature: hex.EncodeToString(rc.Signature),
				Verified: rc.Verify(env) == nil}
		}
	}
	return mv
}

// PeerView is a roster member with its live connection state.
type PeerView struct {
	Country      string     `json:"country"`
	Organisation string     `json:"organisation"`
	PeerID       string     `json:"peer_id"`
	Self         bool       `json:"self"`
	Connected    bool       `json:"connected"`
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	RTTMillis    float64    `json:"rtt_ms,omitempty"`
	Outbox       int        `json:"outbox"`
	TimeZone     string     `json:"time_zone"`
	OfficeHours  string     `json:"office_hours"`
	Languages    []string   `json:"languages"`
	Phone        string     `json:"fallback_phone"`
	Email        string     `json:"fallback_email"`
	// Quarantine is set while an admin has stopped accepting from the
	// member (admission_glue.go).
	Quarantine *QuarantineView `json:"quarantine,omitempty"`
}

func (n *Node) handlePeers(w http.ResponseWriter, _ *http.Request) {
	r, _ := n.roster.current()
	var depths map[string]int
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		depths, err = tx.OutboxDepths()
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, "outbox: "+err.Error(), nil)
		return
	}
	quar, err := n.quarantines()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "quarantines: "+err.Error(), nil)
		return
	}
	out := make([]PeerView, 0, len(r.Members))
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil {
			continue
		}
		pv := PeerView{Country: m.Country, Organisation: m.Organisation, PeerID: m.PeerID, Self: id == n.self,
			Outbox: depths[m.PeerID], TimeZone: m.TimeZone, OfficeHours: m.OfficeHours, Languages: m.Languages,
			Phone: m.FallbackPhone, Email: m.FallbackEmail}
		if q := quar[m.Country]; q != nil {
			pv.Quarantine = &QuarantineView{Reason: q.Reason, By: q.By, At: q.At}
		}
		if !pv.Self {
			pv.Connected = n.host.Network().Connectedness(id) == network.Connected
			seen, rtt := n.peers.get(id)
			if pv.Connected {
				seen = n.now()
			}
			if !seen.IsZero() {
				pv.LastSeen = &seen
			}
			pv.RTTMillis = float64(rtt.Microseconds()) / 1000
		}
		out = append(out, pv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"roster_serial": r.Serial, "roster_valid_until": r.ValidUntil, "peers": out})
}

func (n *Node) handleGetRoster(w http.ResponseWriter, _ *http.Request) {
	_, doc := n.roster.current()
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

func (n *Node) handlePostRoster(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	// ?force=true installs a roster the drop guard refuses (it drops this
	// node or more than roster.max_drop_share of the members; issue 9
	// item 8). Only an admin may, and a critical alert records it.
	force := r.URL.Query().Get("force") == "true"
	if p := principalFrom(r); force && (p == nil || p.role() != string(accounts.RoleAdmin)) {
		writeError(w, http.StatusForbidden, "only an admin may force a roster", nil)
		return
	}
	apply := n.applyRoster
	if force {
		apply = n.ApplyRosterForced
	}
	if err := apply(body, "api:"+actorOf(r)); err != nil {
		status := http.StatusServiceUnavailable // verified but could not be saved
		switch {
		case errors.Is(err, ErrRosterDrops):
			status = http.StatusConflict // retry with ?force=true if this is really meant
		case errors.Is(err, errRosterUnrecorded):
			status = http.StatusInternalServerError // in force, but its alert or audit is missing
		case errors.Is(err, protocol.ErrRosterStale):
			status = http.StatusConflict
		case errors.Is(err, protocol.ErrRosterSignature), errors.Is(err, protocol.ErrRosterInvalid),
			errors.Is(err, protocol.ErrRosterExpired), errors.Is(err, protocol.ErrMalformed), errors.Is(err, protocol.ErrFrameTooLarge):
			status = http.StatusUnprocessableEntity
		}
		writeError(w, status, "roster refused: "+err.Error(), nil)
		return
	}
	if err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: "roster.applied",
			Detail: "serial " + strconv.FormatUint(n.roster.serial(), 10)})
	}); err != nil {
		// The roster is in force; say so, and that its audit record is missing.
		n.log.Named("api").Error("audit roster.applied", zap.Uint64("serial", n.roster.serial()), zap.Error(err))
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("roster serial %d applied, but its audit record could not be written: %v",
			n.roster.serial(), err), nil)
		return
	}
	rr, _ := n.roster.current()
	writeJSON(w, http.StatusOK, map[string]any{"serial": rr.Serial, "members": len(rr.Members)})
}

func (n *Node) handleAct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !protocol.ValidID(id) {
		writeError(w, http.StatusBadRequest, "case id must be 32 hex characters", nil)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not valid JSON", []protocol.FieldError{{Field: "(body)", Message: "is not valid JSON"}})
		return
	}
	res, err := n.Act(r.Context(), actorOf(r), id, body)
	var (
		verr *protocol.ValidationError
		terr *protocol.TransitionError
	)
	switch {
	case errors.As(err, &verr):
		writeError(w, http.StatusUnprocessableEntity, "action is invalid", verr.Fields)
	case errors.As(err, &terr):
		writeError(w, http.StatusConflict, terr.Error(), nil)
	case errors.Is(err, ErrNoCase):
		writeError(w, http.StatusNotFound, err.Error(), nil)
	case err != nil:
		n.log.Named("api").Error("act", zap.String("case_id", id), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "action was NOT taken: "+err.Error(), nil)
	default:
		writeJSON(w, http.StatusCreated, res)
	}
}

func (n *Node) handleAlerts(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("all") == "true"
	var out []*store.Alert
	if err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		out, err = tx.Alerts(all)
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, "alerts: "+err.Error(), nil)
		return
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].RaisedAt.After(out[j].RaisedAt) })
	if out == nil {
		out = []*store.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

// SignAuditCheckpoint signs a checkpoint (tree head) of the audit log with
// the node's identity key if the log grew since the last one.
func (n *Node) SignAuditCheckpoint(ctx context.Context) (*store.Checkpoint, error) {
	return n.store.SignAuditCheckpoint(ctx, n.self.String(), n.key.Sign, n.now())
}

func (n *Node) verifyCheckpointSig(msg, sig []byte) bool {
	ok, err := n.key.GetPublic().Verify(msg, sig)
	return err == nil && ok
}

// VerifyAudit checkpoints the audit log, then checks all of it: the hash
// chain, the Merkle tree and every signed checkpoint.
func (n *Node) VerifyAudit(ctx context.Context) (*store.AuditReport, error) {
	if _, err := n.SignAuditCheckpoint(ctx); err != nil {
		return nil, fmt.Errorf("checkpoint audit log: %w", err)
	}
	var rep *store.AuditReport
	err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		rep, err = tx.VerifyAuditLog(n.verifyCheckpointSig)
		return err
	})
	return rep, err
}

func (n *Node) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	rep, err := n.VerifyAudit(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "verify audit log: "+err.Error(), nil)
		return
	}
	_ = n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: "audit.verified",
			Detail: fmt.Sprintf("ok=%v records=%d", rep.OK, rep.Records)})
	})
	writeJSON(w, http.StatusOK, rep)
}

func (n *Node) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	if _, err := n.SignAuditCheckpoint(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "checkpoint audit log: "+err.Error(), nil)
		return
	}
	// Exporting is itself recorded, before the export, so it is included.
	if err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: "audit.exported"})
	}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "record export in audit log: "+err.Error(), nil)
		return
	}
	if _, err := n.SignAuditCheckpoint(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "checkpoint audit log: "+err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="vigil-audit-`+n.cfg.Country+`.jsonl"`)
	err := n.store.View(func(tx *store.ReadTx) error { return tx.ExportAudit(w) })
	if err != nil {
		n.log.Named("api").Error("audit export", zap.Error(err))
	}
}

var zones sync.Map // name → *time.Location; LoadLocation reads tzdata from disk

func loadLocation(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err == nil {
		zones.Store(name, l)
	}
	return l, err
}
