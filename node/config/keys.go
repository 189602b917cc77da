package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/vigil-network/vigil/protocol"
)

// WriteFileAtomic writes data to path via a synced temporary file and a
// rename, so a crash leaves either the old file or the new one, never a
// torn one. The directory is synced so the rename itself is durable.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CreateSecret writes a secret file (mode 0600) only if none exists, so
// re-running init never replaces a node's keys. It reports whether it
// created the file.
func CreateSecret(path string, data []byte) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	return true, WriteFileAtomic(path, data, 0o600)
}

// ReadSecret reads a key or token file, refusing one that others can read.
func ReadSecret(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read key %s: mode %o lets others read it; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	return b, nil
}

// EnsureIdentityKey creates the Ed25519 identity key if missing.
func EnsureIdentityKey(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generate identity key: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return false, fmt.Errorf("encode identity key: %w", err)
	}
	return CreateSecret(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"))
}

// LoadIdentityKey reads the node's Ed25519 identity key.
func LoadIdentityKey(path string) (crypto.PrivKey, error) {
	b, err := ReadSecret(path)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity key %s: want Ed25519, got %s", path, k.Type())
	}
	return k, nil
}

// EnsureEncryptionKey creates the X25519 payload key if missing.
func EnsureEncryptionKey(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	k, err := protocol.GenerateEncryptionKey()
	if err != nil {
		return false, err
	}
	return CreateSecret(path, []byte(base64.StdEncoding.EncodeToString(k.Private[:])+"\n"))
}

// LoadEncryptionKey reads the node's X25519 payload key.
func LoadEncryptionKey(path string) (protocol.EncryptionKey, error) {
	b, err := ReadSecret(path)
	if err != nil {
		return protocol.EncryptionKey{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return protocol.EncryptionKey{}, fmt.Errorf("encryption key %s: %w", path, err)
	}
	k, err := protocol.EncryptionKeyFromPrivate(raw)
	if err != nil {
		return protocol.EncryptionKey{}, fmt.Errorf("encryption key %s: %w", path, err)
	}
	return k, nil
}

// EnsureToken creates an API bearer token file if missing and returns the
// token.
func EnsureToken(path string) (string, error) {
	if b, err := ReadSecret(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	tok := "vgl_" + base64.RawURLEncoding.EncodeToString(r[:])
	if _, err := CreateSecret(path, []byte(tok+"\n")); err != nil {
		return "", err
	}
	return tok, nil
}
