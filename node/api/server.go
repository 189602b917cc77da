package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/actor"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/console"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument returns the API's OpenAPI 3 description.
func OpenAPIDocument() []byte { return openAPIDoc }

// Store is the node's database, as the API reads and writes it
// (*store.Store).
type Store interface {
	View(fn func(*store.ReadTx) error) error
	Update(ctx context.Context, fn func(*store.Tx) error) error
}

// Cases is the case engine: submitting, checking and acting on cases, and
// what the case views need from it.
type Cases interface {
	// Submit validates, seals and stores a request; errors are
	// *protocol.ValidationError for a bad document. A non-empty
	// idempotencyKey (a valid one: store.ValidIdempotencyKey) makes the
	// submission idempotent for by: a repeat with the same body returns
	// the original submission with Replayed set, one with another body
	// fails with ErrIdempotencyMismatch.
	Submit(ctx context.Context, by actor.Actor, doc []byte, idempotencyKey string) (types.Submission, error)
	// Validate checks a request document as Submit would, storing nothing.
	Validate(doc []byte) error
	// Act takes one action on a case; errors are *protocol.ValidationError,
	// *protocol.TransitionError or ErrNoCase.
	Act(ctx context.Context, by actor.Actor, caseID string, doc []byte) (types.ActResult, error)
	// InFlight reports whether a queued message is on the wire now.
	InFlight(messageID string) bool
	// Open decrypts an envelope sealed to or by this node.
	Open(env *protocol.Envelope) ([]byte, error)
	// Events are a case's actions, for protocol.Replay.
	Events(c *store.Case, msgs []*store.Message) []protocol.Event
	// Changed tells consoles that a case changed.
	Changed(caseID string)
}

// Network is the roster in force and the live connections to its members.
type Network interface {
	Self() peer.ID
	// Roster is the roster in force and its signed document.
	Roster() (*protocol.Roster, []byte)
	IsMember(id peer.ID) bool
	MemberByCountry(cc protocol.CountryCode) (peer.ID, bool)
	// ConnectedPeers are the peers with an open connection.
	ConnectedPeers() []peer.ID
	Connected(id peer.ID) bool
	// LastSeen is when the peer last answered and its round-trip time.
	LastSeen(id peer.ID) (time.Time, time.Duration)
	// ApplyRoster installs a newer signed roster; force overrides the
	// drop guard (ErrRosterDrops). ErrRosterUnrecorded means it is in
	// force but its alert or audit record is missing.
	ApplyRoster(doc []byte, source string, force bool) error
}

// Auditor keeps the audit log's signed checkpoints.
type Auditor interface {
	// Checkpoint signs a checkpoint if the log grew since the last one.
	Checkpoint(ctx context.Context) error
	// Verify checks the whole log: chain, tree and every checkpoint.
	Verify(ctx context.Context) (*store.AuditReport, error)
}

// Alerts announces an alert: counts it, tells consoles and runs the hooks.
// It needs no store, so it works when the store does not.
type Alerts interface {
	Announce(a *store.Alert)
}

// Faults injects faults into a test network's node (testing.fault_injection).
type Faults interface {
	// Partition cuts the node off from these peers until Heal.
	Partition(ids ...peer.ID)
	// Partitioned lists the peers cut off, sorted.
	Partitioned() []string
	// Heal ends every partition, reconnects at once and says how many
	// peers were cut off.
	Heal() int
	// SetClockSkew shifts the node's clock by d (0 restores it).
	SetClockSkew(d time.Duration)
}

// Errors the dependencies return, so that the API can answer with the
// right status. An implementation wraps its own errors with them.
var (
	ErrNoCase           = errors.New("no such case")
	ErrRosterDrops      = errors.New("roster drops this node or too many members")
	ErrRosterUnrecorded = errors.New("roster not applied: its audit record could not be written")
	// ErrIdempotencyMismatch: the Idempotency-Key was used for a
	// different request body.
	ErrIdempotencyMismatch = errors.New("idempotency key was used for a different request")
)

// Deps is what a Server is built from.
type Deps struct {
	Country   string   // this node's country code
	TokenHash [32]byte // SHA-256 of the node's bootstrap API token
	Now       func() time.Time
	Log       *zap.Logger

	Store       Store
	Accounts    *accounts.Manager // nil refuses every caller
	Cases       Cases
	Network     Network
	Auditor     Auditor
	Alerts      Alerts
	Drills      Drills
	Quarantines Quarantines
	Events      Events
	// Context is the node's life: drills an operator starts and console
	// streams end with it.
	Context context.Context
	// Faults enables the test-fault routes; nil answers them with 404.
	Faults Faults
	// Metrics serves GET /metrics; nil leaves the route out. It needs a
	// bearer token: MetricsTokenHash's (a scrape token), the node's, or a
	// user's allowed to read statistics.
	Metrics http.Handler
	// MetricsTokenHash is the SHA-256 of the scrape token; nil: none.
	MetricsTokenHash *[32]byte
	// LoginFailed counts a failed console login.
	LoginFailed func()
	// DraftKey seals drafts at rest (DraftKeyFrom); nil keeps them in
	// clear, as tests without a node key do.
	DraftKey []byte
	// IdentifierKey is the key of the cases' identifier index
	// (protocol.IdentifierTag), so the case list finds a case by one of its
	// request's identifiers; nil: no such search.
	IdentifierKey []byte
}

