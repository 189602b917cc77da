package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// RoleOf is this node's side in a case.
func RoleOf(c *store.Case) protocol.Role {
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

func storeMeta(m protocol.ActionMeta) *store.ActionMeta { return &m }

// eventOf is an action message as a replayable event; m.Meta must be set.
func eventOf(c *store.Case, m *store.Message) protocol.Event {
	by := RoleOf(c)
	if m.Direction == store.Incoming {
		by = otherRole(by)
	}
	return protocol.Event{MessageID: m.ID, By: by, At: m.CreatedAt, Meta: *m.Meta}
}

// caseStateOf is the replayed state kept on a case, without history.
func caseStateOf(c *store.Case) protocol.CaseState {
	return protocol.CaseState{State: protocol.State(c.State), Seq: c.Seq, AcknowledgedAt: c.AcknowledgedAt,
		ExpiresAt: c.ExpiresAt, Hold: c.Hold, ClosedAt: c.ClosedAt, Outcome: c.Outcome, LegalFacts: c.Legal, LastMessageID: c.LastActionID}
}

func setCaseState(c *store.Case, cs protocol.CaseState) {
	c.State, c.Seq, c.LastActionID = string(cs.State), cs.Seq, cs.LastMessageID
	c.AcknowledgedAt, c.ExpiresAt, c.Hold = cs.AcknowledgedAt, cs.ExpiresAt, cs.Hold
	c.ClosedAt, c.Outcome, c.Legal = cs.ClosedAt, cs.Outcome, cs.LegalFacts
}

// decodeLegacy decodes the replay metadata of an action message stored
// before metadata was kept. It decrypts, so it runs only in reads outside
// the store committer; m must have been loaded with its envelope.
func (s *Service) decodeLegacy(m *store.Message) *store.ActionMeta {
	if m.Purged {
		// Contents are gone. The replay that ran while they existed judged
		// them; an incoming action that did not validate was flagged.
		meta := &store.ActionMeta{Action: protocol.ActionName(m.Action), Seq: m.Seq}
		if hasFlag(m.Flags, "incomplete") {
			meta.Invalid = "contents purged; the action was incomplete"
		}
		return meta
	}
	var a *protocol.Action
	if env, err := protocol.ParseEnvelope(m.Envelope); err == nil {
		if payload, err := s.o.Sealer.Decrypt(env); err == nil {
			a, _ = protocol.ParseAction(payload)
		}
	}
	return storeMeta(protocol.MetaOf(a))
}

// legacyMetas decodes, in a read outside the store committer, the actions
// of a case written before action metadata was stored, so the write that
// follows can migrate it without decrypting inside the committer. It is
// nil (one read) for a missing or already indexed case.
func (s *Service) legacyMetas(caseID string) (map[string]*store.ActionMeta, error) {
	var out map[string]*store.ActionMeta
	err := s.o.Store.View(func(tx *store.ReadTx) error {
		c, err := tx.Case(caseID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = s.legacyMetasTx(tx, c)
		return err
	})
	return out, err
}

func (s *Service) legacyMetasTx(tx *store.ReadTx, c *store.Case) (map[string]*store.ActionMeta, error) {
	if c.ActionsIndexed {
		return nil, nil
	}
	out := map[string]*store.ActionMeta{}
	for _, id := range c.MessageIDs {
		m, err := tx.MessageMeta(id)
		if err != nil {
			return nil, fmt.Errorf("case %s message %s: %w", c.ID, id, err)
		}
		if m.Type != string(protocol.TypeAction) || m.Meta != nil {
			continue
		}
		if m, err = tx.Message(id); err != nil {
			return nil, fmt.Errorf("case %s message %s: %w", c.ID, id, err)
		}
		out[id] = s.decodeLegacy(m)
	}
	return out, nil
}

// Events turns a case's messages (loaded with their envelopes) into
// replayable events from their stored metadata, decoding messages stored
// before metadata existed. Reads only: never inside the store committer.
func (s *Service) Events(c *store.Case, msgs []*store.Message) []protocol.Event {
	var evs []protocol.Event
	for _, m := range msgs {
		if m.Type != string(protocol.TypeAction) {
			continue
		}
		if m.Meta == nil {
			cp := *m
			cp.Meta = s.decodeLegacy(m)
			m = &cp
		}
		evs = append(evs, eventOf(c, m))
	}
	return evs
}

// applyAction folds a new action message m (already appended to c) into
// the case's state. In the usual case, an action that sorts after every
// earlier one, it applies to the state kept on the case: constant cost,
// nothing else read (issue 9, item 5). Otherwise the case is replayed from
// its messages' stored metadata. It runs inside the store committer and,
// having no sealer, cannot decrypt; legacy holds what legacyMetas decoded
// for a case written before metadata was stored.
func applyAction(tx *store.Tx, c *store.Case, m *store.Message, legacy map[string]*store.ActionMeta) error {
	// A case stored before terms were kept keeps a state the earlier rules
	// gave it: it is replayed under the current ones.
	if c.ActionsIndexed && c.Terms != nil {
		cs, res, ok := protocol.Advance(*c.Terms, caseStateOf(c), eventOf(c, m))
		if ok {
			setCaseState(c, cs)
			if res.Invalid != "" {
				m.Flags = store.AddFlag(m.Flags, "invalid-transition")
				c.Flags = store.AddFlag(c.Flags, "invalid-transition")
			}
			return nil
		}
	}
	return replayCase(tx, c, m, legacy)
}

// replayCase recomputes a case's legal state from the stored metadata of
// all its actions and re-flags the actions that did not apply: for an
// action that arrived out of order, a request that gave a placeholder case
// its kind, or migrating a case written before metadata was stored. m is
// the message being added in this transaction (not yet written; its flags
// are set here and the caller stores it). Runs inside the store committer;
// it reads message records only, never envelopes.
func replayCase(tx *store.Tx, c *store.Case, m *store.Message, legacy map[string]*store.ActionMeta) error {
	var evs []protocol.Event
	var msgs []*store.Message
	migrated := map[string]bool{}
	for _, id := range c.MessageIDs {
		msg := m
		if m == nil || id != m.ID {
			var err error
			if msg, err = tx.MessageMeta(id); err != nil {
				return fmt.Errorf("case %s message %s: %w", c.ID, id, err)
			}
		}
		if msg.Type != string(protocol.TypeAction) {
			continue
		}
		if msg.Meta == nil {
			meta, ok := legacy[id]
			if !ok {
				return fmt.Errorf("case %s message %s: %w", c.ID, id, errLegacyCase)
			}
			msg.Meta, migrated[id] = meta, true
		}
		evs = append(evs, eventOf(c, msg))
		msgs = append(msgs, msg)
	}
	cs := protocol.Replay(c.LegalTerms(), evs)
	setCaseState(c, cs)
	invalid := map[string]bool{}
	for _, h := range cs.History {
		if h.Invalid != "" {
			invalid[h.MessageID] = true
		}
	}
	for _, msg := range msgs {
		bad, had := invalid[msg.ID], hasFlag(msg.Flags, "invalid-transition")
		if bad && !had {
			msg.Flags = store.AddFlag(msg.Flags, "invalid-transition")
		} else if had && !bad {
			msg.Flags = removeFlag(msg.Flags, "invalid-transition")
		}
		if (bad != had || migrated[msg.ID]) && msg != m {
			if err := tx.PutMessage(msg); err != nil {
				return err
			}
		}
	}
	if len(invalid) > 0 {
		c.Flags = store.AddFlag(c.Flags, "invalid-transition")
	} else {
		c.Flags = removeFlag(c.Flags, "invalid-transition")
	}
	c.ActionsIndexed = true
	return nil
}

func hasFlag(flags []string, f string) bool { return slices.Contains(flags, f) }

// removeFlag returns flags without f, leaving the stored slice untouched.
func removeFlag(flags []string, f string) []string {
	return slices.DeleteFunc(slices.Clone(flags), func(x string) bool { return x == f })
}

// identifierTags are the keyed tags of a request's identifiers, for the
// identifier search. They cost an HMAC each, so they are computed once,
// outside the store committer, and handed to setRequestMeta.
func (s *Service) identifierTags(req protocol.Request) []string {
	if req == nil || len(s.o.IdentifierKey) == 0 {
		return nil
	}
	var tags []string
	for i, v := range protocol.IdentifierValues(req) {
		if i == maxIdentifierTags {
			break
		}
		tags = append(tags, protocol.IdentifierTag(s.o.IdentifierKey, v))
	}
	return tags
}

// setRequestMeta fills what a case needs from its request: kind, urgency,
// acknowledgement deadline, the identifier tags (identifierTags) and the
// requester's zone and office hours.
func (s *Service) setRequestMeta(c *store.Case, req protocol.Request, tags []string, received time.Time) {
	if req == nil {
		return
	}
	c.Kind = string(req.RequestKind())
	if len(s.o.IdentifierKey) > 0 {
		c.IdentifierTags = tags
	}
	var sla time.Duration
	switch req.RequestKind() {
	case protocol.KindEmergency, protocol.KindEmergencyMLA:
		c.Urgency, sla = "emergency", s.o.Deadlines.AckEmergency
	case protocol.KindPreservation:
		c.Urgency, sla = "urgent", s.o.Deadlines.AckUrgent
	default:
		c.Urgency, sla = "routine", s.o.Deadlines.AckRoutine
	}
	if sla > 0 {
		c.AckDueAt = received.Add(sla)
	}
	switch r := req.(type) {
	case *protocol.PreservationRequest:
		c.Reference = r.Reference
	case *protocol.EmergencyRequest:
		c.Reference = r.Reference
	case *protocol.AssistanceQuery:
		c.Reference = r.Reference
	case *protocol.EmergencyMLARequest:
		c.Reference = r.Reference
	}
	c.Reference = clipReference(c.Reference)
	ct := protocol.RequesterContact(req)
	c.RequesterTimeZone, c.RequesterOfficeHours = ct.TimeZone, ct.OfficeHours
	if q, ok := req.(*protocol.AssistanceQuery); ok && q.Drill {
		c.Drill, c.Flags = true, store.AddFlag(c.Flags, "drill")
		// The sender counts a miss after the drill's deadline: show the
		// same deadline here, if it is a plausible one.
		if t, err := time.Parse(time.RFC3339, q.AcknowledgeBy); err == nil && t.After(received) && t.Before(received.Add(maxDrillDeadline)) {
			c.AckDueAt = t.UTC()
		}
	}
}

// maxDrillDeadline bounds how far ahead a drill's deadline may be to be
// shown as the case's acknowledgement deadline.
const maxDrillDeadline = 7 * 24 * time.Hour

// maxReference bounds the reference kept in clear on a case: it comes from
// another state's request, and every list scan reads it.
const maxReference = 200

// clipReference cuts a reference to maxReference bytes on a rune boundary.
func clipReference(s string) string {
	if len(s) <= maxReference {
		return s
	}
	s = s[:maxReference]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// maxIdentifierTags bounds the identifier index a request adds to its case
// (a peer's request is bounded in size, this in records).
const maxIdentifierTags = 64

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
func (s *Service) Act(ctx context.Context, actor, caseID string, doc []byte) (*ActResult, error) {
	a, err := protocol.ParseAction(doc)
	if a == nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		res, err := s.act(ctx, actor, caseID, a, err)
		if errors.Is(err, errCaseMoved) && attempt < 3 {
			continue
		}
		return res, err
	}
}

// CurrentState is the case's legal state under the current rules: the one
// kept on the case, or, for a case stored before terms were kept, a replay
// of its actions. msgs are the case's messages (loaded by the caller).
func (s *Service) CurrentState(c *store.Case, msgs []*store.Message) protocol.CaseState {
	if c.Terms != nil && c.ActionsIndexed {
		return caseStateOf(c)
	}
	cs := protocol.Replay(c.LegalTerms(), s.Events(c, msgs))
	cs.History = nil
	return cs
}

func (s *Service) act(ctx context.Context, actor, caseID string, a *protocol.Action, parseErr error) (*ActResult, error) {
	var (
		c  *store.Case
		cs protocol.CaseState
	)
	var legacy map[string]*store.ActionMeta
	err := s.o.Store.View(func(tx *store.ReadTx) error {
		var err error
		if c, err = tx.Case(caseID); err != nil {
			return err
		}
		// The state kept on the case is the replay of its actions; only a
		// case written before action metadata was stored is decoded here,
		// outside the committer, for the write below to migrate it.
		if legacy, err = s.legacyMetasTx(tx, c); err != nil {
			return err
		}
		if c.Terms != nil && c.ActionsIndexed {
			cs = caseStateOf(c)
			return nil
		}
		msgs, err := tx.Messages(c)
		if err != nil {
			return err
		}
		cs = s.CurrentState(c, msgs)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoCase, caseID)
	}
	if err != nil {
		return nil, err
	}
	if !c.PurgedAt.IsZero() {
		return nil, &protocol.TransitionError{Action: a.Action, State: cs.State, Reason: "case contents were purged"}
	}
	role := RoleOf(c)
	terms := c.LegalTerms()
	now := s.o.Now().UTC()
	a = cloneAction(a)
	if s.fillDefaults(a, terms, now) {
		parseErr = a.Validate()
	}
	if parseErr != nil {
		return nil, parseErr
	}
	next, err := protocol.Check(terms, cs, protocol.Event{By: role, At: now, Meta: protocol.MetaOf(a)})
	if err != nil {
		return nil, err
	}
	a.Seq = cs.Seq + 1
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode action: %w", err)
	}
	if max := s.o.MaxPayload[string(protocol.TypeAction)]; max > 0 && len(payload) > max {
		// Members refuse it for good (node/admission): say so now.
		return nil, &protocol.ValidationError{Fields: []protocol.FieldError{{Field: "action",
			Message: fmt.Sprintf("is %d bytes; members accept at most %d (admission.max_payload.action)", len(payload), max)}}}
	}
	pid, err := peer.Decode(c.Peer)
	if err != nil {
		return nil, fmt.Errorf("case %s peer: %w", caseID, err)
	}
	member, ok := s.o.Directory.MemberByPeer(pid)
	if !ok {
		return nil, fmt.Errorf("the other party (%s) is no longer in the roster; use the fallback phone or e-mail", c.Country)
	}
	encKey, err := member.EncryptionPublic()
	if err != nil {
		return nil, err
	}
	env, err := s.o.Sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: caseID, Type: protocol.TypeAction,
		Recipient: pid, CreatedAt: now}, encKey, payload)
	if err != nil {
		return nil, fmt.Errorf("seal action: %w", err)
	}
	hash := envelopeHash(env.Raw) // outside the committer (issue 10)
	var state string
	var queued *store.Message
	err = s.o.Store.Update(ctx, func(tx *store.Tx) error {
		cur, err := tx.Case(caseID)
		if err != nil {
			return err
		}
		if cur.Seq != cs.Seq || len(cur.MessageIDs) != len(c.MessageIDs) {
			return errCaseMoved
		}
		m := &store.Message{ID: env.MessageID, CaseID: caseID, Direction: store.Outgoing, Type: string(protocol.TypeAction),
			Peer: c.Peer, Country: c.Country, Envelope: env.Raw, State: store.StateQueued, CreatedAt: now, UpdatedAt: now,
			Action: string(a.Action), Seq: a.Seq, Meta: storeMeta(protocol.MetaOf(a))}
		cur.MessageIDs = append(cur.MessageIDs, m.ID)
		cur.UpdatedAt = now
		if err := applyAction(tx, cur, m, legacy); err != nil {
			return err
		}
		if protocol.State(cur.State) != next {
			return fmt.Errorf("action did not apply as checked (%s, want %s)", cur.State, next)
		}
		if err := tx.Enqueue(m); err != nil {
			return err
		}
		queued = m
		state = cur.State
		if err := tx.PutCase(cur); err != nil {
			return err
		}
		if err := s.o.Alerts.ClearFor(tx, cur, now); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: "action." + string(a.Action), CaseID: caseID,
			MessageID: m.ID, MessageHash: hash,
			Detail: fmt.Sprintf("operator=%q %s → %s", a.Operator, cs.State, next)})
	})
	if err != nil {
		return nil, err
	}
	s.o.Outbox.Notify(pid, queued)
	s.o.Publisher.Case(caseID)
	return &ActResult{MessageID: env.MessageID, State: state}, nil
}

// cloneAction copies a so that filling defaults on a retry starts afresh.
func cloneAction(a *protocol.Action) *protocol.Action {
	cp := *a
	cp.Identifiers = slices.Clone(a.Identifiers)
	return &cp
}
