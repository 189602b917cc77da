package store

import (
	"fmt"
	"net/url"
	"time"
)

// Idempotency records a request submitted with an Idempotency-Key (issue
// 13): a caller whose call timed out sends the same key again and gets the
// original submission back instead of a second request. The record is
// written in the same transaction as the case, its outbox message and the
// audit record, so a crash never leaves one without the other.
//
// Keys are scoped by the actor who submitted (a user and all of that
// user's tokens and sessions share one scope): two users using the same
// key never see each other's request.
//
// Records are kept for a retention window the caller chooses (node/cases:
// 24 hours): an older record is treated as absent and overwritten, and
// DeleteIdempotencyBefore removes expired ones in a periodic sweep. A TTL
// on the Badger entry is not used: the store's journal (durability.go)
// replays plain sets on Open and would drop it, and the sweep runs on the
// node's own clock, which tests can move.
type Idempotency struct {
	Actor string `json:"actor"`
	Key   string `json:"key"`
	// BodyHash is the hex SHA-256 of the request body as received: the
	// same key with a different body is refused, not replayed.
	BodyHash  string    `json:"body_hash"`
	CaseID    string    `json:"case_id"`
	MessageID string    `json:"message_id"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 128

// ValidIdempotencyKey reports whether k is 1 to MaxIdempotencyKey
// printable ASCII characters, without spaces or control characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// idemKey is "idem/<actor>/<key>"; the actor is path-escaped so that a
// slash in it cannot make two (actor, key) pairs share a record.
func idemKey(actor, key string) string { return "idem/" + url.PathEscape(actor) + "/" + key }

// Idempotency returns actor's record for key (ErrNotFound if none),
// whatever its age: the caller judges expiry.
func (r *ReadTx) Idempotency(actor, key string) (*Idempotency, error) {
	var rec Idempotency
	if err := r.getRecord(idemKey(actor, key), &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Idempotency reads actor's record for key through the transaction's
// pending writes; see ReadTx.Idempotency.
func (t *Tx) Idempotency(actor, key string) (*Idempotency, error) {
	var rec Idempotency
	if err := t.getRecord(idemKey(actor, key), &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// PutIdempotency stores or replaces an idempotency record.
func (t *Tx) PutIdempotency(rec *Idempotency) error {
	if !ValidIdempotencyKey(rec.Key) {
		return fmt.Errorf("idempotency key %q is not 1-%d printable ASCII characters", rec.Key, MaxIdempotencyKey)
	}
	return t.setRecord(idemKey(rec.Actor, rec.Key), rec)
}

// DeleteIdempotencyBefore deletes up to limit records created before
// cutoff (all of them if limit <= 0) and returns how many it deleted. The
// records are few (one per keyed submission within the retention window),
// so it scans them all.
func (t *Tx) DeleteIdempotencyBefore(cutoff time.Time, limit int) (int, error) {
	var old []string
	err := t.scan("idem/", false, func(k string, v []byte) (bool, error) {
		var rec Idempotency
		if err := decodeRecord(v, &rec); err != nil {
			return false, fmt.Errorf("decode idempotency record %s: %w", k, err)
		}
		if rec.CreatedAt.Before(cutoff) {
			old = append(old, k)
		}
		return limit <= 0 || len(old) < limit, nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		t.del(k)
	}
	return len(old), nil
}
