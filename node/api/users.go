package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// User and token management. node/accounts commits each change in its own
// transaction, so the audit record follows it; the package doc says what
// happens when the record cannot be written.

// accountError maps account errors to HTTP answers.
func accountError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		WriteError(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, accounts.ErrExists):
		WriteError(w, http.StatusConflict, err.Error(), []protocol.FieldError{{Field: "name", Message: "is taken"}})
	case errors.Is(err, accounts.ErrWeakPassword):
		WriteError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "password", Message: err.Error()}})
	case errors.Is(err, accounts.ErrBadName):
		WriteError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "name", Message: err.Error()}})
	case errors.Is(err, accounts.ErrBadRole):
		WriteError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "role", Message: err.Error()}})
	case errors.Is(err, accounts.ErrLastAdmin), errors.Is(err, accounts.ErrTOTPEnabled), errors.Is(err, accounts.ErrTOTPNotStarted):
		WriteError(w, http.StatusConflict, err.Error(), nil)
	case errors.Is(err, accounts.ErrBadCode):
		WriteError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "code", Message: "does not match"}})
	case errors.Is(err, accounts.ErrBadTokenName):
		WriteError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "name", Message: err.Error()}})
	default:
		WriteError(w, http.StatusServiceUnavailable, err.Error(), nil)
	}
}

// auditUser records an account change by the caller.
func (s *Server) auditUser(r *http.Request, action, detail string) error {
	return s.audit(r.Context(), store.AuditRecord{Actor: ActorOf(r).String(), Action: action, Detail: detail})
}

// undone reports whether a compensating account change, run after a
// failed audit write, worked; if not, the change stands unrecorded.
func (s *Server) undone(what string, err error) bool {
	if err != nil {
		s.log.Error("could not undo an unaudited account change: it stands", zap.String("change", what), zap.Error(err))
		return false
	}
	return true
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		us, err := s.d.Accounts.Users()
		if err != nil {
			accountError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, types.UserList{Users: viewsOf(us, UserOf)})
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Name, Role, Password string
		ContentAccess        bool `json:"content_access"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "body must be {name, role, password}", nil)
		return
	}
	role, err := accounts.ParseRole(req.Role)
	if err != nil {
		accountError(w, err)
		return
	}
	ctx := context.WithoutCancel(r.Context()) // the user and its record belong together
	if err := s.d.Accounts.AddUser(ctx, req.Name, role, req.Password); err != nil {
		accountError(w, err)
		return
	}
	name := strings.ToLower(strings.TrimSpace(req.Name))
	var contentErr error
	if req.ContentAccess {
		contentErr = s.d.Accounts.SetContentAccess(ctx, name, true)
	}
	if err := s.auditUser(r, "user.added", req.Name+" role="+req.Role); err != nil {
		if derr := s.d.Accounts.DeleteUser(ctx, name); !s.undone("add user "+name, derr) {
			// E.g. the node's first admin, which accounts will not delete.
			unaudited(w, "user "+name+" was added but NOT recorded in the audit log, and could not be removed again ("+
				derr.Error()+"); delete or repeat it once the log is writable", err)
			return
		}
		unaudited(w, "user "+name+" NOT added: the addition could not be recorded in the audit log", err)
		return
	}
	if contentErr != nil {
		WriteError(w, http.StatusServiceUnavailable, "user "+name+" added WITHOUT content access: "+contentErr.Error(), nil)
		return
	}
	u, err := s.d.Accounts.User(name)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "user vanished: "+err.Error(), nil)
		return
	}
	WriteJSON(w, http.StatusCreated, UserOf(u))
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx := r.Context()
	if r.Method == http.MethodDelete {
		if err := s.d.Accounts.DeleteUser(ctx, name); err != nil {
			accountError(w, err)
			return
		}
		if err := s.auditUser(r, "user.deleted", name); err != nil {
			unaudited(w, "user "+name+" deleted, but the deletion could not be recorded in the audit log", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Role          *string `json:"role"`
		Disabled      *bool   `json:"disabled"`
		ContentAccess *bool   `json:"content_access"`
		Password      *string `json:"password"`
		Unlock        bool    `json:"unlock"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "body must be {role?, disabled?, content_access?, password?, unlock?}", nil)
		return
	}
	// Each change commits on its own; the record lists those made, also
	// when a later one is refused.
	var changed []string
	record := func() bool {
		if len(changed) == 0 {
			return true
		}
		if err := s.auditUser(r, "user.changed", name+" "+strings.Join(changed, ",")); err != nil {
			unaudited(w, "changes to "+name+" ("+strings.Join(changed, ", ")+") were made but NOT recorded in the audit log; repeat them once it is writable", err)
			return false
		}
		return true
	}
	step := func(what string, err error) bool {
		if err != nil {
			if record() {
				accountError(w, err)
			}
			return false
		}
		changed = append(changed, what)
		return true
	}
	if req.Role != nil {
		role, err := accounts.ParseRole(*req.Role)
		if err == nil {
			err = s.d.Accounts.SetRole(ctx, name, role)
		}
		if !step("role="+*req.Role, err) {
			return
		}
	}
	if req.Disabled != nil && !step("disabled", s.d.Accounts.SetDisabled(ctx, name, *req.Disabled)) {
		return
	}
	if req.ContentAccess != nil && !step("content_access", s.d.Accounts.SetContentAccess(ctx, name, *req.ContentAccess)) {
		return
	}
	if req.Password != nil && !step("password", s.d.Accounts.SetPassword(ctx, name, *req.Password)) {
		return
	}
	if req.Unlock && !step("unlocked", s.d.Accounts.Unlock(ctx, name)) {
		return
	}
	if err := s.auditUser(r, "user.changed", name+" "+strings.Join(changed, ",")); err != nil {
		unaudited(w, "changes to "+name+" were made but NOT recorded in the audit log; repeat them once it is writable", err)
		return
	}
	u, err := s.d.Accounts.User(name)
	if err != nil {
		accountError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, UserOf(u))
}

