package cases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Submission is the result of accepting a request: both IDs are durable.
type Submission struct {
	CaseID    string `json:"case_id"`
	MessageID string `json:"message_id"`
}

// Submit validates a request document, seals it to the recipient and
// stores it in the outbox. It returns only once the message is durable,
// then wakes the peer's delivery worker. Validation failures come back as
// *protocol.ValidationError.
func (s *Service) Submit(ctx context.Context, actor string, doc []byte) (*Submission, error) {
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
	// Judged again at the request's own creation time, which the receiver
	// judges it by.
	terms := s.termsFor(req, string(req.RequestKind()), now, protocol.CountryCode(s.o.Country), protocol.CountryCode(to))
	if terms.Problem != "" {
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "to", Message: "no treaty basis for this request: " + terms.Problem}}}
	}
	h := protocol.Header{MessageID: protocol.NewID(now), CaseID: protocol.NewID(now), Type: protocol.TypeRequest,
		Recipient: pid, CreatedAt: now}
	env, err := s.o.Sealer.Seal(h, encKey, doc)
	if err != nil {
		return nil, fmt.Errorf("seal request: %w", err)
	}
	hash := envelopeHash(env.Raw) // outside the committer (issue 10)
	var queued *store.Message
	err = s.o.Store.Update(ctx, func(tx *store.Tx) error {
		// Built afresh on every run: the store may run fn again, and
		// PutMessage marks the record it wrote.
		c := &store.Case{ID: h.CaseID, Direction: store.Outgoing, Kind: string(req.RequestKind()), Country: to,
			Peer: pid.String(), State: string(protocol.StateOpen), CreatedAt: now, UpdatedAt: now, MessageIDs: []string{h.MessageID},
			RequestID: h.MessageID, ActionsIndexed: true, Terms: terms}
		s.setRequestMeta(c, req, now)
		m := &store.Message{ID: h.MessageID, CaseID: h.CaseID, Direction: store.Outgoing, Type: string(h.Type),
			Peer: pid.String(), Country: to, Envelope: env.Raw, State: store.StateQueued, CreatedAt: now, UpdatedAt: now}
		if err := tx.PutCase(c); err != nil {
			return err
		}
		if err := tx.Enqueue(m); err != nil {
			return err
		}
		queued = m
		return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "request.submitted", CaseID: c.ID,
			MessageID: m.ID, MessageHash: hash, Detail: fmt.Sprintf("kind=%s to=%s", c.Kind, to)})
	})
	if err != nil {
		return nil, fmt.Errorf("store request: %w", err)
	}
	s.o.Outbox.Notify(pid, queued)
	s.o.Publisher.Case(h.CaseID)
	return &Submission{CaseID: h.CaseID, MessageID: h.MessageID}, nil
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