// Route is one registered route.
type Route struct {
	Method, Path string
	// Perm is what the caller must hold ("" any authenticated caller);
	// Public routes need no credentials at all.
	Perm   accounts.Permission
	Public bool
}

func (r Route) String() string { return r.Method + " " + r.Path }

// AnyCaller is the permission of routes open to every authenticated caller.
const AnyCaller accounts.Permission = ""

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	d      Deps
	log    *zap.Logger
	mux    *http.ServeMux
	routes []Route
	drafts *draftSealer // nil: drafts in clear
}

// New builds the API with its routes. Mount more with Handle before
// serving.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.LoginFailed == nil {
		d.LoginFailed = func() {}
	}
	drafts, err := newDraftSealer(d.DraftKey)
	if err != nil {
		panic(err) // DraftKeyFrom makes the only keys there are: a wrong one is a bug
	}
	s := &Server{d: d, log: d.Log.Named("api"), mux: http.NewServeMux(), drafts: drafts}
	s.public("GET /healthz", s.handleHealth)
	if d.Metrics != nil {
		s.register("GET /metrics", Route{Perm: accounts.PermReadStats}, s.scrape(d.Metrics))
	}
	s.public("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	s.public("POST /api/v1/login", s.handleLogin)
	s.Handle("POST /api/v1/logout", AnyCaller, s.handleLogout)
	s.Handle("GET /api/v1/me", AnyCaller, s.handleMe)
	s.Handle("POST /api/v1/me/totp", AnyCaller, s.handleTOTPBegin)
	s.Handle("POST /api/v1/me/totp/confirm", AnyCaller, s.handleTOTPConfirm)

	s.Handle("POST /api/v1/requests", accounts.PermSubmit, s.handleSubmit)
	s.Handle("POST /api/v1/requests/validate", accounts.PermSubmit, s.handleValidate)
	s.Handle("GET /api/v1/drafts", accounts.PermSubmit, s.handleDrafts)
	s.Handle("GET /api/v1/drafts/{id}", accounts.PermSubmit, s.handleDraft)
	s.Handle("PUT /api/v1/drafts/{id}", accounts.PermSubmit, s.handleDraft)
	s.Handle("DELETE /api/v1/drafts/{id}", accounts.PermSubmit, s.handleDraft)

	s.Handle("GET /api/v1/cases", accounts.PermReadCases, s.handleCases)
	s.Handle("GET /api/v1/cases/{id}", accounts.PermReadCases, s.handleCase)
	s.Handle("POST /api/v1/cases/{id}/actions", accounts.PermAct, s.handleAct)
	s.Handle("POST /api/v1/cases/{id}/assign", accounts.PermAssign, s.handleAssign)
	s.Handle("GET /api/v1/alerts", accounts.PermReadAlerts, s.handleAlerts)
	s.Handle("GET /api/v1/events", accounts.PermReadCases, streaming(s.handleEvents))

	s.Handle("GET /api/v1/peers", accounts.PermReadPeers, s.handlePeers)
	s.Handle("GET /api/v1/roster", accounts.PermReadPeers, s.handleGetRoster)
	s.Handle("POST /api/v1/peers/{country}/quarantine", accounts.PermManageRoster, s.handleQuarantine)
	s.Handle("DELETE /api/v1/peers/{country}/quarantine", accounts.PermManageRoster, s.handleQuarantine)
	s.Handle("POST /api/v1/roster", accounts.PermManageRoster, s.handlePostRoster)
	s.Handle("POST /api/v1/drills/reachability", accounts.PermManageRoster, s.handleDrillReachability)
	s.Handle("POST /api/v1/drills/response", accounts.PermManageRoster, s.handleDrillResponse)
	s.Handle("GET /api/v1/drills/report", accounts.PermReadPeers, s.handleDrillReport)
	// Fault injection for test networks; 404 unless Deps.Faults is set.
	s.Handle("POST /api/v1/testing/partition", accounts.PermManageRoster, s.handleTestPartition)
	s.Handle("POST /api/v1/testing/heal", accounts.PermManageRoster, s.handleTestHeal)
	s.Handle("POST /api/v1/testing/clock", accounts.PermManageRoster, s.handleTestClock)

	s.Handle("GET /api/v1/audit", accounts.PermReadAudit, s.handleAuditSearch)
	s.Handle("GET /api/v1/audit/verify", accounts.PermReadAudit, s.handleAuditVerify)
	s.Handle("GET /api/v1/audit/export", accounts.PermReadAudit, streaming(s.handleAuditExport))
	s.Handle("GET /api/v1/stats", accounts.PermReadStats, s.handleStats)
	s.Handle("GET /api/v1/backup", accounts.PermManageUsers, s.handleBackup) // admins only (backup.go)

	s.Handle("GET /api/v1/users", accounts.PermManageUsers, s.handleUsers)
	s.Handle("POST /api/v1/users", accounts.PermManageUsers, s.handleUsers)
	s.Handle("PATCH /api/v1/users/{name}", accounts.PermManageUsers, s.handleUser)
	s.Handle("DELETE /api/v1/users/{name}", accounts.PermManageUsers, s.handleUser)
	s.Handle("GET /api/v1/users/{name}/tokens", accounts.PermManageUsers, s.handleTokens)
	s.Handle("POST /api/v1/users/{name}/tokens", accounts.PermManageUsers, s.handleTokens)
	s.Handle("DELETE /api/v1/users/{name}/tokens/{id}", accounts.PermManageUsers, s.handleToken)
	s.Handle("GET /api/v1/tokens", AnyCaller, s.handleTokens)
	s.Handle("POST /api/v1/tokens", AnyCaller, s.handleTokens)
	s.Handle("DELETE /api/v1/tokens/{id}", AnyCaller, s.handleToken)

	// The catch-alls are no routes of the API: a JSON 404 under /api/,
	// the console's pages everywhere else.
	s.mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	}))
	s.mux.Handle("/", console.Handler())
	return s
}

