package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// NewID returns a random, time-ordered identifier (UUIDv7 layout) as 32 hex
// characters. Time ordering keeps store scans in creation order.
func NewID(now time.Time) string {
	var bits [10]byte
	if _, err := rand.Read(bits[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
	}
	return IDFrom(now, bits)
}

// IDFrom is an ID in NewID's layout with the caller's bits in place of
// the random ones (all but the six that mark UUIDv7): the same time and
// bits give the same ID, for IDs that must be derived, not drawn.
func IDFrom(at time.Time, bits [10]byte) string {
	var b [16]byte
	ms := uint64(at.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	copy(b[6:], bits[:])
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s is an ID as NewID makes them: 32 lower-case
// hex characters. IDs are canonical: the upper-case spelling of an ID is
// not another ID, and not accepted as this one either.
func ValidID(s string) bool { return IDProblem(s) == "" }

// IDProblem says what is wrong with s as an ID, or "" if nothing is, for
// a field error.
func IDProblem(s string) string {
	if len(s) != 32 {
		return fmt.Sprintf("must be 32 lower-case hex characters, not %d characters", len(s))
	}
	upper := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return "must be 32 lower-case hex characters"
		}
	}
	if upper {
		return "must be lower-case hex: IDs are canonical, write " + strings.ToLower(s)
	}
	return ""
}
