package cases

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// A submission under an Idempotency-Key that is a UUIDv7 (RFC 9562: the
// console and `vigil request send` make them) is sealed deterministically:
// its case and message IDs, its creation time and its nonce all follow
// from the actor, the key and the body, so sending the same body with the
// same key again seals to the same bytes.
//
// That is what lets Submit hand the message to its delivery worker while
// its own outbox commit syncs, one durable write off every request's path
// (issue 13, BENCHMARKS.md). A process crash in that window loses nothing
// (the journal record is in the page cache and is replayed). A power cut
// in it can leave the receiver holding a request the sender lost, and the
// operator, who never got a 201, sends it again with the same key: the
// retry is the same envelope, and the receiver answers it with the
// receipt it already signed, so both sides hold one request, the same
// one. A different body under the same key after such a cut gets another
// nonce, so another envelope under the same message ID, which the
// receiver refuses as reusing the ID: the operator is told, and nothing
// is silently merged.
//
// Any other key (or none) takes the ordinary path: IDs random, and the
// message sent only once its commit is durable.

// keyFutureSkew is how far ahead of this node's clock a key's time may
// be: a client's clock runs a little fast, but a key from the future
// would date the request after it was made.
const keyFutureSkew = time.Minute

// resubmittable is a deterministic submission's fixed parts.
type resubmittable struct {
	createdAt         time.Time
	messageID, caseID string
	seed              [32]byte // keys the nonce
}

// resubmission returns the fixed parts for a submission under key, or nil
// if the key is not a UUIDv7 whose time is within IdempotencyWindow
// before now (or keyFutureSkew after it), or this node keeps no secret to
// derive them with.
func (s *Service) resubmission(actor, key string, now time.Time) *resubmittable {
	if len(s.o.IdentifierKey) == 0 {
		return nil
	}
	at, ok := uuidV7Time(key)
	if !ok || at.Before(now.Add(-IdempotencyWindow)) || at.After(now.Add(keyFutureSkew)) {
		return nil
	}
	// A secret of its own, derived from the node's identifier key: the
	// IDs say nothing about the key to anyone else.
	root := hmacSum(s.o.IdentifierKey, []byte("vigil idempotent submission v1"))
	r := &resubmittable{createdAt: at}
	r.seed = hmacSum(root[:], []byte(actor), []byte{0}, []byte(key))
	r.messageID = derivedID(at, hmacSum(r.seed[:], []byte("message id")))
	r.caseID = derivedID(at, hmacSum(r.seed[:], []byte("case id")))
	return r
}

// nonce is the sealing nonce for one body to one recipient key: another
// body (or key) under the same Idempotency-Key gets another nonce, so one
// nonce never encrypts two plaintexts (protocol.Sealer.SealWithNonce).
func (r *resubmittable) nonce(bodyHash string, recipientEnc [32]byte) [24]byte {
	sum := hmacSum(r.seed[:], []byte("nonce"), []byte(bodyHash), recipientEnc[:])
	var n [24]byte
	copy(n[:], sum[:])
	return n
}

func hmacSum(key []byte, parts ...[]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// derivedID is a time-ordered ID (protocol.IDFrom, so case lists stay in
// creation order) with its other bits taken from sum.
func derivedID(at time.Time, sum [32]byte) string {
	var bits [10]byte
	copy(bits[:], sum[:])
	return protocol.IDFrom(at, bits)
}

// uuidV7Time is the time a UUIDv7 key carries (its first 48 bits, in Unix
// milliseconds), in the canonical 8-4-4-4-12 form or as 32 hex digits.
func uuidV7Time(key string) (time.Time, bool) {
	h := key
	if len(h) == 36 {
		if h[8] != '-' || h[13] != '-' || h[18] != '-' || h[23] != '-' {
			return time.Time{}, false
		}
		h = strings.ReplaceAll(h, "-", "")
	}
	if len(h) != 32 {
		return time.Time{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil || b[6]>>4 != 7 || b[8]>>6 != 2 {
		return time.Time{}, false
	}
	ms := int64(b[0])<<40 | int64(b[1])<<32 | int64(b[2])<<24 | int64(b[3])<<16 | int64(b[4])<<8 | int64(b[5])
	return time.UnixMilli(ms).UTC(), true
}
