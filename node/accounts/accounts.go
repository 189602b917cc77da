// Package accounts manages console users, passwords, sessions, API tokens
// and second factors for a Vigil node.
//
// Records live in the node's store (store.User, store.Token,
// store.Session); every change goes through store.Update, so it is on disk
// before a method returns. Secrets are kept only in derived form: passwords
// as Argon2id hashes, session cookies and API tokens as SHA-256 digests.
// TOTP secrets must be usable, so they are sealed with a node key
// (Options.SecretKey, secrets.go) rather than hashed. No account and no password exists until
// an administrator creates one; there are no defaults.
//
// Nothing in this package logs a password, cookie, token or TOTP secret or
// code, and callers must not either. The records returned carry the
// password hash and TOTP secret: show clients Info and TokenInfoOf instead.
//
// It is one package of about 1,700 lines because users, sessions, tokens,
// second factors and the login backoff are one security boundary: every
// way in is checked in one place, against one store of records.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// The records are the store's; these aliases let callers stay within the
// package.
type (
	User    = store.User
	Token   = store.Token
	Session = store.Session
)

// Errors returned by Manager. Login reports unknown users and wrong
// passwords alike as ErrBadCredentials.
var (
	ErrExists         = errors.New("user already exists")
	ErrNotFound       = errors.New("no such user")
	ErrBadName        = errors.New("user name must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
	ErrBadRole        = errors.New("unknown role")
	ErrLastAdmin      = errors.New("the node must keep at least one enabled admin")
	ErrBadCredentials = errors.New("wrong user name, password or code")
	ErrThrottled      = errors.New("too many login attempts; wait a minute")
	ErrTOTPRequired   = errors.New("one-time code required")
	ErrDisabled       = errors.New("account disabled")
	ErrNoSession      = errors.New("no valid session")
	ErrNoToken        = errors.New("unknown or revoked API token")
	ErrBadTokenName   = errors.New("token name must be 1-64 printable characters")
	ErrTOTPEnabled    = errors.New("two-factor authentication is already enabled")
	ErrTOTPNotStarted = errors.New("two-factor enrolment has not been started")
	ErrBadCode        = errors.New("wrong or expired one-time code")
)

// Options configures a Manager. Zero values take the defaults.
type Options struct {
	SessionTTL  time.Duration // absolute session lifetime; default 12h
	IdleTimeout time.Duration // session ends after this long unused; default 30m
	// MaxFailures is how many consecutive failed logins for an account
	// (from any source) raise OnLockout; default 5. Nothing is locked:
	// failures slow down the source that failed (backoff.go).
	MaxFailures int
	// MaxBackoff is the longest a source waits between failed logins for
	// one account; default 5m.
	MaxBackoff time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnLockout is called once each time an account reaches MaxFailures
	// consecutive failed logins, after the count is on disk (e.g. to raise
	// an alert). It must not block long.
	OnLockout func(user, remote string)

	// LoginsPerMinute is the rate of logins for names that are no account
	// allowed per remote address (IPv4 address or IPv6 /64), with an equal
	// burst; default 10. Real accounts are never held by it.
	LoginsPerMinute int
	// MaxTracked bounds how many remote addresses and how many (address,
	// account) pairs the login throttle remembers (least recently used are
	// forgotten); default 10000 each.
	MaxTracked int
	// MaxConcurrentHashes bounds simultaneous password hashes, each of
	// which holds 19 MiB, so a login flood cannot exhaust memory; default 4.
	MaxConcurrentHashes int
	// SecretKey (32 bytes, SecretKeyFrom) seals TOTP secrets in the store;
	// nil stores them in clear, relying on the store's encryption.
	SecretKey []byte
	// TOTPIssuer names the node in authenticator apps; default "Vigil".
	TOTPIssuer string
	// Logger receives security events (lockouts, throttling); default none.
	Logger *zap.Logger

	// hashParams overrides the Argon2id parameters. Tests only: production
	// always uses defaultHashParams.
	hashParams *hashParams
}

// Manager manages accounts. It is safe for concurrent use.
type Manager struct {
	st      *store.Store
	o       Options
	params  hashParams
	hashSem chan struct{}
	dummy   string // hash verified for unknown users, to equalise timing
	// unknownLim throttles names that are no account, per address;
	// backoff slows failures for real accounts per (address, account).
	// Kept apart, junk names never hold a real user.
	unknownLim *limiterSet
	backoff    *backoffSet
	log        *zap.Logger

	// dummyOnce computes dummy on first use: an argon2id hash costs 19 MiB
	// and tens of ms, too much at the start of each of 193 testnet nodes.
	dummyOnce sync.Once
}

// New returns a Manager over st.
func New(st *store.Store, o Options) *Manager {
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LoginsPerMinute <= 0 {
		o.LoginsPerMinute = 10
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = 10000
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = 4
	}
	if o.TOTPIssuer == "" {
		o.TOTPIssuer = "Vigil"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	p := defaultHashParams
	if o.hashParams != nil {
		p = *o.hashParams
	}
	m := &Manager{
		st:         st,
		o:          o,
		params:     p,
		hashSem:    make(chan struct{}, o.MaxConcurrentHashes),
		unknownLim: newLimiterSet(o.LoginsPerMinute, o.LoginsPerMinute, o.MaxTracked),
		backoff:    newBackoffSet(o.MaxBackoff, o.MaxTracked),
		log:        o.Logger.Named("accounts"),
	}
	return m
}

// dummyHash is the hash verified for unknown users.
func (m *Manager) dummyHash() string {
	m.dummyOnce.Do(func() { m.dummy = hashPassword(randomToken(), m.params) })
	return m.dummy
}

func (m *Manager) now() time.Time { return m.o.Now().UTC() }

// hash hashes a password, waiting for a hashing slot.
func (m *Manager) hash(ctx context.Context, password string) (string, error) {
	if err := m.acquire(ctx); err != nil {
		return "", err
	}
	defer m.release()
	return hashPassword(password, m.params), nil
}

// verify checks a password against a stored hash, waiting for a hashing
// slot. A malformed stored hash verifies nothing but still costs a hash.
func (m *Manager) verify(ctx context.Context, phc, password string) (ok, rehash bool, err error) {
	if err := m.acquire(ctx); err != nil {
		return false, false, err
	}
	defer m.release()
	ok, rehash, err = verifyPassword(phc, password, m.params)
	if err != nil {
		m.log.Error("stored password hash is unusable; the user needs a new password", zap.Error(err))
		_, _, _ = verifyPassword(m.dummyHash(), password, m.params)
		return false, false, nil
	}
	return ok, rehash, nil
}

func (m *Manager) acquire(ctx context.Context) error {
	select {
	case m.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) release() { <-m.hashSem }

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// CheckName checks a user name: 2-64 characters of a-z, 0-9, '.', '_', '-'.
func CheckName(name string) error {
	if len(name) < 2 || len(name) > 64 {
		return ErrBadName
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return ErrBadName
		}
	}
	return nil
}

// UserInfo is the part of a user that may be shown to clients.
type UserInfo struct {
	Name          string    `json:"name"`
	Role          Role      `json:"role"`
	ContentAccess bool      `json:"content_access"`
	Disabled      bool      `json:"disabled"`
	TOTPEnabled   bool      `json:"totp_enabled"`
	FailedLogins  int       `json:"failed_logins"`
	LockedUntil   time.Time `json:"locked_until,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Info returns what may be shown of u: everything but its secrets.
func Info(u *User) UserInfo {
	return UserInfo{Name: u.Name, Role: Role(u.Role), ContentAccess: u.ContentAccess, Disabled: u.Disabled,
		TOTPEnabled: u.TOTPEnabled, FailedLogins: u.FailedLogins, LockedUntil: u.LockedUntil,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// TokenInfo is the part of a token that may be shown to clients.
type TokenInfo struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// TokenInfoOf returns what may be shown of t.
func TokenInfoOf(t *Token) TokenInfo {
	return TokenInfo{ID: t.ID, User: t.User, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}

// ---- user management ----

// AddUser creates a user. The name must pass CheckName and be unused
// (ErrExists), the password must pass CheckPassword.
func (m *Manager) AddUser(ctx context.Context, name string, role Role, password string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if !role.Valid() {
		return fmt.Errorf("%w: %q", ErrBadRole, role)
	}
	if err := CheckPassword(name, password); err != nil {
		return err
	}
	// Refuse a taken name before paying for a hash; checked again below.
	if _, err := m.User(name); err == nil {
		return ErrExists
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	h, err := m.hash(ctx, password)
	if err != nil {
		return err
	}
	now := m.now()
	return m.st.Update(ctx, func(t *store.Tx) error {
		if _, err := t.User(name); err == nil {
			return ErrExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return t.PutUser(&User{Name: name, Role: string(role), PasswordHash: h, CreatedAt: now, UpdatedAt: now})
	})
}

// User returns a user, or ErrNotFound.
func (m *Manager) User(name string) (*User, error) {
	var u *User
	err := m.st.View(func(r *store.ReadTx) error {
		var err error
		u, err = r.User(name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return u, err
}

// Users lists all users by name.
func (m *Manager) Users() ([]*User, error) {
	var us []*User
	err := m.st.View(func(r *store.ReadTx) error {
		var err error
		us, err = r.Users()
		return err
	})
	return us, err
}

// modifyUser applies fn to a user inside one durable write.
func (m *Manager) modifyUser(ctx context.Context, name string, fn func(t *store.Tx, u *User) error) error {
	now := m.now()
	return m.st.Update(ctx, func(t *store.Tx) error {
		u, err := t.User(name)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := fn(t, u); err != nil {
			return err
		}
		u.UpdatedAt = now
		return t.PutUser(u)
	})
}

// keepsAdmin refuses a change that would leave the node without an enabled
// admin: u is about to stop being one.
func keepsAdmin(t *store.Tx, u *User) error {
	if Role(u.Role) != RoleAdmin || u.Disabled {
		return nil // not an enabled admin now; nothing is lost
	}
	us, err := t.Users()
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.Name != u.Name && Role(o.Role) == RoleAdmin && !o.Disabled {
			return nil
		}
	}
	return ErrLastAdmin
}

// SetPassword replaces a user's password, clears any lockout and ends all
// the user's sessions (tokens stay valid).
func (m *Manager) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(name, password); err != nil {
		return err
	}
	if _, err := m.User(name); err != nil {
		return err
	}
	h, err := m.hash(ctx, password)
	if err != nil {
		return err
	}
	err = m.modifyUser(ctx, name, func(t *store.Tx, u *User) error {
		u.PasswordHash = h
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
		_, err := t.DeleteSessions(name)
		return err
	})
	if err == nil {
		m.backoff.forget(name) // a new password starts afresh
	}
	return err
}

// SetRole changes a user's role. It refuses to demote the last enabled
// admin (ErrLastAdmin).
func (m *Manager) SetRole(ctx context.Context, name string, role Role) error {
	if !role.Valid() {
		return fmt.Errorf("%w: %q", ErrBadRole, role)
	}
	return m.modifyUser(ctx, name, func(t *store.Tx, u *User) error {
		if role != RoleAdmin {
			if err := keepsAdmin(t, u); err != nil {
				return err
			}
		}
		u.Role = string(role)
		return nil
	})
}

// SetContentAccess sets whether an auditor may read request contents. It
// is stored for any role but only changes what auditors may do.
func (m *Manager) SetContentAccess(ctx context.Context, name string, on bool) error {
	return m.modifyUser(ctx, name, func(_ *store.Tx, u *User) error {
		u.ContentAccess = on
		return nil
	})
}

// SetDisabled disables or re-enables a user. Disabling ends the user's
// sessions and makes their tokens refuse (ErrDisabled) until re-enabled; it
// refuses to disable the last enabled admin (ErrLastAdmin).
func (m *Manager) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return m.modifyUser(ctx, name, func(t *store.Tx, u *User) error {
		if disabled {
			if err := keepsAdmin(t, u); err != nil {
				return err
			}
			if _, err := t.DeleteSessions(name); err != nil {
				return err
			}
		}
		u.Disabled = disabled
		return nil
	})
}

// Unlock clears the failed login count and the login backoff of every
// source for the user (and a lock left by an older version).
func (m *Manager) Unlock(ctx context.Context, name string) error {
	err := m.modifyUser(ctx, name, func(_ *store.Tx, u *User) error {
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
		return nil
	})
	if err == nil {
		m.backoff.forget(name)
	}
	return err
}

// DeleteUser deletes a user with all their tokens and sessions. It refuses
// to delete the last enabled admin (ErrLastAdmin).
func (m *Manager) DeleteUser(ctx context.Context, name string) error {
	return m.st.Update(ctx, func(t *store.Tx) error {
		u, err := t.User(name)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := keepsAdmin(t, u); err != nil {
			return err
		}
		return t.DeleteUser(name)
	})
}
