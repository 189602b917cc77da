package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// maxConcurrentPerStream bounds how many envelopes from one stream are
// opened and stored at once. Pipelining is what lets group commit batch a
// sender's messages into shared syncs.
const maxConcurrentPerStream = 128

// handleDeliver serves one delivery stream: envelopes in, a receipt or a
// rejection out for each, in completion order. Following go-libp2p's ping
// service, it tags the stream's scope, reserves memory per frame, sets
// deadlines and resets the stream on protocol errors.
func (n *Node) handleDeliver(s network.Stream) {
	remote := s.Conn().RemotePeer()
	log := n.log.Named("receive").With(zap.Stringer("peer", remote))

	var (
		wmu  sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, maxConcurrentPerStream)
		fail = make(chan struct{})
		once sync.Once
	)
	broken := func() { once.Do(func() { close(fail) }) }
	defer func() {
		wg.Wait()
		s.Close()
	}()
	for {
		if err := s.SetReadDeadline(time.Now().Add(transport.StreamIdle)); err != nil {
			s.Reset()
			return
		}
		t, body, release, err := transport.ReadFrame(s, protocol.MaxFrameSize)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
			case errors.Is(err, protocol.ErrFrameTooLarge) || errors.Is(err, protocol.ErrMalformed):
				log.Warn("refused frame on delivery stream", zap.Error(err))
				s.Reset()
			default: // connection closed or reset: the sender retries
				log.Debug("delivery stream ended", zap.Error(err))
				s.Reset()
			}
			return
		}
		if t != protocol.FrameEnvelope {
			release()
			log.Warn("unexpected frame on delivery stream", zap.Uint8("type", uint8(t)))
			s.Reset()
			return
		}
		select {
		case sem <- struct{}{}:
		case <-fail:
			release()
			s.Reset()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { release(); <-sem; wg.Done() }()
			ft, reply := n.receive(n.ctx, remote, body, log)
			wmu.Lock()
			defer wmu.Unlock()
			if err := transport.WriteFrame(s, ft, reply); err != nil {
				log.Warn("delivery stream write failed", zap.Error(err))
				broken()
			}
		}()
	}
}

