package cases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Submission is the result of accepting a request: both IDs are durable.
type Submission struct {
	CaseID    string `json:"case_id"`
	MessageID string `json:"message_id"`
	// Replayed says the submission is an earlier one returned again for
	// the same idempotency key: nothing new was stored or queued.
	Replayed bool `json:"-"`
}

// IdempotencyWindow is how long an idempotency key is remembered (issue
// 13). A key first used longer ago than this may create a new request;
// the scheduler's sweep (PruneIdempotency) deletes older records.
const IdempotencyWindow = 24 * time.Hour

var (
	// ErrIdempotencyMismatch means an idempotency key was used before, by
	// the same actor within IdempotencyWindow, with a different request
	// body. The error Submit returns wraps it and names the key.
	ErrIdempotencyMismatch = errors.New("idempotency key was used for a different request")
	// ErrIdempotencyKey means the key is not 1-128 printable ASCII
	// characters (store.ValidIdempotencyKey).
	ErrIdempotencyKey = fmt.Errorf("idempotency key must be 1-%d printable ASCII characters without spaces", store.MaxIdempotencyKey)
)

// mismatchError is ErrIdempotencyMismatch naming the key and the case it
// stands for.
type mismatchError struct{ key, caseID string }

func (e *mismatchError) Error() string {
	return fmt.Sprintf("Idempotency-Key %q was used for a different request (case %s)", e.key, e.caseID)
}

func (e *mismatchError) Unwrap() error { return ErrIdempotencyMismatch }

// SubmitOption changes how Submit treats one request.
type SubmitOption func(*submitOptions)

type submitOptions struct {
	key string
}

// WithIdempotencyKey makes a submission idempotent under key, scoped by
// the submitting actor: submitting the same body with the same key again
// within IdempotencyWindow returns the original submission (Replayed set)
// and stores nothing; a different body with the key fails with
// ErrIdempotencyMismatch. An empty key is no key.
func WithIdempotencyKey(key string) SubmitOption {
	return func(o *submitOptions) { o.key = key }
}

