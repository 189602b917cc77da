package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// SessionCookie is the console's session cookie name.
const SessionCookie = "vigil_session"

// principal is who is calling the API: a console user (session cookie or
// personal API token) or the node's own bootstrap token, which acts as the
// built-in "node-admin" for the CLI on the node's host.
type principal struct {
	Name    string
	User    *store.User // nil for the node token
	Session *store.Session
	Via     string // session, token or node-token
}

func (p *principal) can(perm accounts.Permission) bool {
	if p.Via == "node-token" {
		return true
	}
	return accounts.Can(p.User, perm)
}

func (p *principal) role() string {
	if p.User == nil {
		return string(accounts.RoleAdmin)
	}
	return p.User.Role
}

type principalKey struct{}

func principalFrom(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// actorOf names the caller for the audit log.
func actorOf(r *http.Request) string {
	if p := principalFrom(r); p != nil {
		return "user:" + p.Name
	}
	return "unknown"
}

// authenticate resolves the caller: a bearer token (the node token or a
// user's personal token) or a console session cookie.
func (n *Node) authenticate(r *http.Request) *principal {
	if n.accounts == nil {
		return nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = strings.TrimSpace(tok)
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], n.token[:]) == 1 {
			return &principal{Name: "node-admin", Via: "node-token"}
		}
		if u, _, err := n.accounts.Authenticate(r.Context(), tok); err == nil {
			return &principal{Name: u.Name, User: u, Via: "token"}
		}
		return nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		if s, u, err := n.accounts.Session(r.Context(), c.Value); err == nil {
			return &principal{Name: u.Name, User: u, Session: s, Via: "session"}
		}
	}
	return nil
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// authz admits callers holding perm. Browser sessions must also present
// their CSRF token on every state-changing request; bearer tokens are not
// sent automatically by browsers, so they need none.
func (n *Node) authz(perm accounts.Permission, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := n.authenticate(r)
		if p == nil {
			n.log.Named("api").Info("refused API call without valid credentials",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "log in or give a valid API token", nil)
			return
		}
		if p.Via == "session" && stateChanging(r.Method) && !accounts.CSRFOK(p.Session, r.Header.Get("X-CSRF-Token")) {
			n.log.Named("api").Warn("refused state change without CSRF token", zap.String("user", p.Name), zap.String("path", r.URL.Path))
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token; reload the page", nil)
			return
		}
		if perm != "" && !p.can(perm) {
			writeError(w, http.StatusForbidden, "your role ("+p.role()+") does not allow this", nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// auth admits any authenticated caller.
func (n *Node) auth(h http.HandlerFunc) http.Handler { return n.authz("", h) }

func (n *Node) onLockout(user, remote string) {
	now := n.now().UTC()
	a := &store.Alert{ID: "login/lockout/" + user + "/" + now.Format("20060102T150405"), Kind: "login_lockout", Severity: "warning",
		RaisedAt: now, Message: "account " + user + " locked after repeated failed logins from " + remote}
	_ = n.store.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.RaiseAlert(a); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: "node", Action: "user.locked", Detail: user + " from " + remote})
	})
	n.metrics.escalations.WithLabelValues(string(a.Kind)).Inc()
	n.publishAlert(a)
	n.dispatchAlert(a)
}

type meView struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	CSRFToken   string `json:"csrf_token,omitempty"`
	TOTPEnabled bool   `json:"totp_enabled"`
}

