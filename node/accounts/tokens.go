package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// TokenPrefix starts every API token, so leaked tokens are easy to spot
// (secret scanners, logs) and to tell from other credentials.
const TokenPrefix = "vgt_"

// CreateToken issues an API token for a user. The raw token is returned
// once and only its SHA-256 is stored: it cannot be shown again. name is a
// label for the user (1-64 printable characters).
func (m *Manager) CreateToken(ctx context.Context, user, name string) (string, *Token, error) {
	name = strings.TrimSpace(name)
	if !validTokenName(name) {
		return "", nil, ErrBadTokenName
	}
	raw := TokenPrefix + randomToken()
	now := m.now()
	var tok *Token
	err := m.st.Update(ctx, func(t *store.Tx) error {
		u, err := t.User(user)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if u.Disabled {
			return ErrDisabled
		}
		id, err := newTokenID(t)
		if err != nil {
			return err
		}
		tok = &Token{ID: id, User: user, Name: name, Hash: sha256Hex(raw), CreatedAt: now}
		return t.PutToken(tok)
	})
	if err != nil {
		return "", nil, err
	}
	m.log.Info("API token created", zap.String("user", user), zap.String("token_id", tok.ID))
	return raw, tok, nil
}

// newTokenID picks an unused random token ID (16 hex digits). The ID is
// not a secret; it names the token in lists and audit records.
func newTokenID(t *store.Tx) (string, error) {
	for range 8 {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		if _, err := t.Token(id); errors.Is(err, store.ErrNotFound) {
			return id, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", errors.New("could not pick an unused token ID")
}

func validTokenName(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Authenticate finds the user an API token belongs to. It returns
// ErrNoToken for an unknown or revoked token (or one whose user is gone)
// and ErrDisabled if the user is disabled.
//
// The lookup is by SHA-256 of the token, so no comparison involves the raw
// token and timing reveals nothing useful about it.
func (m *Manager) Authenticate(ctx context.Context, raw string) (*User, *Token, error) {
	raw = strings.TrimSpace(raw)
	body, ok := strings.CutPrefix(raw, TokenPrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(32) {
		return nil, nil, ErrNoToken
	}
	h := sha256Hex(raw)
	now := m.now()
	var (
		tok *Token
		u   *User
	)
	err := m.st.View(func(r *store.ReadTx) error {
		var err error
		if tok, err = r.TokenByHash(h); err != nil {
			return err
		}
		u, err = r.User(tok.User)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoToken
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, ErrDisabled
	}
	if now.Sub(tok.LastUsedAt) >= touchInterval {
		err := m.st.Update(ctx, func(t *store.Tx) error {
			cur, err := t.Token(tok.ID)
			if errors.Is(err, store.ErrNotFound) {
				return ErrNoToken // revoked meanwhile: do not resurrect it
			}
			if err != nil {
				return err
			}
			cur.LastUsedAt = now
			return t.PutToken(cur)
		})
		switch {
		case errors.Is(err, ErrNoToken):
			return nil, nil, ErrNoToken
		case err != nil:
			m.log.Warn("could not record token use", zap.String("token_id", tok.ID), zap.Error(err))
		default:
			tok.LastUsedAt = now
		}
	}
	return u, tok, nil
}

// Tokens lists a user's tokens; an empty user lists every token.
func (m *Manager) Tokens(user string) ([]*Token, error) {
	var out []*Token
	err := m.st.View(func(r *store.ReadTx) error {
		var err error
		out, err = r.Tokens(user)
		return err
	})
	return out, err
}

// RevokeToken deletes a token of user's. A token of another user is
// ErrNoToken, as is an unknown one; the caller decides whose tokens a
// requester may revoke (their own, or anyone's for an admin) and passes the
// owner.
func (m *Manager) RevokeToken(ctx context.Context, user, id string) error {
	err := m.st.Update(ctx, func(t *store.Tx) error {
		tok, err := t.Token(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && tok.User != user) {
			return ErrNoToken
		}
		if err != nil {
			return err
		}
		return t.DeleteToken(id)
	})
	if err == nil {
		m.log.Info("API token revoked", zap.String("user", user), zap.String("token_id", id))
	}
	return err
}
