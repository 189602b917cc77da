package accounts

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// touchInterval is how stale LastSeenAt / LastUsedAt may get before a
// request writes it again: one write per minute per session or token
// rather than one per request. The idle timeout is therefore measured with
// up to this much slack.
const touchInterval = time.Minute

// maxRemoteLen bounds the client address kept in sessions, logs and the
// throttle (an address with port is at most 47 characters).
const maxRemoteLen = 64

// Login checks a user's password (and one-time code if the user has
// enrolled TOTP) and opens a session. It returns the session cookie value,
// which is shown to the browser once and never stored, the session and the
// user.
//
// Errors: ErrThrottled (a *ThrottledError for a real account: this source
// failed too often for it and must wait; for names that are no account:
// too many from this address), ErrBadCredentials (unknown user, wrong
// password or wrong code, indistinguishable), ErrTOTPRequired (password
// right, code missing), ErrDisabled (password right, account disabled).
// No account is ever locked: failures slow down only the source that
// failed, for that account (backoff.go), so an attacker cannot keep the
// real user out, and names that are no account are throttled apart, so
// they never hold a real user. remote is the client address, as in
// http.Request.RemoteAddr. The name is matched case-insensitively.
func (m *Manager) Login(ctx context.Context, name, password, totpCode, remote string) (string, *Session, *User, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if len(remote) > maxRemoteLen {
		remote = remote[:maxRemoteLen]
	}
	// No stored password is longer than MaxPasswordLen, so a longer one
	// fails either way; cutting it bounds the work a request can cause.
	if len(password) > MaxPasswordLen+1 {
		password = password[:MaxPasswordLen+1]
	}
	source := remoteKey(remote)
	now := m.now()

	dummy := m.dummyHash() // before the lookup: the first login costs the same for every name
	var u *User
	if CheckName(name) == nil {
		var err error
		u, err = m.User(name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", nil, nil, err
		}
	}
	if u == nil {
		// Names that are no account share one bucket per address, apart
		// from real accounts, so junk names cannot fill memory or hold
		// anyone.
		if !m.unknownLim.allow(source, now) {
			// The name is not logged: it may be a password typed in the wrong field.
			m.log.Warn("login throttled: too many unknown user names", zap.String("remote", remote))
			return "", nil, nil, ErrThrottled
		}
		// Spend what a real check spends: one hash and one commit.
		if _, _, err := m.verify(ctx, dummy, password); err != nil {
			return "", nil, nil, err
		}
		if err := m.st.Update(ctx, func(t *store.Tx) error {
			_, err := t.CountUnknownLogin()
			return err
		}); err != nil {
			return "", nil, nil, err
		}
		// The name is not logged: it may be a password typed in the wrong field.
		m.log.Info("failed login for an unknown user", zap.String("remote", remote))
		return "", nil, nil, ErrBadCredentials
	}

	key := backoffKey{source: source, user: name}
	if wait, ok := m.backoff.begin(key, now); !ok {
		m.log.Info("login held back after failures from this source", zap.String("user", name),
			zap.String("remote", remote), zap.Duration("retry_after", wait))
		return "", nil, nil, &ThrottledError{RetryAfter: wait}
	}
	res := attemptNeutral
	defer func() { m.backoff.end(key, m.now(), res) }()

	// Hash outside the write: the committer must never wait for Argon2.
	ok, rehash, err := m.verify(ctx, u.PasswordHash, password)
	if err != nil {
		return "", nil, nil, err
	}
	var newHash string
	if ok && rehash {
		if newHash, err = m.hash(ctx, password); err != nil {
			return "", nil, nil, err
		}
	}

	cookie, csrf := randomToken(), randomToken()
	var (
		result   error
		alertNow bool
		sess     *Session
		out      *User
	)
	err = m.st.Update(ctx, func(t *store.Tx) error {
		result, alertNow, sess, out = nil, false, nil, nil
		cu, err := t.User(name)
		if errors.Is(err, store.ErrNotFound) {
			result = ErrBadCredentials // deleted meanwhile
			return nil
		}
		if err != nil {
			return err
		}
		if cu.PasswordHash != u.PasswordHash {
			result = ErrBadCredentials // password changed meanwhile; checked the old one
			return nil
		}
		fail := func() error {
			cu.FailedLogins++
			result = ErrBadCredentials
			// Once per run of failures: the count goes on (the console
			// shows it) until a success or an unlock clears it.
			alertNow = cu.FailedLogins == m.o.MaxFailures
			return t.PutUser(cu)
		}
		if !ok {
			return fail()
		}
		if cu.Disabled {
			result = ErrDisabled
			return nil
		}
		if cu.TOTPEnabled {
			if strings.TrimSpace(totpCode) == "" {
				// Not a failure, but not a success either: the failure
				// count stays, so codes cannot be guessed between resets.
				result = ErrTOTPRequired
				return nil
			}
			secret, clear, err := m.openSecret(name, cu.TOTPSecret)
			if err != nil {
				// Not the user's fault, and not to be guessed around:
				// refuse like a wrong code, and say why in the log.
				m.log.Error("TOTP secret cannot be opened; reset the user's second factor", zap.String("user", name), zap.Error(err))
				return fail()
			}
			step, good := checkTOTP(secret, totpCode, now, cu.TOTPLastStep)
			if !good {
				return fail()
			}
			cu.TOTPLastStep = step
			if clear && len(m.o.SecretKey) > 0 { // stored before the node key: seal it now
				if cu.TOTPSecret, err = m.sealSecret(name, secret); err != nil {
					return err
				}
			}
		}
		cu.FailedLogins, cu.LockedUntil = 0, time.Time{}
		if newHash != "" {
			cu.PasswordHash = newHash
		}
		if err := t.PutUser(cu); err != nil {
			return err
		}
		s := &Session{Hash: sha256Hex(cookie), User: name, CSRF: csrf, CreatedAt: now,
			ExpiresAt: now.Add(m.o.SessionTTL), LastSeenAt: now, RemoteAddr: remote}
		if err := t.PutSession(s); err != nil {
			return err
		}
		sess, out = s, cu
		return nil
	})
	if err != nil {
		return "", nil, nil, err
	}
	if alertNow {
		m.log.Warn("repeated failed logins", zap.String("user", name),
			zap.String("remote", remote), zap.Int("failures", m.o.MaxFailures))
		if m.o.OnLockout != nil {
			m.o.OnLockout(name, remote)
		}
	}
	switch {
	case result == nil:
		res = attemptSucceeded
		return cookie, sess, out, nil
	case errors.Is(result, ErrBadCredentials):
		res = attemptFailed
		m.log.Info("failed login", zap.String("user", name), zap.String("remote", remote))
	}
	return "", nil, nil, result
}

