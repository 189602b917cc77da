package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/actor"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// SessionCookie is the prefix of the console's session cookie name. The
// name adds the host and port the browser used (SessionCookieName):
// browsers share cookies across the ports of one host, so two nodes'
// consoles open in one browser would otherwise log each other out.
const SessionCookie = "vigil_session"

// SessionCookieName is the session cookie's name for requests to r's host.
func SessionCookieName(r *http.Request) string {
	var b strings.Builder
	b.WriteString(SessionCookie + "_")
	for _, c := range strings.ToLower(r.Host) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// NodeAdmin is the user the node's bootstrap token acts as: the CLI on the
// node's host.
const NodeAdmin = "node-admin"

// credential is how a caller proved who it is.
type credential int

const (
	viaSession   credential = iota + 1 // console session cookie
	viaToken                           // a user's personal API token
	viaNodeToken                       // the node's bootstrap token
)

// principal is who is calling the API: a console user (session cookie or
// personal API token) or the node's own bootstrap token, which acts as the
// built-in NodeAdmin.
type principal struct {
	Name    string
	User    *store.User // nil for the node token
	Session *store.Session
	Via     credential
}

func (p *principal) can(perm accounts.Permission) bool {
	if p.Via == viaNodeToken {
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

// ActorOf names the caller of a mounted route for the audit log.
func ActorOf(r *http.Request) actor.Actor {
	if p := principalFrom(r); p != nil {
		return actor.User(p.Name)
	}
	return actor.Unknown
}

// authenticate resolves the caller: a bearer token (the node token or a
// user's personal token) or a console session cookie.
func (s *Server) authenticate(r *http.Request) *principal {
	if s.d.Accounts == nil {
		return nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = strings.TrimSpace(tok)
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], s.d.TokenHash[:]) == 1 {
			return &principal{Name: NodeAdmin, Via: viaNodeToken}
		}
		if u, _, err := s.d.Accounts.Authenticate(r.Context(), tok); err == nil {
			return &principal{Name: u.Name, User: u, Via: viaToken}
		}
		return nil
	}
	if c, err := r.Cookie(SessionCookieName(r)); err == nil {
		if ss, u, err := s.d.Accounts.Session(r.Context(), c.Value); err == nil {
			return &principal{Name: u.Name, User: u, Session: ss, Via: viaSession}
		}
	}
	return nil
}

// presentedCredentials reports whether r carries a token or a session
// cookie, valid or not.
func presentedCredentials(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	_, err := r.Cookie(SessionCookieName(r))
	return err == nil
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
func (s *Server) authz(perm accounts.Permission, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(r)
		if p == nil {
			// A call with no credentials at all is the console asking who is
			// logged in before anyone is: normal, not worth a line. Wrong or
			// expired credentials are.
			if presentedCredentials(r) {
				s.log.Info("refused API call without valid credentials",
					zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			WriteError(w, http.StatusUnauthorized, "log in or give a valid API token", nil)
			return
		}
		if p.Via == viaSession && stateChanging(r.Method) && !accounts.CSRFOK(p.Session, r.Header.Get("X-CSRF-Token")) {
			s.log.Warn("refused state change without CSRF token", zap.String("user", p.Name), zap.String("path", r.URL.Path))
			WriteError(w, http.StatusForbidden, "missing or wrong CSRF token; reload the page", nil)
			return
		}
		if perm != AnyCaller && !p.can(perm) {
			WriteError(w, http.StatusForbidden, "your role ("+p.role()+") does not allow this", nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// Lockouts returns the callback for accounts.Options.OnLockout: it raises
// the alert for repeated failed logins and records them in one
// transaction. Nothing is locked; the source that failed is slowed down. There is
// no request to fail, so when that write fails the error is logged and the
// alert is announced anyway, as critical and saying it was not recorded.
func Lockouts(st Store, alerts Alerts, now func() time.Time, log *zap.Logger) func(user, remote string) {
	log = log.Named("api")
	return func(user, remote string) {
		at := now().UTC()
		a := &store.Alert{ID: "login/lockout/" + user + "/" + at.Format("20060102T150405"), Kind: "login_lockout", Severity: "warning",
			RaisedAt: at, Message: "repeated failed logins for account " + user + " from " + remote + "; that source is slowed down, the account is not locked"}
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			if _, err := tx.RaiseAlert(a); err != nil {
				return err
			}
			return tx.Audit(store.AuditRecord{At: at, Actor: actor.Node.String(), Action: "user.login_failures", Detail: user + " from " + remote})
		})
		if err != nil {
			log.Error("repeated failed logins NOT recorded in the audit log", zap.String("user", user), zap.String("remote", remote), zap.Error(err))
			a.Severity = "critical"
			a.Message += "; this could NOT be recorded in the audit log or alert list: " + err.Error()
		}
		alerts.Announce(a)
	}
}

// sameOrigin refuses a request a browser sent from another site: its
// Origin names another host than the one it was sent to (or a TLS proxy
// in front forwarded, X-Forwarded-Host, which a cross-site page cannot
// set without a preflight the API never grants), or Sec-Fetch-Site says
// cross-site. Clients that are no browser send neither header.
func sameOrigin(r *http.Request) (string, bool) {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "cross-site request (Sec-Fetch-Site: cross-site)", false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return "", true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "cross-site request (Origin " + strconv.Quote(origin) + ")", false
	}
	for _, h := range []string{r.Host, r.Header.Get("X-Forwarded-Host")} {
		if h != "" && strings.EqualFold(u.Host, h) {
			return "", true
		}
	}
	return "cross-site request (Origin " + strconv.Quote(origin) + " is not this node)", false
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	// A form on another site can post text/plain or a form without a
	// preflight; only a same-origin page or a client can send JSON.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		WriteError(w, http.StatusUnsupportedMediaType, "log in with Content-Type: application/json",
			[]protocol.FieldError{{Field: "Content-Type", Message: "must be application/json"}})
		return
	}
	if why, ok := sameOrigin(r); !ok {
		s.log.Warn("refused cross-site login", zap.String("remote", r.RemoteAddr), zap.String("why", why))
		WriteError(w, http.StatusForbidden, "login refused: "+why+"; open the console from the node's own address", nil)
		return
	}
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "body must be {username, password, totp}", nil)
		return
	}
	cookie, ss, u, err := s.d.Accounts.Login(r.Context(), req.Username, req.Password, req.TOTP, r.RemoteAddr)
	if err != nil {
		s.d.LoginFailed()
		switch {
		case errors.Is(err, accounts.ErrTOTPRequired):
			WriteJSON(w, http.StatusUnauthorized, types.LoginRefused{Error: "enter the code from your authenticator app", TOTPRequired: true})
		case errors.Is(err, accounts.ErrThrottled):
			var te *accounts.ThrottledError
			if errors.As(err, &te) {
				secs := int(math.Ceil(te.RetryAfter.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed attempts from here; try again in %d s (an admin can clear this)", secs), nil)
			} else {
				w.Header().Set("Retry-After", "60")
				WriteError(w, http.StatusTooManyRequests, "too many attempts; wait a minute", nil)
			}
		case errors.Is(err, accounts.ErrBadCredentials), errors.Is(err, accounts.ErrDisabled):
			WriteError(w, http.StatusUnauthorized, "wrong user name or password", nil)
		default:
			s.log.Error("login", zap.Error(err))
			WriteError(w, http.StatusServiceUnavailable, "login failed: "+err.Error(), nil)
		}
		return
	}
	if err := s.audit(r.Context(), store.AuditRecord{Actor: actor.User(u.Name).String(), Action: "user.login", Detail: r.RemoteAddr}); err != nil {
		// An unaudited session must not be usable: end it, and never send
		// its cookie. Should ending it fail too, nobody holds the cookie
		// and the session expires unused.
		if lerr := s.d.Accounts.Logout(context.WithoutCancel(r.Context()), cookie); lerr != nil {
			s.log.Error("end unaudited session", zap.String("user", u.Name), zap.Error(lerr))
		}
		unaudited(w, "login refused: it could not be recorded in the audit log", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookieName(r), Value: cookie, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, Expires: ss.ExpiresAt})
	WriteJSON(w, http.StatusOK, types.Me{Name: u.Name, Role: u.Role, CSRFToken: ss.CSRF, TOTPEnabled: u.TOTPEnabled})
}

// handleLogout ends the session first and records it after: a logout
// that cannot be recorded still ends the session, because refusing to
// would keep alive access its owner asked to end.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookieName(r)); err == nil {
		if err := s.d.Accounts.Logout(r.Context(), c.Value); err != nil {
			s.log.Error("logout", zap.String("user", principalFrom(r).Name), zap.Error(err))
			WriteError(w, http.StatusServiceUnavailable, "the session could NOT be ended: "+err.Error(), nil)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookieName(r), Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if err := s.audit(r.Context(), store.AuditRecord{Actor: ActorOf(r).String(), Action: "user.logout"}); err != nil {
		unaudited(w, "logged out, but the logout could not be recorded in the audit log", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	v := types.Me{Name: p.Name, Role: p.role()}
	if p.Session != nil {
		v.CSRFToken = p.Session.CSRF
	}
	if p.User != nil {
		v.TOTPEnabled = p.User.TOTPEnabled
	}
	WriteJSON(w, http.StatusOK, v)
}

func (s *Server) handleTOTPBegin(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	if p.User == nil {
		WriteError(w, http.StatusForbidden, "second factors belong to console users", nil)
		return
	}
	secret, url, err := s.d.Accounts.BeginTOTP(r.Context(), p.Name)
	if err != nil {
		accountError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, types.TOTPEnrolment{Secret: secret, OTPAuthURL: url})
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r)
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct{ Code string }
	_ = json.Unmarshal(body, &req) // a malformed body leaves the code empty, which ConfirmTOTP refuses
	if p.User == nil {
		WriteError(w, http.StatusForbidden, "second factors belong to console users", nil)
		return
	}
	if err := s.d.Accounts.ConfirmTOTP(r.Context(), p.Name, req.Code); err != nil {
		accountError(w, err)
		return
	}
	// A second factor only adds protection: it stands if unrecorded.
	if err := s.auditUser(r, "user.totp_enabled", p.Name); err != nil {
		unaudited(w, "two-factor authentication is enabled, but this was not recorded in the audit log", err)
		return
	}
	WriteJSON(w, http.StatusOK, types.TOTPEnabled{TOTPEnabled: true})
}
