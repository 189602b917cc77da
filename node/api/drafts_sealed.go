package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"crypto/hkdf"
)

// DraftKeyFrom derives the key drafts are sealed with from a secret of the
// node's own (its identity key), so it stays when encryption keys rotate.
func DraftKeyFrom(nodeSecret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, nodeSecret, nil, "vigil/api/drafts/v1", 32)
}

// draftSealer seals drafts (request contents an operator is composing) so
// that they are not in clear in the store's files even without store
// encryption (issue 12). Each draft is bound to its owner and ID: a sealed
// draft copied under another key does not open.
type draftSealer struct{ aead cipher.AEAD }

func newDraftSealer(key []byte) (*draftSealer, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("draft key is %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("draft key: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("draft key: %w", err)
	}
	return &draftSealer{g}, nil
}

func draftAAD(owner, id string) []byte { return []byte("vigil/draft\x00" + owner + "\x00" + id) }

func (d *draftSealer) seal(owner, id string, doc []byte) (string, error) {
	nonce := make([]byte, d.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("draft nonce: %w", err)
	}
	return base64.StdEncoding.EncodeToString(d.aead.Seal(nonce, nonce, doc, draftAAD(owner, id))), nil
}

func (d *draftSealer) open(owner, id, sealed string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < d.aead.NonceSize() {
		return nil, fmt.Errorf("draft %s: sealed contents are malformed", id)
	}
	n := d.aead.NonceSize()
	doc, err := d.aead.Open(nil, raw[:n], raw[n:], draftAAD(owner, id))
	if err != nil {
		return nil, fmt.Errorf("draft %s does not open with this node's key", id)
	}
	return doc, nil
}