func (n *Node) handleLogin(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be {username, password, totp}", nil)
		return
	}
	cookie, s, u, err := n.accounts.Login(r.Context(), req.Username, req.Password, req.TOTP, r.RemoteAddr)
	if err != nil {
		n.metrics.loginFailures.Inc()
		switch {
		case errors.Is(err, accounts.ErrTOTPRequired):
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "enter the code from your authenticator app", "totp_required": true})
		case errors.Is(err, accounts.ErrLocked):
			writeError(w, http.StatusLocked, "account locked after repeated failures; try later or ask an admin", nil)
		case errors.Is(err, accounts.ErrThrottled):
			writeError(w, http.StatusTooManyRequests, "too many attempts; wait a minute", nil)
		case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDisabled):
			writeError(w, http.StatusUnauthorized, "wrong user name or password", nil)
		default:
			n.log.Named("api").Error("login", zap.Error(err))
			writeError(w, http.StatusServiceUnavailable, "login failed: "+err.Error(), nil)
		}
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: cookie, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, Expires: s.ExpiresAt})
	_ = n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: "user:" + u.Name, Action: "user.login", Detail: r.RemoteAddr})
	})
	writeJSON(w, http.StatusOK, meView{Name: u.Name, Role: u.Role, CSRFToken: s.CSRF, TOTPEnabled: u.TOTPEnabled})
}

func (n *Node) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		_ = n.accounts.Logout(r.Context(), c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	_ = n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: "user.logout"})
	})
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) handleMe(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	v := meView{Name: p.Name, Role: p.role()}
	if p.Session != nil {
		v.CSRFToken = p.Session.CSRF
	}
	if p.User != nil {
		v.TOTPEnabled = p.User.TOTPEnabled
	}
	writeJSON(w, http.StatusOK, v)
}

// accountError maps account errors to HTTP answers.
func accountError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, accounts.ErrExists):
		writeError(w, http.StatusConflict, err.Error(), []protocol.FieldError{{Field: "name", Message: "is taken"}})
	case errors.Is(err, accounts.ErrWeakPassword):
		writeError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "password", Message: err.Error()}})
	case errors.Is(err, accounts.ErrBadName):
		writeError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "name", Message: err.Error()}})
	case errors.Is(err, accounts.ErrBadRole):
		writeError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "role", Message: err.Error()}})
	case errors.Is(err, accounts.ErrLastAdmin), errors.Is(err, accounts.ErrTOTPEnabled), errors.Is(err, accounts.ErrTOTPNotStarted):
		writeError(w, http.StatusConflict, err.Error(), nil)
	case errors.Is(err, accounts.ErrBadCode):
		writeError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "code", Message: "does not match"}})
	case errors.Is(err, accounts.ErrBadTokenName):
		writeError(w, http.StatusUnprocessableEntity, err.Error(), []protocol.FieldError{{Field: "name", Message: err.Error()}})
	default:
		writeError(w, http.StatusServiceUnavailable, err.Error(), nil)
	}
}

func (n *Node) auditUser(r *http.Request, action, detail string) {
	_ = n.store.Update(r.Context(), func(tx *store.Tx) error {
		return tx.Audit(store.AuditRecord{At: n.now(), Actor: actorOf(r), Action: action, Detail: detail})
	})
}

