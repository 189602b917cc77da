package accounts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// TOTP secrets must be usable, so they cannot be hashed. With a node key
// (Options.SecretKey) they are sealed with AES-256-GCM before they reach
// the store, bound to their user, so that they are not in clear in the
// store's files even without store encryption.

// sealedPrefix marks a sealed secret; a secret without it was stored in
// clear (before a node key, or without one) and is sealed on next use.
const sealedPrefix = "sealed1:"

// SecretKeyFrom derives the key that seals TOTP secrets from a node
// secret that does not change when keys are rotated (the identity key).
func SecretKeyFrom(nodeSecret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, nodeSecret, nil, "vigil/accounts/totp-secret/v1", 32)
}

func (m *Manager) aead() (cipher.AEAD, error) {
	if len(m.o.SecretKey) == 0 {
		return nil, nil
	}
	if len(m.o.SecretKey) != 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want 32", len(m.o.SecretKey))
	}
	b, err := aes.NewCipher(m.o.SecretKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealSecret returns secret as it is stored for user: sealed if the
// Manager has a key.
func (m *Manager) sealSecret(user, secret string) (string, error) {
	a, err := m.aead()
	if err != nil || a == nil || secret == "" {
		return secret, err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := a.Seal(nonce, nonce, []byte(secret), []byte(user))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

var errSealed = errors.New("sealed TOTP secret cannot be opened with this node's key")

// openSecret returns the secret stored for user, and whether it was
// stored in clear (and should be sealed now).
func (m *Manager) openSecret(user, stored string) (secret string, clear bool, err error) {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, stored != "", nil
	}
	a, err := m.aead()
	if err != nil {
		return "", false, err
	}
	if a == nil {
		return "", false, errSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < a.NonceSize() {
		return "", false, errSealed
	}
	pt, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(user))
	if err != nil {
		return "", false, errSealed
	}
	return string(pt), false, nil
}