// cookieHash returns the store key of a session cookie, or false if the
// value cannot be a cookie this package issued.
func cookieHash(cookie string) (string, bool) {
	if len(cookie) != base64.RawURLEncoding.EncodedLen(32) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(cookie); err != nil {
		return "", false
	}
	return sha256Hex(cookie), true
}

// Session returns the session a cookie belongs to and its user, with the
// user's current record (role changes apply at once). It returns
// ErrNoSession if the cookie is unknown, the session has expired or been
// idle longer than IdleTimeout, or the user is disabled or gone.
func (m *Manager) Session(ctx context.Context, cookie string) (*Session, *User, error) {
	h, ok := cookieHash(cookie)
	if !ok {
		return nil, nil, ErrNoSession
	}
	now := m.now()
	var (
		s *Session
		u *User
	)
	err := m.st.View(func(r *store.ReadTx) error {
		var err error
		if s, err = r.Session(h); err != nil {
			return err
		}
		u, err = r.User(s.User)
		if errors.Is(err, store.ErrNotFound) {
			u, err = nil, nil
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if m.sessionDead(s, now) || u == nil {
		// Best effort: PruneSessions removes whatever is left.
		_ = m.st.Update(ctx, func(t *store.Tx) error { t.DeleteSession(h); return nil })
		return nil, nil, ErrNoSession
	}
	if u.Disabled {
		return nil, nil, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchInterval {
		err := m.st.Update(ctx, func(t *store.Tx) error {
			cur, err := t.Session(h)
			if errors.Is(err, store.ErrNotFound) {
				return ErrNoSession // logged out meanwhile: do not resurrect it
			}
			if err != nil {
				return err
			}
			cur.LastSeenAt = now
			return t.PutSession(cur)
		})
		switch {
		case errors.Is(err, ErrNoSession):
			return nil, nil, ErrNoSession
		case err != nil:
			// Serving the request matters more than the timestamp; the
			// session just idles out sooner if writes keep failing.
			m.log.Warn("could not record session activity", zap.String("user", s.User), zap.Error(err))
		default:
			s.LastSeenAt = now
		}
	}
	return s, u, nil
}

func (m *Manager) sessionDead(s *Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= m.o.IdleTimeout
}

// Logout ends the session a cookie belongs to. Ending an unknown session is
// not an error.
func (m *Manager) Logout(ctx context.Context, cookie string) error {
	h, ok := cookieHash(cookie)
	if !ok {
		return nil
	}
	return m.st.Update(ctx, func(t *store.Tx) error {
		t.DeleteSession(h)
		return nil
	})
}

// RevokeSessions ends all of a user's sessions and returns how many there
// were.
func (m *Manager) RevokeSessions(ctx context.Context, name string) (int, error) {
	var n int
	err := m.st.Update(ctx, func(t *store.Tx) error {
		var err error
		n, err = t.DeleteSessions(name)
		return err
	})
	return n, err
}

// PruneSessions deletes expired and idle sessions, and sessions whose user
// is gone, and returns how many it deleted. Run it periodically.
func (m *Manager) PruneSessions(ctx context.Context) (int, error) {
	now := m.now()
	var n int
	err := m.st.Update(ctx, func(t *store.Tx) error {
		n = 0
		ss, err := t.Sessions("")
		if err != nil {
			return err
		}
		for _, s := range ss {
			gone := false
			if _, err := t.User(s.User); errors.Is(err, store.ErrNotFound) {
				gone = true
			} else if err != nil {
				return err
			}
			if gone || m.sessionDead(s, now) {
				t.DeleteSession(s.Hash)
				n++
			}
		}
		return nil
	})
	return n, err
}

// CSRFOK reports, in constant time, whether provided is the session's CSRF
// token.
func CSRFOK(s *Session, provided string) bool {
	if s == nil || s.CSRF == "" || provided == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(provided)) == 1
}