// tokenOwner is whose tokens a request manages: the caller's own, or, for
// an admin, the user named in the path.
func tokenOwner(r *http.Request) (string, bool) {
	p := principalFrom(r)
	if name := r.PathValue("name"); name != "" {
		return name, p.can(accounts.PermManageUsers)
	}
	return p.Name, p.User != nil
}

func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) {
	owner, ok := tokenOwner(r)
	if !ok {
		WriteError(w, http.StatusForbidden, "tokens belong to console users", nil)
		return
	}
	if r.Method == http.MethodGet {
		ts, err := s.d.Accounts.Tokens(owner)
		if err != nil {
			accountError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, types.TokenList{Tokens: viewsOf(ts, TokenOf)})
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct{ Name string }
	_ = json.Unmarshal(body, &req) // a malformed body leaves the name empty, which CreateToken refuses
	ctx := context.WithoutCancel(r.Context())
	raw, t, err := s.d.Accounts.CreateToken(ctx, owner, req.Name)
	if err != nil {
		accountError(w, err)
		return
	}
	if err := s.auditUser(r, "token.created", owner+" "+t.ID+" "+req.Name); err != nil {
		// The secret is never shown, so the token cannot be used even
		// if revoking it fails too.
		s.undone("create token "+t.ID, s.d.Accounts.RevokeToken(ctx, owner, t.ID))
		unaudited(w, "token NOT created: it could not be recorded in the audit log", err)
		return
	}
	WriteJSON(w, http.StatusCreated, types.NewToken{ID: t.ID, Name: t.Name, User: owner, Token: raw, Note: "shown once; store it now"})
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	owner, ok := tokenOwner(r)
	if !ok {
		WriteError(w, http.StatusForbidden, "tokens belong to console users", nil)
		return
	}
	id := r.PathValue("id")
	if err := s.d.Accounts.RevokeToken(r.Context(), owner, id); err != nil {
		accountError(w, err)
		return
	}
	if err := s.auditUser(r, "token.revoked", owner+" "+id); err != nil {
		unaudited(w, "token "+id+" revoked, but the revocation could not be recorded in the audit log", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
