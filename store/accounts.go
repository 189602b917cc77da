package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is a console or API user of the node. Package node/accounts owns the
// rules (roles, password policy, lockout); the store only keeps the record.
//
// PasswordHash and TOTPSecret are secrets: never send a User to a client or
// a log as it is (accounts.Info gives a safe view).
type User struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	PasswordHash  string `json:"password_hash"` // PHC string, e.g. $argon2id$v=19$...
	TOTPSecret    string `json:"totp_secret,omitempty"`
	TOTPEnabled   bool   `json:"totp_enabled,omitempty"`
	TOTPLastStep  int64  `json:"totp_last_step,omitempty"` // last accepted TOTP time step (replay guard)
	ContentAccess bool   `json:"content_access,omitempty"`
	Disabled      bool   `json:"disabled,omitempty"`
	// FailedLogins counts consecutive failed logins since the last success
	// or lockout.
	FailedLogins int       `json:"failed_logins,omitempty"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Token is an API token. Only the SHA-256 of the raw token is kept.
type Token struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	Hash       string    `json:"hash"` // hex SHA-256 of the raw token
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Session is a console login. It is keyed by the hex SHA-256 of the
// session cookie; the cookie itself is never stored.
type Session struct {
	Hash       string    `json:"hash"`
	User       string    `json:"user"`
	CSRF       string    `json:"csrf"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
}

const (
	userPrefix      = "user/"
	tokenPrefix     = "token/"
	tokenHashPrefix = "tokenhash/"
	sessionPrefix   = "session/"
)

// checkKeyPart refuses an empty identifier or one that could reach into
// another record's key space.
func checkKeyPart(kind, s string) error {
	if s == "" || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("invalid %s %q", kind, s)
	}
	return nil
}

func userKey(name string) string    { return userPrefix + name }
func tokenKey(id string) string     { return tokenPrefix + id }
func tokenHashKey(h string) string  { return tokenHashPrefix + h }
func sessionKey(hash string) string { return sessionPrefix + hash }
func decodeErr(kind string, err error) error {
	return fmt.Errorf("decode %s: %w", kind, err)
}

// ---- users ----