// Submit validates a request document, seals it to the recipient and
// stores it in the outbox. It returns only once the message is durable,
// then wakes the peer's delivery worker. Validation failures come back as
// *protocol.ValidationError. With WithIdempotencyKey, the key's record is
// checked and written in the same store transaction as the case, so
// concurrent submissions with one key store exactly one case.
func (s *Service) Submit(ctx context.Context, actor string, doc []byte, opts ...SubmitOption) (*Submission, error) {
	var o submitOptions
	for _, f := range opts {
		f(&o)
	}
	var bodyHash string
	if o.key != "" {
		if !store.ValidIdempotencyKey(o.key) {
			return nil, ErrIdempotencyKey
		}
		sum := sha256.Sum256(doc)
		bodyHash = hex.EncodeToString(sum[:])
		// A retry of a stored submission is answered from a snapshot,
		// without validating or sealing again. The check that counts is
		// the one inside the write transaction below. A key not even
		// applied is not on disk either, so the first look need not wait
		// for a commit's sync; a record it finds may not be durable yet,
		// and is read again through View, which waits.
		var rec *store.Idempotency
		read := func(tx *store.ReadTx) error {
			var err error
			rec, err = tx.Idempotency(actor, o.key)
			return err
		}
		err := s.o.Store.ViewApplied(read)
		if err == nil {
			err = s.o.Store.View(read)
		}
		switch {
		case err == nil:
			if sub, err := s.replay(actor, o.key, bodyHash, rec, s.o.Now()); sub != nil || err != nil {
				return sub, err
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
	}
	req, pid, member, _, err := s.check(doc)
	if err != nil {
		return nil, err
	}
	to := req.Recipient()
	encKey, err := member.EncryptionPublic()
	if err != nil {
		return nil, fmt.Errorf("roster key for %s: %w", to, err)
	}
	now := s.o.Now().UTC()
	// created is the request's creation time: now, or the time its
	// UUIDv7 Idempotency-Key carries (resubmit.go).
	created := now
	var det *resubmittable
	if o.key != "" {
		det = s.resubmission(actor, o.key, now)
	}
	h := protocol.Header{MessageID: protocol.NewID(now), CaseID: protocol.NewID(now), Type: protocol.TypeRequest, Recipient: pid}
	if det != nil {
		created, h.MessageID, h.CaseID = det.createdAt, det.messageID, det.caseID
	}
	h.CreatedAt = created
	// Judged again at the request's own creation time, which the receiver
	// judges it by.
	terms := s.termsFor(req, string(req.RequestKind()), created, protocol.CountryCode(s.o.Country), protocol.CountryCode(to))
	if terms.Problem != "" {
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "to", Message: "no treaty basis for this request: " + terms.Problem}}}
	}
	var env *protocol.Envelope
	if det != nil {
		env, err = s.o.Sealer.SealWithNonce(h, encKey, doc, det.nonce(bodyHash, encKey))
	} else {
		env, err = s.o.Sealer.Seal(h, encKey, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("seal request: %w", err)
	}
	hash := envelopeHash(env.Raw) // outside the committer (issue 10)
	tags := s.identifierTags(req)
	var (
		queued *store.Message
		prev   *store.Idempotency // the key's live record, if another submission stored it first
	)
	stage := func(tx *store.Tx) error {
		queued, prev = nil, nil
		if o.key != "" {
			rec, err := tx.Idempotency(actor, o.key)
			switch {
			case err == nil && live(rec, now):
				// Write nothing: the store then answers this call with
				// the outcome of the commit holding rec, if rec is not
				// yet durable.
				prev = rec
				return nil
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		if det != nil {
			// The key's record is gone (pruned) but its request is not:
			// the derived IDs are taken, and must never be overwritten.
			if _, err := tx.Case(h.CaseID); err == nil {
				return &mismatchError{key: o.key, caseID: h.CaseID}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		// Built afresh on every run: the store may run fn again, and
		// PutMessage marks the record it wrote.
		c := &store.Case{ID: h.CaseID, Direction: store.Outgoing, Kind: string(req.RequestKind()), Country: to,
			Peer: pid.String(), State: string(protocol.StateOpen), CreatedAt: created, UpdatedAt: now, MessageIDs: []string{h.MessageID},
			RequestID: h.MessageID, ActionsIndexed: true, Terms: terms}
		s.setRequestMeta(c, req, tags, created)
		m := &store.Message{ID: h.MessageID, CaseID: h.CaseID, Direction: store.Outgoing, Type: string(h.Type),
			Peer: pid.String(), Country: to, Envelope: env.Raw, State: store.StateQueued, CreatedAt: created, UpdatedAt: now}
		if err := tx.PutCase(c); err != nil {
			return err
		}
		if err := tx.Enqueue(m); err != nil {
			return err
		}
		if o.key != "" {
			// An expired record for the key is replaced.
			if err := tx.PutIdempotency(&store.Idempotency{Actor: actor, Key: o.key, BodyHash: bodyHash,
				CaseID: c.ID, MessageID: m.ID, CreatedAt: now}); err != nil {
				return err
			}
		}
		queued = m
		return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "request.submitted", CaseID: c.ID,
			MessageID: m.ID, MessageHash: hash, Detail: fmt.Sprintf("kind=%s to=%s", c.Kind, to)})
	}
	if det != nil {
		// Sealed deterministically: hand the message to its worker while
		// the commit syncs (resubmit.go says why that is safe).
		err = s.o.Store.UpdateWritten(ctx, stage, func() {
			if queued != nil {
				s.o.Outbox.Notify(pid, queued)
			}
		})
	} else {
		err = s.o.Store.Update(ctx, stage)
	}
	var mismatch *mismatchError
	if errors.As(err, &mismatch) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store request: %w", err)
	}
	if prev != nil {
		return s.replay(actor, o.key, bodyHash, prev, now)
	}
	if det == nil {
		s.o.Outbox.Notify(pid, queued)
	}
	s.o.Publisher.Case(h.CaseID)
	return &Submission{CaseID: h.CaseID, MessageID: h.MessageID}, nil
}

// live reports whether an idempotency record still holds at now.
func live(rec *store.Idempotency, now time.Time) bool {
	return now.Sub(rec.CreatedAt) < IdempotencyWindow
}

// replay answers a submission whose key has a record: the original
// submission for the same body, ErrIdempotencyMismatch for another, or
// nil (and no error) if the record has expired.
func (s *Service) replay(actor, key, bodyHash string, rec *store.Idempotency, now time.Time) (*Submission, error) {
	if !live(rec, now) {
		return nil, nil
	}
	if rec.BodyHash != bodyHash {
		return nil, &mismatchError{key: key, caseID: rec.CaseID}
	}
	s.o.Logger.Info("idempotent submission replayed", zap.String("actor", actor), zap.String("case_id", rec.CaseID))
	return &Submission{CaseID: rec.CaseID, MessageID: rec.MessageID, Replayed: true}, nil
}

// PruneIdempotency deletes idempotency records older than
// IdempotencyWindow and returns how many it deleted. The scheduler runs
// it every pass; Submit ignores an expired record anyway, so the sweep
// only bounds how many are kept.
func (s *Service) PruneIdempotency(ctx context.Context) (int, error) {
	cutoff := s.o.Now().Add(-IdempotencyWindow)
	const batch = 1000 // records per transaction
	total := 0
	for {
		var n int
		err := s.o.Store.Update(ctx, func(tx *store.Tx) error {
			var err error
			n, err = tx.DeleteIdempotencyBefore(cutoff, batch)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// Validate checks a request document the way Submit would, without
// sealing or storing anything.
func (s *Service) Validate(doc []byte) error {
	_, _, _, _, err := s.check(doc)
	return err
}

// check parses and validates a request document and resolves its
// recipient in the roster. A bad recipient is reported together with the
// other field errors, so the operator fixes everything in one pass.
func (s *Service) check(doc []byte) (protocol.Request, peer.ID, protocol.Member, *protocol.Terms, error) {
	req, err := protocol.ParseRequest(doc)
	if req == nil {
		return nil, "", protocol.Member{}, nil, err
	}
	var fields []protocol.FieldError
	var verr *protocol.ValidationError
	if errors.As(err, &verr) {
		fields = verr.Fields
	} else if err != nil {
		return nil, "", protocol.Member{}, nil, err
	}
	to := req.Recipient()
	pid, member, ok := s.o.Directory.ByCountry(protocol.CountryCode(to))
	switch {
	case to == s.o.Country:
		fields = append(fields, protocol.FieldError{Field: "to", Message: "is this node's own country"})
	case !ok && to != "":
		fields = append(fields, protocol.FieldError{Field: "to", Message: fmt.Sprintf("%s is not a member of the network roster", to)})
	}
	var terms *protocol.Terms
	if ok && to != s.o.Country {
		// The two states' common treaty basis on the day of the request,
		// from the signed roster; the receiver derives the same.
		terms = s.termsFor(req, string(req.RequestKind()), s.o.Now(), protocol.CountryCode(s.o.Country), protocol.CountryCode(to))
		if terms.Problem != "" {
			fields = append(fields, protocol.FieldError{Field: "to", Message: "no treaty basis for this request: " + terms.Problem})
		}
	}
	// Members refuse a payload over the network's cap for good (node/admission):
	// say so now rather than queue what can never be delivered.
	if max := s.o.MaxPayload[string(protocol.TypeRequest)]; max > 0 && len(doc) > max {
		fields = append(fields, protocol.FieldError{Field: "request", Message: fmt.Sprintf("is %d bytes; members accept at most %d (admission.max_payload.request)", len(doc), max)})
	}
	if len(fields) > 0 {
		return nil, "", protocol.Member{}, nil, &protocol.ValidationError{Fields: fields}
	}
	return req, pid, member, terms, nil
}

func envelopeHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}
