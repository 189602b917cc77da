package cases

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Accept stores a message a member delivered, opened and verified by the
// caller, with the receipt the caller signed for it, in one store
// transaction kept out of the local reserve. For a message already stored
// it returns that message's original receipt and changes nothing. Errors:
// ErrIDConflict (the ID names different content), an *admission.Refusal
// (a quota), store.ErrLocalReserve, or a store failure.
func (s *Service) Accept(ctx context.Context, o *protocol.Opened, r *protocol.Receipt, now time.Time) (existing []byte, err error) {
	env := o.Envelope
	info := describePayload(env.Type, o.Payload)
	// Both outside the committer (issue 10).
	info.tags = s.identifierTags(info.req)
	hash := envelopeHash(env.Raw)
	for attempt := 0; ; attempt++ {
		// Nothing is decrypted inside the store committer: a case stored
		// before action metadata existed is decoded here first (issue 9,
		// item 5); for any other case this is one read.
		var legacy map[string]*store.ActionMeta
		if legacy, err = s.legacyMetas(env.CaseID); err != nil {
			return nil, fmt.Errorf("decode legacy case %s: %w", env.CaseID, err)
		}
		err = s.o.Store.UpdatePeer(ctx, func(tx *store.Tx) error { // kept out of the local reserve
			existing = nil
			if m, err := tx.Message(env.MessageID); err == nil {
				if m.Direction != store.Incoming || m.Peer != env.Sender.String() || !bytes.Equal(m.Envelope, env.Raw) {
					return ErrIDConflict
				}
				existing = m.Receipt
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return s.storeIncoming(tx, o, info, r, hash, now, legacy)
		})
		if !errors.Is(err, errLegacyCase) || attempt == 2 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if existing == nil {
		s.o.Publisher.Case(env.CaseID)
	}
	return existing, nil
}

// chargeIncoming checks an opened envelope against its sender's quotas and
// counts it, inside the transaction that stores it.
func (s *Service) chargeIncoming(tx *store.Tx, o *protocol.Opened, now time.Time) error {
	return s.o.Quota.ChargeStore(tx, admission.Incoming{Country: string(o.Member.Country), CaseID: o.Envelope.CaseID,
		Type: string(o.Envelope.Type), Payload: len(o.Payload), EnvelopeLen: len(o.Envelope.Raw), Now: now})
}

// storeIncoming records a received envelope, its case and an audit entry.
// A request opens the case; an action is applied to the case's state under
// the shared rules. Either way the message is kept: an incomplete request
// or an action that breaks the rules is flagged for the operator, never
// dropped.
//
// A peer can never rewrite a case (issue 9, item 4): a case's direction,
// kind and deadlines are set once, by the request that opened it (or by
// Submit for an outgoing case), and a later request reusing the case
// ID is kept apart, flagged, and changes nothing.
func (s *Service) storeIncoming(tx *store.Tx, o *protocol.Opened, info payloadInfo, r *protocol.Receipt, hash string, now time.Time,
	legacy map[string]*store.ActionMeta) error {
	env := o.Envelope
	if err := s.chargeIncoming(tx, o, now); err != nil { // per-member quotas
		return err
	}
	m := &store.Message{ID: env.MessageID, CaseID: env.CaseID, Direction: store.Incoming, Type: string(env.Type),
		Peer: env.Sender.String(), Country: string(o.Member.Country), Envelope: env.Raw, State: store.StateReceived,
		Flags: append([]string(nil), info.flags...), CreatedAt: env.CreatedAt, UpdatedAt: now, DeliveredAt: now, Receipt: r.Raw, Attempts: 1}
	if env.Type == protocol.TypeAction {
		m.Meta = storeMeta(info.meta)
		m.Action, m.Seq = string(info.meta.Action), info.meta.Seq
	}
	c, err := tx.Case(env.CaseID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = &store.Case{ID: env.CaseID, Direction: store.Incoming, Country: string(o.Member.Country),
			Peer: env.Sender.String(), State: string(protocol.StateOpen), CreatedAt: now, ActionsIndexed: true}
		if env.Type != protocol.TypeRequest {
			// Kind stays empty until the request arrives and fills it in.
			m.Flags = store.AddFlag(m.Flags, "before-request")
		}
	case err != nil:
		return err
	case c.Peer != env.Sender.String():
		// A case belongs to the two nodes that opened it; a third may not
		// touch it. Keep the message, flagged, outside the case.
		m.Flags = store.AddFlag(m.Flags, "foreign-case")
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: string("peer:" + o.Member.Country), Action: "message.refused-foreign-case",
			CaseID: env.CaseID, MessageID: env.MessageID, MessageHash: hash})
	case env.Type == protocol.TypeRequest && hasRequest(c):
		return storeDuplicateRequest(tx, c, m, o, hash, now)
	}
	fill := false
	if env.Type == protocol.TypeRequest {
		// Only a case without a request takes one: a new case, or one that
		// an action arriving before its request opened as a placeholder.
		s.setRequestMeta(c, info.req, info.tags, now)
		if info.req == nil {
			c.Kind = info.kind
		}
		// The same terms the sender derived, from the same signed roster.
		c.Terms = s.termsFor(info.req, c.Kind, env.CreatedAt, o.Member.Country, protocol.CountryCode(s.o.Country))
		if c.Terms.Problem != "" {
			m.Flags = store.AddFlag(m.Flags, "no-treaty-basis")
		}
		c.RequestID = m.ID
		fill = len(c.MessageIDs) > 0
	}
	for _, f := range m.Flags {
		c.Flags = store.AddFlag(c.Flags, f)
	}
	c.MessageIDs = append(c.MessageIDs, m.ID)
	c.UpdatedAt = now
	before := c.State
	switch {
	case env.Type == protocol.TypeAction:
		if err := applyAction(tx, c, m, legacy); err != nil {
			return err
		}
	case fill:
		// The placeholder's actions were judged without a kind; judge
		// them again under the one the request just gave the case.
		if err := replayCase(tx, c, m, legacy); err != nil {
			return err
		}
	}
	if err := tx.PutMessage(m); err != nil {
		return err
	}
	if err := tx.PutCase(c); err != nil {
		return err
	}
	if err := s.o.Alerts.ClearFor(tx, c, now); err != nil {
		return err
	}
	detail := fmt.Sprintf("type=%s kind=%s", env.Type, c.Kind)
	if m.Action != "" {
		detail += fmt.Sprintf(" action=%s %s → %s", m.Action, before, c.State)
	}
	if len(m.Flags) > 0 {
		detail += fmt.Sprintf(" flags=%v", m.Flags)
	}
	return tx.Audit(store.AuditRecord{At: now, Actor: string("peer:" + o.Member.Country), Action: "message.received",
		CaseID: env.CaseID, MessageID: env.MessageID, MessageHash: hash, Detail: detail})
}