// receive opens, stores and receipts one envelope. It returns the frame to
// answer with. The receipt is sent only after the envelope is durable.
func (n *Node) receive(ctx context.Context, remote peer.ID, raw []byte, log *zap.Logger) (protocol.FrameType, []byte) {
	if ft, body, refused := n.admitEnvelope(remote, raw, log); refused { // before the costly Open (issue 9)
		return ft, body
	}
	now := n.now()
	opened, err := n.sealer.Open(raw, n.roster, now, n.clock)
	if err != nil {
		code, permanent := rejectCode(err)
		id := ""
		if env, perr := protocol.ParseEnvelope(raw); perr == nil {
			id = env.MessageID
		}
		n.logRefusal(log, remote.String()+"/"+code, "rejected envelope", zap.String("message_id", id), zap.String("code", code), zap.Error(err))
		n.metrics.rejected.WithLabelValues(code).Inc()
		return protocol.FrameReject, protocol.Reject{MessageID: id, Code: code, Permanent: permanent, Reason: err.Error()}.Marshal()
	}
	env := opened.Envelope
	if env.Sender != remote {
		log.Warn("rejected envelope relayed by another peer", zap.String("message_id", env.MessageID))
		return protocol.FrameReject, protocol.Reject{MessageID: env.MessageID, Code: "sender-mismatch", Permanent: true,
			Reason: "envelope must come from its sender"}.Marshal()
	}
	receipt, err := protocol.SignReceipt(n.key, env, now)
	if err != nil {
		log.Error("sign receipt", zap.Error(err))
		return protocol.FrameReject, protocol.Reject{MessageID: env.MessageID, Code: "internal", Reason: "cannot sign receipt"}.Marshal()
	}
	info := describePayload(env.Type, opened.Payload)
	var existing []byte
	for attempt := 0; ; attempt++ {
		// Nothing is decrypted inside the store committer: a case stored
		// before action metadata existed is decoded here first (issue 9,
		// item 5); for any other case this is one read.
		var legacy map[string]*store.ActionMeta
		if legacy, err = n.legacyMetas(env.CaseID); err != nil {
			break
		}
		err = n.store.UpdatePeer(ctx, func(tx *store.Tx) error { // kept out of the local reserve
			existing = nil
			if m, err := tx.Message(env.MessageID); err == nil {
				if m.Direction != store.Incoming || m.Peer != remote.String() || !bytes.Equal(m.Envelope, raw) {
					return errIDConflict
				}
				existing = m.Receipt
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return n.storeIncoming(tx, opened, info, receipt, now, legacy)
		})
		if !errors.Is(err, errLegacyCase) || attempt == 2 {
			break
		}
	}
	if ft, body, refused := n.admissionReply(err, opened.Member.Country, env.MessageID, log); refused {
		return ft, body
	}
	switch {
	case errors.Is(err, errIDConflict):
		log.Warn("rejected envelope reusing a message id", zap.String("message_id", env.MessageID))
		return protocol.FrameReject, protocol.Reject{MessageID: env.MessageID, Code: "duplicate-id", Permanent: true,
			Reason: "message id already used for different content"}.Marshal()
	case err != nil:
		log.Error("store incoming envelope", zap.String("message_id", env.MessageID), zap.Error(err))
		return protocol.FrameReject, protocol.Reject{MessageID: env.MessageID, Code: "store-failure",
			Reason: "receiver could not store the message; retry later"}.Marshal()
	case existing != nil:
		log.Info("duplicate envelope answered with its original receipt", zap.String("message_id", env.MessageID))
		return protocol.FrameReceipt, existing
	}
	if n.opts.OnReceived != nil {
		n.opts.OnReceived(env.MessageID)
	}
	n.metrics.received.Inc()
	n.publishCase(env.CaseID)
	log.Info("envelope received", zap.String("message_id", env.MessageID), zap.String("case_id", env.CaseID),
		zap.String("type", string(env.Type)), zap.String("from", opened.Member.Country))
	return protocol.FrameReceipt, receipt.Raw
}

var errIDConflict = errors.New("message id conflict")

// storeIncoming records a received envelope, its case and an audit entry.
// A request opens the case; an action is applied to the case's state under
// the shared rules. Either way the message is kept: an incomplete request
// or an action that breaks the rules is flagged for the operator, never
// dropped.
//
// A peer can never rewrite a case (issue 9, item 4): a case's direction,
// kind and deadlines are set once, by the request that opened it (or by
// SubmitRequest for an outgoing case), and a later request reusing the case
// ID is kept apart, flagged, and changes nothing.
func (n *Node) storeIncoming(tx *store.Tx, o *protocol.Opened, info payloadInfo, r *protocol.Receipt, now time.Time,
	legacy map[string]*store.ActionMeta) error {
	env := o.Envelope
	if err := n.chargeIncoming(tx, o, now); err != nil { // per-member quotas (admission_glue.go)
		return err
	}
	m := &store.Message{ID: env.MessageID, CaseID: env.CaseID, Direction: store.Incoming, Type: string(env.Type),
		Peer: env.Sender.String(), Country: o.Member.Country, Envelope: env.Raw, State: store.StateReceived,
		Flags: append([]string(nil), info.flags...), CreatedAt: env.CreatedAt, UpdatedAt: now, DeliveredAt: now, Receipt: r.Raw, Attempts: 1}
	if env.Type == protocol.TypeAction {
		m.Meta = storeMeta(info.meta)
		m.Action, m.Seq = string(info.meta.Action), info.meta.Seq
	}
	c, err := tx.Case(env.CaseID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = &store.Case{ID: env.CaseID, Direction: store.Incoming, Country: o.Member.Country,
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
		return tx.Audit(store.AuditRecord{At: now, Actor: "peer:" + o.Member.Country, Action: "message.refused-foreign-case",
			CaseID: env.CaseID, MessageID: env.MessageID, MessageHash: envelopeHash(env.Raw)})
	case env.Type == protocol.TypeRequest && hasRequest(c):
		return storeDuplicateRequest(tx, c, m, o, now)
	}
	fill := false
	if env.Type == protocol.TypeRequest {
		// Only a case without a request takes one: a new case, or one that
		// an action arriving before its request opened as a placeholder.
		n.setRequestMeta(c, info.req, now)
		if info.req == nil {
			c.Kind = info.kind
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
	if err := n.clearAlertsFor(tx, c, now); err != nil {
		return err
	}
	detail := fmt.Sprintf("type=%s kind=%s", env.Type, c.Kind)
	if m.Action != "" {
		detail += fmt.Sprintf(" action=%s %s → %s", m.Action, before, c.State)
	}
	if len(m.Flags) > 0 {
		detail += fmt.Sprintf(" flags=%v", m.Flags)
	}
	return tx.Audit(store.AuditRecord{At: now, Actor: "peer:" + o.Member.Country, Action: "message.received",
		CaseID: env.CaseID, MessageID: env.MessageID, MessageHash: envelopeHash(env.Raw), Detail: detail})
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
func storeDuplicateRequest(tx *store.Tx, c *store.Case, m *store.Message, o *protocol.Opened, now time.Time) error {
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
	return tx.Audit(store.AuditRecord{At: now, Actor: "peer:" + o.Member.Country, Action: "message.refused-duplicate-case-id",
		CaseID: c.ID, MessageID: m.ID, MessageHash: envelopeHash(m.Envelope),
		Detail: fmt.Sprintf("request reuses the id of an existing %s %s case; stored apart, not applied", c.Direction, c.Kind)})
}

// payloadInfo is what the receiver learns from a decrypted payload, parsed
// once before the store transaction.
type payloadInfo struct {
	kind  string
	flags []string
	req   protocol.Request
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

// rejectCode maps an opening error to a rejection code and whether the
// sender should stop retrying.
func rejectCode(err error) (string, bool) {
	switch {
	case errors.Is(err, protocol.ErrUnknownSender):
		return "unknown-sender", false // the receiver's roster may lag
	case errors.Is(err, protocol.ErrTooOld):
		return "too-old", true
	case errors.Is(err, protocol.ErrClockSkew):
		return "clock-skew", false // fixable by an operator; retry
	case errors.Is(err, protocol.ErrBadSignature):
		return "bad-signature", true
	case errors.Is(err, protocol.ErrWrongRecipient):
		return "wrong-recipient", true
	case errors.Is(err, protocol.ErrDecrypt):
		return "decrypt-failed", true
	default:
		return "malformed", true
	}
}