// apiCSP is the Content-Security-Policy of every response that is not a
// console page (which sets its own): API answers are data, never to be
// run, framed or rendered as a page.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"

// ServeHTTP serves the API. Every response, JSON and errors included,
// says nosniff and carries a restrictive CSP; the console's pages replace
// the CSP with their own.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// Handle mounts a route for callers holding perm (AnyCaller: any
// authenticated caller), with the API's authentication and CSRF checks;
// ActorOf names the caller inside h. pattern is "METHOD /path" as
// http.ServeMux spells it. Call it before serving.
func (s *Server) Handle(pattern string, perm accounts.Permission, h http.HandlerFunc) {
	if strings.Contains(pattern, "/cases/{id}") || strings.Contains(pattern, "/drafts/{id}") {
		h = canonicalID(h)
	}
	s.register(pattern, Route{Perm: perm}, s.authz(perm, h))
}

// canonicalID refuses a case or draft ID that is not canonical (e.g.
// upper-case hex) with a field error, so that no spelling of an ID is
// taken for another ID.
func canonicalID(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg := protocol.IDProblem(r.PathValue("id")); msg != "" {
			WriteError(w, http.StatusBadRequest, "id "+msg, []protocol.FieldError{{Field: "id", Message: msg}})
			return
		}
		h(w, r)
	}
}

// scrape admits Prometheus with the scrape token, or any caller allowed
// to read statistics. Metrics show what the node is doing and with whom,
// so they are not public.
func (s *Server) scrape(h http.Handler) http.Handler {
	authed := s.authz(accounts.PermReadStats, h.ServeHTTP)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := s.d.MetricsTokenHash; want != nil {
			if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
				if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		authed.ServeHTTP(w, r)
	})
}

// public mounts a route that needs no credentials.
func (s *Server) public(pattern string, h http.HandlerFunc) {
	s.register(pattern, Route{Public: true}, h)
}

func (s *Server) register(pattern string, rt Route, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		// Every route names its method, so the OpenAPI document can
		// describe it exactly.
		panic(fmt.Sprintf("api: route %q is not of the form METHOD /path", pattern))
	}
	rt.Method, rt.Path = method, path
	s.mux.Handle(pattern, h)
	s.routes = append(s.routes, rt)
}

// Routes lists the registered routes in the order they were registered.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// maxRequestBody bounds every request body.
const maxRequestBody = 512 << 10

// WriteJSON answers with v as indented JSON, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is sent; a failed write means the client went away.
	_ = enc.Encode(v)
}

// WriteError answers with a types.ErrorBody.
func WriteError(w http.ResponseWriter, status int, msg string, fields []protocol.FieldError) {
	WriteJSON(w, status, types.ErrorBody{Error: msg, Fields: fields})
}

// ReadBody reads a request body of at most 512 KiB, answering the
// request itself (413 or 400) when it cannot.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, "request body over 512 KiB", nil)
		} else {
			WriteError(w, http.StatusBadRequest, "read body: "+err.Error(), nil)
		}
		return nil, false
	}
	return body, true
}

// readJSONBody reads a body that must be valid JSON.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, ok := ReadBody(w, r)
	if !ok {
		return nil, false
	}
	if !json.Valid(body) {
		WriteError(w, http.StatusBadRequest, "body is not valid JSON", []protocol.FieldError{{Field: "(body)", Message: "is not valid JSON"}})
		return nil, false
	}
	return body, true
}