// hasRequest says whether a case already has the request that set its
// kind: every outgoing case (this node sent it), and an incoming one once
// its request arrived. Cases stored before RequestID existed have a kind
// exactly when their request arrived (an action placeholder has none).
func hasRequest(c *store.Case) bool {
	return c.Direction == store.Outgoing || c.RequestID != "" || c.Kind != ""
}

// storeDuplicateRequest keeps a second request that reuses an existing
// case's ID (issue 9, item 4): stored and receipted, so an honest sender
// stops retrying, but outside the case, never merged into its state. The
// message, the case and the audit log say so for the operator.
func storeDuplicateRequest(tx *store.Tx, c *store.Case, m *store.Message, o *protocol.Opened, hash string, now time.Time) error {
	m.Flags = store.AddFlag(m.Flags, "duplicate-case-id")
	if err := tx.PutMessage(m); err != nil {
		return err
	}
	if !hasFlag(c.Flags, "duplicate-case-id") {
		// Only the flag changes; state, kind, deadlines and history stay.
		c.Flags = store.AddFlag(c.Flags, "duplicate-case-id")
		if err := tx.PutCase(c); err != nil {
			return err
		}
	}
	return tx.Audit(store.AuditRecord{At: now, Actor: string("peer:" + o.Member.Country), Action: "message.refused-duplicate-case-id",
		CaseID: c.ID, MessageID: m.ID, MessageHash: hash,
		Detail: fmt.Sprintf("request reuses the id of an existing %s %s case; stored apart, not applied", c.Direction, c.Kind)})
}

// payloadInfo is what the receiver learns from a decrypted payload, parsed
// once before the store transaction.
type payloadInfo struct {
	kind  string
	flags []string
	req   protocol.Request
	tags  []string            // of a request: its identifier tags
	meta  protocol.ActionMeta // of an action: what replaying it needs
}

// describePayload parses a decrypted payload and flags an incomplete
// request or a malformed action.
func describePayload(t protocol.MessageType, payload []byte) payloadInfo {
	var p payloadInfo
	switch t {
	case protocol.TypeRequest:
		req, err := protocol.ParseRequest(payload)
		p.req = req
		if req != nil {
			p.kind = string(req.RequestKind())
		} else {
			p.kind = "unknown"
		}
		if err != nil {
			p.flags = append(p.flags, "incomplete")
		}
	case protocol.TypeAction:
		// Decoded here, once, outside the store committer; the case is
		// replayed from this metadata, never by decrypting again.
		a, err := protocol.ParseAction(payload)
		p.meta = protocol.MetaOf(a)
		if err != nil {
			p.flags = append(p.flags, "incomplete")
		}
	default:
		p.flags = append(p.flags, "unknown-type")
	}
	return p
}
