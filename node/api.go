package node

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"go.uber.org/zap"

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
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	mux.Handle("POST /api/v1/requests", n.auth(n.handleSubmit))
	mux.Handle("GET /api/v1/cases", n.auth(n.handleCases))
	mux.Handle("GET /api/v1/cases/{id}", n.auth(n.handleCase))
	mux.Handle("GET /api/v1/peers", n.auth(n.handlePeers))
	mux.Handle("GET /api/v1/roster", n.auth(n.handleGetRoster))
	mux.Handle("POST /api/v1/roster", n.auth(n.handlePostRoster))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	})
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

type ctxActor struct{}

// auth checks the bearer token in constant time.
func (n *Node) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if !ok || subtle.ConstantTimeCompare(sum[:], n.token[:]) != 1 {
			n.log.Named("api").Warn("refused API call with a missing or wrong token",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong API token", nil)
			return
		}
		h(w, r)
	})
}

// actor names who acted, for the audit log. Per-user accounts replace the
// single operator token later; until then it is the token's fingerprint.
func (n *Node) actor() string { return "token:" + hex.EncodeToString(n.token[:4]) }

func (n *Node) handleHealth(w http.ResponseWriter, _ *http.Request) {
	r, _ := n.roster.current()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "country": n.cfg.Country, "peer_id": n.self.String(),
		"roster_serial": r.Serial, "roster_valid_until": r.ValidUntil, "roster_expired": !r.ValidUntil.After(n.now())})
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
	sub, err := n.SubmitRequest(r.Context(), n.actor(), body)
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
	Flags     []string  `json:"flags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (n *Node) handleCases(w http.ResponseWriter, _ *http.Request) {
	var out []CaseSummary
	err := n.store.View(func(tx *store.ReadTx) error {
		cases, err := tx.Cases(0)
		if err != nil {
			return err
		}
		out = make([]CaseSummary, 0, len(cases))
		for _, c := range cases {
			cs := CaseSummary{ID: c.ID, Direction: string(c.Direction), Country: c.Country, Kind: c.Kind,
				State: c.State, Flags: c.Flags, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
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
	if m.State == store.StateQueued && n.engine.isInflight(m.ID) {
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
	Peer     string          `json:"peer"`
	Request  json.RawMessage `json:"request,omitempty"`
	Messages []MessageView   `json:"messages"`
}

func (n *Node) handleCase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !protocol.ValidID(id) {
		writeError(w, http.StatusBadRequest, "case id must be 32 hex characters", nil)
		return
	}
	var view CaseView
	err := n.store.View(func(tx *store.ReadTx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		msgs, err := tx.Messages(c)
		if err != nil {
			return err
		}
		view.CaseSummary = CaseSummary{ID: c.ID, Direction: string(c.Direction), Country: c.Country, Kind: c.Kind,
			State: c.State, Flags: c.Flags, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		view.Peer = c.Peer
		for i, m := range msgs {
			mv := n.messageView(m)
			if i == 0 {
				view.Delivery = mv.State
			}
			if m.Type == string(protocol.TypeRequest) && view.Request == nil {
				view.Request, mv.Payload = mv.Payload, nil
			}
			view.Messages = append(view.Messages, mv)
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
	if err := n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: n.actor(), Action: "case.viewed", CaseID: id})
	}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot record the access in the audit log: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (n *Node) messageView(m *store.Message) MessageView {
	mv := MessageView{ID: m.ID, Type: m.Type, Direction: string(m.Direction), Country: m.Country,
		State: n.deliveryState(m), Attempts: m.Attempts, LastError: m.LastError, Flags: m.Flags, CreatedAt: m.CreatedAt}
	if !m.DeliveredAt.IsZero() {
		t := m.DeliveredAt
		mv.DeliveredAt = &t
	}
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		mv.Flags = store.AddFlag(mv.Flags, "corrupt-envelope")
		return mv
	}
	if payload, err := n.sealer.Decrypt(env); err == nil && json.Valid(payload) {
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
	out := make([]PeerView, 0, len(r.Members))
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil {
			continue
		}
		pv := PeerView{Country: m.Country, Organisation: m.Organisation, PeerID: m.PeerID, Self: id == n.self,
			Outbox: depths[m.PeerID], TimeZone: m.TimeZone, OfficeHours: m.OfficeHours, Languages: m.Languages,
			Phone: m.FallbackPhone, Email: m.FallbackEmail}
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
	if err := n.applyRoster(body, "api:"+n.actor()); err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, protocol.ErrRosterStale) {
			status = http.StatusConflict
		}
		writeError(w, status, "roster refused: "+err.Error(), nil)
		return
	}
	_ = n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: n.actor(), Action: "roster.applied",
			Detail: "serial " + strconv.FormatUint(n.roster.serial(), 10)})
	})
	rr, _ := n.roster.current()
	writeJSON(w, http.StatusOK, map[string]any{"serial": rr.Serial, "members": len(rr.Members)})
}
