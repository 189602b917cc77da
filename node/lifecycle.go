package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// ErrNoCase means the case does not exist on this node.
var ErrNoCase = errors.New("no such case")

// errCaseMoved means the case changed between reading it and acting on it.
var errCaseMoved = errors.New("case changed while acting")

// roleOf is this node's side in a case.
func roleOf(c *store.Case) protocol.Role {
	if c.Direction == store.Outgoing {
		return protocol.Requester
	}
	return protocol.Responder
}

func otherRole(r protocol.Role) protocol.Role {
	if r == protocol.Requester {
		return protocol.Responder
	}
	return protocol.Requester
}

type messageReader interface {
	Message(id string) (*store.Message, error)
}

// caseEvents decrypts a case's action messages into replayable events.
func (n *Node) caseEvents(tx messageReader, c *store.Case) ([]protocol.Event, []*store.Message, error) {
	var evs []protocol.Event
	var msgs []*store.Message
	mine := roleOf(c)
	for _, id := range c.MessageIDs {
		m, err := tx.Message(id)
		if err != nil {
			return nil, nil, fmt.Errorf("case %s message %s: %w", c.ID, id, err)
		}
		if m.Type != string(protocol.TypeAction) {
			continue
		}
		by := mine
		if m.Direction == store.Incoming {
			by = otherRole(mine)
		}
		ev := protocol.Event{MessageID: m.ID, By: by, At: m.CreatedAt}
		if !m.Purged {
			if env, err := protocol.ParseEnvelope(m.Envelope); err == nil {
				if payload, err := n.sealer.Decrypt(env); err == nil {
					ev.Action, _ = protocol.ParseAction(payload)
				}
			}
		} else {
			// Contents are gone; the metadata kept on the message still
			// replays the state.
			ev.Action = &protocol.Action{Action: protocol.ActionName(m.Action), Seq: m.Seq}
		}
		evs = append(evs, ev)
		msgs = append(msgs, m)
	}
	return evs, msgs, nil
}

