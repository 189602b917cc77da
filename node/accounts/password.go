package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Password policy (NIST SP 800-63B §3.1.1.2): a minimum length, a maximum
// generous enough for passphrases, no reuse of the user name and no other
// composition rules.
const (
	MinPasswordLen = 12   // characters, after NFKC normalisation
	MaxPasswordLen = 1024 // bytes; bounds hashing work for hostile input
)

// Password policy errors; each also matches ErrWeakPassword.
var (
	ErrWeakPassword     = errors.New("password does not meet the policy")
	ErrPasswordTooShort = fmt.Errorf("%w: it must be at least %d characters", ErrWeakPassword, MinPasswordLen)
	ErrPasswordTooLong  = fmt.Errorf("%w: it must be at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	ErrPasswordIsName   = fmt.Errorf("%w: it must not be the user name", ErrWeakPassword)
	ErrPasswordInvalid  = fmt.Errorf("%w: it is not valid UTF-8", ErrWeakPassword)
)

// CheckPassword applies the password policy for the given user name.
func CheckPassword(name, password string) error {
	if len(password) > MaxPasswordLen {
		return ErrPasswordTooLong
	}
	if !utf8.ValidString(password) {
		return ErrPasswordInvalid
	}
	p := normalize(password)
	if utf8.RuneCountInString(p) < MinPasswordLen {
		return ErrPasswordTooShort
	}
	if strings.EqualFold(strings.TrimSpace(p), name) {
		return ErrPasswordIsName
	}
	return nil
}

// normalize applies NFKC, as NIST SP 800-63B asks, so the same password
// typed on different keyboards or systems hashes the same.
func normalize(password string) string { return norm.NFKC.String(password) }

// hashParams are Argon2id parameters.
type hashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen int
	KeyLen  int
}

// defaultHashParams is the OWASP Password Storage Cheat Sheet's first
// Argon2id configuration: m=19 MiB, t=2, p=1. It costs tens of
// milliseconds per login on a server core, which is negligible for a
// handful of operators but makes offline guessing against a stolen store
// expensive. More memory (e.g. 46 MiB, t=1) is equally acceptable; 19 MiB
// keeps a burst of concurrent logins within a small VM's memory. The
// parameters are written into every hash, so they can be raised later:
// old hashes still verify and are re-hashed at the user's next login.
var defaultHashParams = hashParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds for parameters read back from a stored hash, so a corrupt or
// tampered record cannot make a login allocate gigabytes or spin forever.
const (
	maxHashMemory = 1 << 20 // KiB (1 GiB)
	maxHashTime   = 64
	minSaltLen    = 8
	minKeyLen     = 16
	maxKeyLen     = 128
)

var b64 = base64.RawStdEncoding // PHC strings use unpadded standard base64

// hashPassword returns the PHC string
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>.
func hashPassword(password string, p hashParams) string {
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand crashes the program instead)
	key := argon2.IDKey([]byte(normalize(password)), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodedHash is a parsed PHC string.
type decodedHash struct {
	params hashParams
	salt   []byte
	key    []byte
}

var errBadHash = errors.New("malformed password hash")

// parseHash parses an argon2id PHC string, checking its parameters are
// within sane bounds.
func parseHash(phc string) (*decodedHash, error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: unsupported version %q", errBadHash, parts[2])
	}
	var d decodedHash
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return nil, errBadHash
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errBadHash
		}
		switch k {
		case "m":
			d.params.Memory = uint32(n)
		case "t":
			d.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return nil, errBadHash
			}
			d.params.Threads = uint8(n)
		default:
			return nil, errBadHash
		}
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return nil, errBadHash
	}
	p := d.params
	if p.Time < 1 || p.Time > maxHashTime || p.Threads < 1 ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory {
		return nil, fmt.Errorf("%w: parameters out of range", errBadHash)
	}
	var err error
	if d.salt, err = b64.DecodeString(parts[4]); err != nil || len(d.salt) < minSaltLen {
		return nil, fmt.Errorf("%w: salt", errBadHash)
	}
	if d.key, err = b64.DecodeString(parts[5]); err != nil || len(d.key) < minKeyLen || len(d.key) > maxKeyLen {
		return nil, fmt.Errorf("%w: hash", errBadHash)
	}
	d.params.SaltLen, d.params.KeyLen = len(d.salt), len(d.key)
	return &d, nil
}

// verifyPassword reports whether password matches the PHC string, comparing
// in constant time, and whether the hash is weaker than want and should be
// replaced.
func verifyPassword(phc, password string, want hashParams) (ok, rehash bool, err error) {
	d, err := parseHash(phc)
	if err != nil {
		return false, false, err
	}
	p := d.params
	key := argon2.IDKey([]byte(normalize(password)), d.salt, p.Time, p.Memory, p.Threads, uint32(len(d.key)))
	ok = subtle.ConstantTimeCompare(key, d.key) == 1
	rehash = p.Memory < want.Memory || p.Time < want.Time || len(d.salt) < want.SaltLen || len(d.key) < want.KeyLen
	return ok, rehash, nil
}
