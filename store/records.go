package store

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// Direction says whether this node sent or received a message or case.
type Direction string

const (
	Outgoing Direction = "outgoing"
	Incoming Direction = "incoming"
)

// DeliveryState is the transport state of a message, kept apart from the
// legal state of its case (as Domibus does).
type DeliveryState string

const (
	StateQueued    DeliveryState = "queued"    // durable in the outbox, not yet on the wire
	StateSent      DeliveryState = "sent"      // written to the peer, awaiting its receipt
	StateDelivered DeliveryState = "delivered" // peer's signed receipt verified and stored
	StateRejected  DeliveryState = "rejected"  // peer refused it permanently; see LastError
	StateReceived  DeliveryState = "received"  // incoming: stored and receipted
)

// Message is one envelope sent or received, with its transport history.
type Message struct {
	ID        string    `json:"id"`
	CaseID    string    `json:"case_id"`
	Direction Direction `json:"direction"`
	Type      string    `json:"type"`
	Peer      string    `json:"peer"`    // the other node's peer ID
	Country   string    `json:"country"` // the other node's country
	// Envelope is stored under its own key, written once: state changes
	// rewrite only the small metadata record.
	Envelope    []byte        `json:"-"`
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	LastError   string        `json:"last_error,omitempty"`
	Flags       []string      `json:"flags,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	DeliveredAt time.Time     `json:"delivered_at,omitzero"`
	Receipt     []byte        `json:"receipt,omitempty"` // signed receipt bytes (ours for incoming)
	OutboxSeq   uint64        `json:"outbox_seq,omitempty"`
	// Action and Seq identify a lifecycle action message (empty for the
	// request itself); they are metadata, not content.
	Action string `json:"action,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	// Meta is what the lifecycle replay needs of an action, decoded once
	// from the payload when the message was stored, so a case's state is
	// recomputed without decrypting envelopes (issue 9, item 5). Nil on
	// action messages written before it existed; the node fills it in.
	Meta *ActionMeta `json:"meta,omitempty"`
	// Purged is set when retention removed the envelope (contents).
	Purged bool `json:"purged,omitempty"`

	envStored bool // Envelope came from (so is already in) the store
}

// ActionMeta is an action's replay metadata (protocol.ActionMeta): its
// name, sequence number, operator, why it can never apply (if so) and the
// fields the legal rules read. Records written before it carried those
// fields decode into it unchanged.
type ActionMeta = protocol.ActionMeta

// Case groups the messages about one request. Contents stay in the
// encrypted envelopes; the case holds only what is needed to list and route.
type Case struct {
	ID         string    `json:"id"`
	Direction  Direction `json:"direction"`
	Kind       string    `json:"kind"`
	Country    string    `json:"country"` // the other party
	Peer       string    `json:"peer"`
	State      string    `json:"state"` // legal state
	Flags      []string  `json:"flags,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	MessageIDs []string  `json:"message_ids"`

	// Derived from the case's actions by the lifecycle rules; kept here so
	// lists, deadlines and alerts need no decryption.
	Seq uint64 `json:"seq"` // highest action sequence number
	// LastActionID is the last action in replay order ((seq, message ID));
	// with Seq it tells whether a new action can be applied incrementally.
	LastActionID string `json:"last_action_id,omitempty"`
	// ActionsIndexed says every action message of the case carries its
	// Meta and LastActionID is kept. Cases written before either existed
	// lack it and are migrated on their next action.
	ActionsIndexed bool `json:"actions_indexed,omitempty"`
	// RequestID is the request that opened the case (its kind, direction
	// and deadlines come from it and never change afterwards). Empty on a
	// case opened by an action that arrived before its request.
	RequestID      string    `json:"request_id,omitempty"`
	Urgency        string    `json:"urgency,omitempty"`        // emergency, urgent or routine
	AckDueAt       time.Time `json:"ack_due_at,omitzero"`      // human acknowledgement due
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"` // first human action by the requested side
	ExpiresAt      time.Time `json:"expires_at,omitzero"`      // preservation expiry
	Hold           bool      `json:"hold,omitempty"`           // preserved until an MLA decision
	ClosedAt       time.Time `json:"closed_at,omitzero"`
	Outcome        string    `json:"outcome,omitempty"`
	PurgedAt       time.Time `json:"purged_at,omitzero"`
	Assignee       string    `json:"assignee,omitempty"` // console user handling the case
	Drill          bool      `json:"drill,omitempty"`    // a drill's test request, not a real one
	// Reference is the requesting authority's reference from the request,
	// kept in clear so the case list can show and search it without
	// decrypting every request.
	Reference string `json:"reference,omitempty"`
	// Requester's zone and office hours, shown beside UTC deadlines.
	RequesterTimeZone    string `json:"requester_time_zone,omitempty"`
	RequesterOfficeHours string `json:"requester_office_hours,omitempty"`
	// Terms are the case's treaty basis and the request's facts the legal
	// rules read, fixed when the case opened (nil on cases stored before
	// terms were kept: protocol.LegacyTerms apply).
	Terms *protocol.Terms `json:"terms,omitempty"`
	// Legal are the facts the legal rules keep besides the state.
	Legal protocol.LegalFacts `json:"legal,omitzero"`
	// IdentifierTags are keyed hashes of the request's identifiers
	// (protocol.IdentifierTag), to find a case by an identifier while the
	// request itself stays sealed.
	IdentifierTags []string `json:"identifier_tags,omitempty"`
}

// LegalTerms is the case's legal terms: those fixed when it opened, or,
// for a case stored before terms were kept, the ones protocol.LegacyTerms
// assume.
func (c *Case) LegalTerms() protocol.Terms {
	if c.Terms != nil {
		return *c.Terms
	}
	return protocol.LegacyTerms(protocol.RequestKind(c.Kind))
}