func (n *Node) handleUsers(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		us, err := n.accounts.Users()
		if err != nil {
			accountError(w, err)
			return
		}
		out := []accounts.UserInfo{}
		for _, u := range us {
			out = append(out, accounts.Info(u))
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": out})
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Name, Role, Password string
		ContentAccess        bool `json:"content_access"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be {name, role, password}", nil)
		return
	}
	role, err := accounts.ParseRole(req.Role)
	if err != nil {
		accountError(w, err)
		return
	}
	if err := n.accounts.AddUser(r.Context(), req.Name, role, req.Password); err != nil {
		accountError(w, err)
		return
	}
	if req.ContentAccess {
		_ = n.accounts.SetContentAccess(r.Context(), req.Name, true)
	}
	n.auditUser(r, "user.added", req.Name+" role="+req.Role)
	u, _ := n.accounts.User(strings.ToLower(strings.TrimSpace(req.Name)))
	if u == nil {
		writeError(w, http.StatusInternalServerError, "user vanished", nil)
		return
	}
	writeJSON(w, http.StatusCreated, accounts.Info(u))
}

func (n *Node) handleUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx := r.Context()
	if r.Method == http.MethodDelete {
		if err := n.accounts.DeleteUser(ctx, name); err != nil {
			accountError(w, err)
			return
		}
		n.auditUser(r, "user.deleted", name)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, ok := readBody(w, r)
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
		writeError(w, http.StatusBadRequest, "body must be {role?, disabled?, content_access?, password?, unlock?}", nil)
		return
	}
	var changed []string
	step := func(what string, err error) bool {
		if err != nil {
			accountError(w, err)
			return false
		}
		changed = append(changed, what)
		return true
	}
	if req.Role != nil {
		role, err := accounts.ParseRole(*req.Role)
		if err == nil {
			err = n.accounts.SetRole(ctx, name, role)
		}
		if !step("role="+*req.Role, err) {
			return
		}
	}
	if req.Disabled != nil && !step("disabled", n.accounts.SetDisabled(ctx, name, *req.Disabled)) {
		return
	}
	if req.ContentAccess != nil && !step("content_access", n.accounts.SetContentAccess(ctx, name, *req.ContentAccess)) {
		return
	}
	if req.Password != nil && !step("password", n.accounts.SetPassword(ctx, name, *req.Password)) {
		return
	}
	if req.Unlock && !step("unlocked", n.accounts.Unlock(ctx, name)) {
		return
	}
	n.auditUser(r, "user.changed", name+" "+strings.Join(changed, ","))
	u, err := n.accounts.User(name)
	if err != nil {
		accountError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, accounts.Info(u))
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

func (n *Node) handleTokens(w http.ResponseWriter, r *http.Request) {
	owner, ok := tokenOwner(r)
	if !ok {
		writeError(w, http.StatusForbidden, "tokens belong to console users", nil)
		return
	}
	if r.Method == http.MethodGet {
		ts, err := n.accounts.Tokens(owner)
		if err != nil {
			accountError(w, err)
			return
		}
		out := []accounts.TokenInfo{}
		for _, t := range ts {
			out = append(out, accounts.TokenInfoOf(t))
		}
		writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct{ Name string }
	_ = json.Unmarshal(body, &req)
	raw, t, err := n.accounts.CreateToken(r.Context(), owner, req.Name)
	if err != nil {
		accountError(w, err)
		return
	}
	n.auditUser(r, "token.created", owner+" "+t.ID+" "+req.Name)
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "user": owner, "token": raw,
		"note": "shown once; store it now"})
}

func (n *Node) handleToken(w http.ResponseWriter, r *http.Request) {
	owner, ok := tokenOwner(r)
	if !ok {
		writeError(w, http.StatusForbidden, "tokens belong to console users", nil)
		return
	}
	id := r.PathValue("id")
	if err := n.accounts.RevokeToken(r.Context(), owner, id); err != nil {
		accountError(w, err)
		return
	}
	n.auditUser(r, "token.revoked", owner+" "+id)
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) handleTOTPBegin(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	if p.User == nil {
		writeError(w, http.StatusForbidden, "second factors belong to console users", nil)
		return
	}
	secret, url, err := n.accounts.BeginTOTP(r.Context(), p.Name)
	if err != nil {
		accountError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret, "otpauth_url": url})
}

func (n *Node) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct{ Code string }
	_ = json.Unmarshal(body, &req)
	if p.User == nil {
		writeError(w, http.StatusForbidden, "second factors belong to console users", nil)
		return
	}
	if err := n.accounts.ConfirmTOTP(r.Context(), p.Name, req.Code); err != nil {
		accountError(w, err)
		return
	}
	n.auditUser(r, "user.totp_enabled", p.Name)
	writeJSON(w, http.StatusOK, map[string]bool{"totp_enabled": true})
}

// pruneSessions drops expired sessions; the scheduler calls it.
func (n *Node) pruneSessions(ctx context.Context) {
	if _, err := n.accounts.PruneSessions(ctx); err != nil && ctx.Err() == nil {
		n.log.Named("accounts").Warn("prune sessions", zap.Error(err))
	}
}