// User returns a user by name, or ErrNotFound.
func (r *ReadTx) User(name string) (*User, error) {
	if checkKeyPart("user name", name) != nil {
		return nil, ErrNotFound
	}
	var u User
	if err := r.getRecord(userKey(name), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// User reads through the transaction's pending writes.
func (t *Tx) User(name string) (*User, error) {
	if checkKeyPart("user name", name) != nil {
		return nil, ErrNotFound
	}
	var u User
	if err := t.getRecord(userKey(name), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Users lists all users by name. Like every scan it sees committed state
// only, not a transaction's own pending writes.
func (r *ReadTx) Users() ([]*User, error) {
	var out []*User
	err := r.scan(userPrefix, false, func(_ string, v []byte) (bool, error) {
		var u User
		if err := decodeRecord(v, &u); err != nil {
			return false, decodeErr("user", err)
		}
		out = append(out, &u)
		return true, nil
	})
	return out, err
}

// PutUser stores a user.
func (t *Tx) PutUser(u *User) error {
	if err := checkKeyPart("user name", u.Name); err != nil {
		return err
	}
	return t.setRecord(userKey(u.Name), u)
}

// DeleteUser removes a user together with all their tokens and sessions,
// so nothing can authenticate as the name afterwards. Deleting a missing
// user is not an error.
func (t *Tx) DeleteUser(name string) error {
	if err := checkKeyPart("user name", name); err != nil {
		return err
	}
	toks, err := t.Tokens(name)
	if err != nil {
		return err
	}
	for _, tok := range toks {
		if err := t.DeleteToken(tok.ID); err != nil {
			return err
		}
	}
	if _, err := t.DeleteSessions(name); err != nil {
		return err
	}
	t.del(userKey(name))
	return nil
}

// ---- tokens ----

// Token returns a token by ID, or ErrNotFound.
func (r *ReadTx) Token(id string) (*Token, error) {
	if checkKeyPart("token ID", id) != nil {
		return nil, ErrNotFound
	}
	var tok Token
	if err := r.getRecord(tokenKey(id), &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// Token reads through the transaction's pending writes.
func (t *Tx) Token(id string) (*Token, error) {
	if checkKeyPart("token ID", id) != nil {
		return nil, ErrNotFound
	}
	var tok Token
	if err := t.getRecord(tokenKey(id), &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// TokenByHash finds a token by the hex SHA-256 of its raw value, or
// returns ErrNotFound.
func (r *ReadTx) TokenByHash(hash string) (*Token, error) {
	if checkKeyPart("token hash", hash) != nil {
		return nil, ErrNotFound
	}
	id, err := r.get(tokenHashKey(hash))
	if err != nil {
		return nil, err
	}
	return r.Token(string(id))
}

// Tokens lists a user's tokens by ID; an empty user lists every token.
func (r *ReadTx) Tokens(user string) ([]*Token, error) {
	var out []*Token
	err := r.scan(tokenPrefix, false, func(_ string, v []byte) (bool, error) {
		var tok Token
		if err := decodeRecord(v, &tok); err != nil {
			return false, decodeErr("token", err)
		}
		if user == "" || tok.User == user {
			out = append(out, &tok)
		}
		return true, nil
	})
	return out, err
}

// PutToken stores a token and its hash index. A token's hash must not
// change once stored.
func (t *Tx) PutToken(tok *Token) error {
	if err := checkKeyPart("token ID", tok.ID); err != nil {
		return err
	}
	if err := checkKeyPart("token hash", tok.Hash); err != nil {
		return err
	}
	if err := checkKeyPart("token user", tok.User); err != nil {
		return err
	}
	old, err := t.get(tokenHashKey(tok.Hash))
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case string(old) != tok.ID:
		return fmt.Errorf("token hash already belongs to token %s", old)
	}
	if err := t.setRecord(tokenKey(tok.ID), tok); err != nil {
		return err
	}
	t.set(tokenHashKey(tok.Hash), []byte(tok.ID))
	return nil
}

// DeleteToken removes a token and its hash index. Deleting a missing token
// is not an error.
func (t *Tx) DeleteToken(id string) error {
	tok, err := t.Token(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	t.del(tokenKey(id))
	t.del(tokenHashKey(tok.Hash))
	return nil
}

// ---- sessions ----

// Session returns a session by the hex SHA-256 of its cookie, or
// ErrNotFound.
func (r *ReadTx) Session(hash string) (*Session, error) {
	if checkKeyPart("session hash", hash) != nil {
		return nil, ErrNotFound
	}
	var s Session
	if err := r.getRecord(sessionKey(hash), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Session reads through the transaction's pending writes.
func (t *Tx) Session(hash string) (*Session, error) {
	if checkKeyPart("session hash", hash) != nil {
		return nil, ErrNotFound
	}
	var s Session
	if err := t.getRecord(sessionKey(hash), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Sessions lists a user's sessions; an empty user lists every session.
func (r *ReadTx) Sessions(user string) ([]*Session, error) {
	var out []*Session
	err := r.scan(sessionPrefix, false, func(_ string, v []byte) (bool, error) {
		var s Session
		if err := decodeRecord(v, &s); err != nil {
			return false, decodeErr("session", err)
		}
		if user == "" || s.User == user {
			out = append(out, &s)
		}
		return true, nil
	})
	return out, err
}

// PutSession stores a session.
func (t *Tx) PutSession(s *Session) error {
	if err := checkKeyPart("session hash", s.Hash); err != nil {
		return err
	}
	if err := checkKeyPart("session user", s.User); err != nil {
		return err
	}
	return t.setRecord(sessionKey(s.Hash), s)
}

// DeleteSession removes a session. Deleting a missing session is not an
// error.
func (t *Tx) DeleteSession(hash string) {
	if checkKeyPart("session hash", hash) == nil {
		t.del(sessionKey(hash))
	}
}

// DeleteSessions removes all of a user's sessions and returns how many
// there were.
func (t *Tx) DeleteSessions(user string) (int, error) {
	if err := checkKeyPart("session user", user); err != nil {
		return 0, err
	}
	ss, err := t.Sessions(user)
	if err != nil {
		return 0, err
	}
	for _, s := range ss {
		t.del(sessionKey(s.Hash))
	}
	return len(ss), nil
}

// CountUnknownLogin counts a failed login for a user name that does not
// exist and returns the new total. Besides being a statistic, the write
// makes such a failure cost the same commit as one for a real user (whose
// failure counter is written), so response times do not tell which names
// exist.
func (t *Tx) CountUnknownLogin() (uint64, error) { return t.nextSeq("login_unknown_user") }

// UnknownLogins returns how many failed logins named a user that does not
// exist.
func (r *ReadTx) UnknownLogins() (uint64, error) {
	b, err := r.get("meta/seq/login_unknown_user")
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, errors.New("counter login_unknown_user is corrupt")
	}
	return binary.BigEndian.Uint64(b), nil
}