// refreshCase recomputes a case's legal state from its actions and flags
// the actions that did not apply. It runs inside the write transaction
// that added a message, so state and history change together.
func (n *Node) refreshCase(tx *store.Tx, c *store.Case) (protocol.CaseState, error) {
	evs, msgs, err := n.caseEvents(tx, c)
	if err != nil {
		return protocol.CaseState{}, err
	}
	cs := protocol.Replay(protocol.RequestKind(c.Kind), evs)
	c.State, c.Seq = string(cs.State), cs.Seq
	c.AcknowledgedAt, c.ExpiresAt, c.Hold = cs.AcknowledgedAt, cs.ExpiresAt, cs.Hold
	c.ClosedAt, c.Outcome = cs.ClosedAt, cs.Outcome
	invalid := map[string]string{}
	for _, h := range cs.History {
		if h.Invalid != "" {
			invalid[h.MessageID] = h.Invalid
		}
	}
	for _, m := range msgs {
		_, bad := invalid[m.ID]
		had := hasFlag(m.Flags, "invalid-transition")
		if bad != had {
			if bad {
				m.Flags = store.AddFlag(m.Flags, "invalid-transition")
			} else {
				m.Flags = removeFlag(m.Flags, "invalid-transition")
			}
			if err := tx.PutMessage(m); err != nil {
				return cs, err
			}
		}
	}
	if len(invalid) > 0 {
		c.Flags = store.AddFlag(c.Flags, "invalid-transition")
	} else {
		c.Flags = removeFlag(c.Flags, "invalid-transition")
	}
	return cs, nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func removeFlag(flags []string, f string) []string {
	out := flags[:0:0]
	for _, x := range flags {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

// setRequestMeta fills what a case needs from its request: kind, urgency,
// acknowledgement deadline and the requester's zone and office hours.
func (n *Node) setRequestMeta(c *store.Case, req protocol.Request, received time.Time) {
	if req == nil {
		return
	}
	c.Kind = string(req.RequestKind())
	var sla time.Duration
	switch req.RequestKind() {
	case protocol.KindEmergency:
		c.Urgency, sla = "emergency", n.cfg.Deadlines.AckEmergency
	case protocol.KindPreservation:
		c.Urgency, sla = "urgent", n.cfg.Deadlines.AckUrgent
	default:
		c.Urgency, sla = "routine", n.cfg.Deadlines.AckRoutine
	}
	if sla > 0 {
		c.AckDueAt = received.Add(sla)
	}
	ct := protocol.RequesterContact(req)
	c.RequesterTimeZone, c.RequesterOfficeHours = ct.TimeZone, ct.OfficeHours
	if q, ok := req.(*protocol.AssistanceQuery); ok && q.Drill {
		c.Drill, c.Flags = true, store.AddFlag(c.Flags, "drill")
	}
}

// ActResult is the outcome of a local action.
type ActResult struct {
	MessageID string `json:"message_id"`
	State     string `json:"state"`
}

// Act takes one lifecycle action on a case: it checks the action against
// the case's current state with the shared rules, seals it to the other
// party and stores it durably, all or nothing. Errors are
// *protocol.ValidationError (bad fields), *protocol.TransitionError (not
// allowed now) or ErrNoCase.
func (n *Node) Act(ctx context.Context, actor, caseID string, doc []byte) (*ActResult, error) {
	a, err := protocol.ParseAction(doc)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		res, err := n.act(ctx, actor, caseID, a)
		if errors.Is(err, errCaseMoved) && attempt < 3 {
			continue
		}
		return res, err
	}
}

func (n *Node) act(ctx context.Context, actor, caseID string, a *protocol.Action) (*ActResult, error) {
	var (
		c  *store.Case
		cs protocol.CaseState
	)
	err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		if c, err = tx.Case(caseID); err != nil {
			return err
		}
		evs, _, err := n.caseEvents(tx, c)
		if err != nil {
			return err
		}
		cs = protocol.Replay(protocol.RequestKind(c.Kind), evs)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoCase, caseID)
	}
	if err != nil {
		return nil, err
	}
	if c.PurgedAt.IsZero() == false {
		return nil, &protocol.TransitionError{Action: a.Action, State: cs.State, Reason: "case contents were purged"}
	}
	role := roleOf(c)
	next, err := protocol.Transition(protocol.RequestKind(c.Kind), cs.State, role, a.Action)
	if err != nil {
		return nil, err
	}
	a.Seq = cs.Seq + 1
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode action: %w", err)
	}
	if max := n.cfg.Admission.MaxPayload[string(protocol.TypeAction)]; max > 0 && len(payload) > max {
		// Members refuse it for good (node/admission): say so now.
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "action",
			Message: fmt.Sprintf("is %d bytes; members accept at most %d (admission.max_payload.action)", len(payload), max)}}}
	}
	pid, err := peer.Decode(c.Peer)
	if err != nil {
		return nil, fmt.Errorf("case %s peer: %w", caseID, err)
	}
	member, ok := n.roster.MemberByPeer(pid)
	if !ok {
		return nil, fmt.Errorf("the other party (%s) is no longer in the roster; use the fallback phone or e-mail", c.Country)
	}
	encKey, err := member.EncryptionPublic()
	if err != nil {
		return nil, err
	}
	now := n.now().UTC()
	env, err := n.sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: caseID, Type: protocol.TypeAction,
		Recipient: pid, CreatedAt: now}, encKey, payload)
	if err != nil {
		return nil, fmt.Errorf("seal action: %w", err)
	}
	var state string
	var queued *store.Message
	err = n.store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Case(caseID)
		if err != nil {
			return err
		}
		if cur.Seq != cs.Seq || len(cur.MessageIDs) != len(c.MessageIDs) {
			return errCaseMoved
		}
		m := &store.Message{ID: env.MessageID, CaseID: caseID, Direction: store.Outgoing, Type: string(protocol.TypeAction),
			Peer: c.Peer, Country: c.Country, Envelope: env.Raw, State: store.StateQueued, CreatedAt: now, UpdatedAt: now,
			Action: string(a.Action), Seq: a.Seq}
		if err := tx.Enqueue(m); err != nil {
			return err
		}
		queued = m
		cur.MessageIDs = append(cur.MessageIDs, m.ID)
		cur.UpdatedAt = now
		after, err := n.refreshCase(tx, cur)
		if err != nil {
			return err
		}
		if after.State != next {
			return fmt.Errorf("action did not apply as checked (%s, want %s)", after.State, next)
		}
		state = cur.State
		if err := tx.PutCase(cur); err != nil {
			return err
		}
		if err := n.clearAlertsFor(tx, cur, now); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "action." + string(a.Action), CaseID: caseID,
			MessageID: m.ID, MessageHash: envelopeHash(env.Raw),
			Detail: fmt.Sprintf("operator=%q %s → %s", a.Operator, cs.State, next)})
	})
	if err != nil {
		return nil, err
	}
	n.engine.notify(pid, queued)
	n.publishCase(caseID)
	return &ActResult{MessageID: env.MessageID, State: state}, nil
}

func envelopeHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}