func msgKey(id string) string  { return "msg/" + id }
func envKey(id string) string  { return "env/" + id }
func caseKey(id string) string { return "case/" + id }
func outKey(peer string, seq uint64) string {
	return fmt.Sprintf("out/%s/%020d", peer, seq)
}

// Message returns a message by ID.
func (r *ReadTx) Message(id string) (*Message, error) {
	var m Message
	if err := r.getRecord(msgKey(id), &m); err != nil {
		return nil, err
	}
	return &m, loadEnvelope(&m, r.get)
}

func loadEnvelope(m *Message, get func(string) ([]byte, error)) error {
	if m.Purged {
		return nil
	}
	env, err := get(envKey(m.ID))
	if err != nil {
		return fmt.Errorf("message %s envelope: %w", m.ID, err)
	}
	m.Envelope, m.envStored = env, true
	return nil
}

// MessageMeta returns a message's record without loading its envelope
// (Envelope stays nil): for reading metadata of a case's messages without
// pulling every envelope through the transaction. PutMessage on it keeps
// the stored envelope.
func (r *ReadTx) MessageMeta(id string) (*Message, error) {
	return messageMeta(id, r.getRecord)
}

func messageMeta(id string, getRecord func(string, any) error) (*Message, error) {
	var m Message
	if err := getRecord(msgKey(id), &m); err != nil {
		return nil, err
	}
	m.envStored = !m.Purged
	return &m, nil
}

// Case returns a case by ID.
func (r *ReadTx) Case(id string) (*Case, error) {
	var c Case
	if err := r.getRecord(caseKey(id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Cases lists all cases, newest first (IDs are time-ordered).
func (r *ReadTx) Cases(limit int) ([]*Case, error) {
	var out []*Case
	err := r.scan("case/", true, func(_ string, v []byte) (bool, error) {
		var c Case
		if err := decodeRecord(v, &c); err != nil {
			return false, fmt.Errorf("decode case: %w", err)
		}
		out = append(out, &c)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// Outbox lists a peer's undelivered outgoing messages in the order they
// were queued.
func (r *ReadTx) Outbox(peer string) ([]*Message, error) {
	var ids []string
	err := r.scan("out/"+peer+"/", false, func(_ string, v []byte) (bool, error) {
		ids = append(ids, string(v))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Message, 0, len(ids))
	for _, id := range ids {
		m, err := r.Message(id)
		if err != nil {
			return nil, fmt.Errorf("outbox %s: %w", id, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// OutboxDepths counts undelivered messages per peer.
func (r *ReadTx) OutboxDepths() (map[string]int, error) {
	depth := map[string]int{}
	err := r.scan("out/", false, func(k string, _ []byte) (bool, error) {
		rest := strings.TrimPrefix(k, "out/")
		if i := strings.LastIndexByte(rest, '/'); i > 0 {
			depth[rest[:i]]++
		}
		return true, nil
	})
	return depth, err
}

// Messages returns the messages of a case in the order they were added.
func (r *ReadTx) Messages(c *Case) ([]*Message, error) {
	out := make([]*Message, 0, len(c.MessageIDs))
	for _, id := range c.MessageIDs {
		m, err := r.Message(id)
		if err != nil {
			return nil, fmt.Errorf("case %s message %s: %w", c.ID, id, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Message reads through the transaction's pending writes.
func (t *Tx) Message(id string) (*Message, error) {
	var m Message
	if err := t.getRecord(msgKey(id), &m); err != nil {
		return nil, err
	}
	return &m, loadEnvelope(&m, t.get)
}

// MessageMeta reads a message's record through the transaction's pending
// writes, without its envelope; see ReadTx.MessageMeta.
func (t *Tx) MessageMeta(id string) (*Message, error) {
	return messageMeta(id, t.getRecord)
}

// Case reads through the transaction's pending writes.
func (t *Tx) Case(id string) (*Case, error) {
	var c Case
	if err := t.getRecord(caseKey(id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutMessage stores a message.
func (t *Tx) PutMessage(m *Message) error {
	switch {
	case m.Purged:
		t.del(envKey(m.ID))
		m.Envelope, m.envStored = nil, false
	case !m.envStored:
		if len(m.Envelope) == 0 {
			return fmt.Errorf("message %s has no envelope", m.ID)
		}
		t.set(envKey(m.ID), m.Envelope)
		m.envStored = true
	}
	return t.setRecord(msgKey(m.ID), m)
}

// PutCase stores a case.
func (t *Tx) PutCase(c *Case) error {
	if err := t.indexOpenCase(c); err != nil {
		return err
	}
	return t.setRecord(caseKey(c.ID), c)
}

// Enqueue puts an outgoing message in its peer's outbox.
func (t *Tx) Enqueue(m *Message) error {
	seq, err := t.nextSeq("outbox")
	if err != nil {
		return err
	}
	m.OutboxSeq = seq
	t.set(outKey(m.Peer, seq), []byte(m.ID))
	return t.PutMessage(m)
}

// Dequeue removes a message from its peer's outbox (delivered or refused).
func (t *Tx) Dequeue(m *Message) {
	if m.OutboxSeq != 0 {
		t.del(outKey(m.Peer, m.OutboxSeq))
	}
}

// AddFlag adds a flag once to a flag list.
func AddFlag(flags []string, f string) []string {
	for _, x := range flags {
		if x == f {
			return flags
		}
	}
	flags = append(flags, f)
	sort.Strings(flags)
	return flags
}
