package deliver

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// maxConcurrentPerStream bounds how many envelopes from one stream are
// opened and stored at once. Pipelining is what lets group commit batch a
// sender's messages into shared syncs.
const maxConcurrentPerStream = 128

// refusalLogEvery is how often one line per member and limit (or per peer
// and rejection code) is logged while refusals continue.
const refusalLogEvery = time.Minute

// Opener verifies and decrypts an envelope from the network (the sealer).
type Opener interface {
	Open(raw []byte, dir protocol.Directory, now time.Time, clock protocol.ClockPolicy) (*protocol.Opened, error)
}

// Acceptor stores an opened message with the receipt signed for it, in one
// transaction, and returns the original receipt of a message already
// stored. It returns cases.ErrIDConflict, an
// *admission.Refusal or store.ErrLocalReserve for what the sender must be
// told, any other error for a store failure.
type Acceptor interface {
	Accept(ctx context.Context, o *protocol.Opened, r *protocol.Receipt, now time.Time) (existing []byte, err error)
}

// Admission is the per-member admission control (node/admission): the
// cheap checks before an envelope is opened, and the record of a refusal
// decided elsewhere.
type Admission interface {
	AdmitEnvelope(country, msgType string, size int) *admission.Refusal
	Refuse(country string, r *admission.Refusal) *admission.Refusal
}

// InboxOptions are an Inbox's dependencies and settings.
type InboxOptions struct {
	Opener Opener
	// Directory is the roster in force: who sent an envelope.
	Directory protocol.Directory
	Acceptor  Acceptor
	Admission Admission
	// Key signs receipts.
	Key   crypto.PrivKey
	Clock protocol.ClockPolicy
	Now   func() time.Time
	// RefusalLog samples refusal log lines; nil logs every refusal.
	RefusalLog *admission.Sampler
	Logger     *zap.Logger
	// OnReceived, if set, is called after an incoming message is durably
	// stored and before its receipt is sent.
	OnReceived func(messageID string)
	// CaseMeta, if set, reads a stored case for the metadata the
	// "envelope received" line carries (kind, urgency).
	CaseMeta func(caseID string) *store.Case
	// CountRejected and CountReceived, if set, feed the node's metrics.
	CountRejected func(code string)
	CountReceived func()
}

// Inbox serves /vigil/deliver streams.
type Inbox struct {
	o   InboxOptions
	ctx context.Context
}

// NewInbox builds an Inbox; ctx bounds the store writes of the envelopes it
// accepts. Register Handle for ID with ServiceName.
func NewInbox(ctx context.Context, o InboxOptions) *Inbox {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.RefusalLog == nil {
		o.RefusalLog = admission.NewSampler(refusalLogEvery, 4096)
	}
	return &Inbox{o: o, ctx: ctx}
}

// Register serves /vigil/deliver on h behind the shared handler preamble
// (transport.Handlers), tagged with ServiceName.
func (in *Inbox) Register(handlers *transport.Handlers, h host.Host) {
	handlers.Handle(h, ID, ServiceName, in.Handle)
}

// Handle serves one delivery stream: envelopes in, a receipt or a
// rejection out for each, in completion order. Following go-libp2p's ping
// service, it tags the stream's scope, reserves memory per frame, sets
// deadlines and resets the stream on protocol errors.
func (in *Inbox) Handle(s network.Stream) {
	remote := s.Conn().RemotePeer()
	log := in.o.Logger.With(peerFields(in.o.Directory, remote)...)

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
			ft, reply, stored := in.receive(in.ctx, remote, body, log)
			wmu.Lock()
			if err := transport.WriteFrame(s, ft, reply); err != nil {
				log.Warn("delivery stream write failed", zap.Error(err))
				broken()
			}
			wmu.Unlock()
			if stored != nil {
				in.logReceived(log, stored) // after the receipt is on its way
			}
		}()
	}
}

// receive opens, stores and receipts one envelope. It returns the frame to
// answer with, and the envelope if it was newly stored. The receipt is
// sent only after the envelope is durable.
func (in *Inbox) receive(ctx context.Context, remote peer.ID, raw []byte, log *zap.Logger) (protocol.FrameType, []byte, *protocol.Envelope) {
	if ft, body, refused := in.admitEnvelope(remote, raw, log); refused { // before the costly Open (issue 9)
		return ft, body, nil
	}
	now := in.o.Now()
	opened, err := in.o.Opener.Open(raw, in.o.Directory, now, in.o.Clock)
	if err != nil {
		code, permanent := rejectCode(err)
		id := ""
		if env, perr := protocol.ParseEnvelope(raw); perr == nil {
			id = env.MessageID
		}
		in.logRefusal(log, remote.String()+"/"+string(code), "rejected envelope", zap.String("message_id", id), zap.String("code", string(code)), zap.Error(err))
		in.countRejected(string(code))
		return reject(id, code, permanent, err.Error())
	}
	env := opened.Envelope
	if env.Sender != remote {
		log.Warn("rejected envelope relayed by another peer", zap.String("message_id", env.MessageID))
		return reject(env.MessageID, CodeSenderMismatch, true, "envelope must come from its sender")
	}
	receipt, err := protocol.SignReceipt(in.o.Key, env, now)
	if err != nil {
		log.Error("sign receipt", zap.Error(err))
		return reject(env.MessageID, CodeInternal, false, "cannot sign receipt")
	}
	existing, err := in.o.Acceptor.Accept(ctx, opened, receipt, now)
	if ft, body, refused := in.admissionReply(err, string(opened.Member.Country), env.MessageID, log); refused {
		return ft, body, nil
	}
	switch {
	case errors.Is(err, cases.ErrIDConflict):
		log.Warn("rejected envelope reusing a message id", zap.String("message_id", env.MessageID))
		return reject(env.MessageID, CodeDuplicateID, true, "message id already used for different content")
	case err != nil:
		log.Error("store incoming envelope", zap.String("message_id", env.MessageID), zap.Error(err))
		return reject(env.MessageID, CodeStoreFailure, false, "receiver could not store the message; retry later")
	case existing != nil:
		log.Info("duplicate envelope answered with its original receipt", zap.String("message_id", env.MessageID))
		return protocol.FrameReceipt, existing, nil
	}
	if in.o.OnReceived != nil {
		in.o.OnReceived(env.MessageID)
	}
	if in.o.CountReceived != nil {
		in.o.CountReceived()
	}
	return protocol.FrameReceipt, receipt.Raw, env
}

// logReceived logs a newly stored envelope with its case's kind and
// urgency. It runs after the receipt is written: reading the case is not
// on the sender's path.
func (in *Inbox) logReceived(log *zap.Logger, env *protocol.Envelope) {
	fields := []zap.Field{zap.String("message_id", env.MessageID), zap.String("case_id", env.CaseID), zap.String("type", string(env.Type))}
	if in.o.CaseMeta != nil {
		if c := in.o.CaseMeta(env.CaseID); c != nil {
			fields = append(fields, caseFields(c)...)
		}
	}
	log.Info("envelope received", fields...)
}

// reject is receive's answer refusing an envelope (nothing was stored).
func reject(messageID string, code RejectCode, permanent bool, reason string) (protocol.FrameType, []byte, *protocol.Envelope) {
	return protocol.FrameReject, protocol.Reject{MessageID: messageID, Code: string(code), Permanent: permanent, Reason: reason}.Marshal(), nil
}

func (in *Inbox) countRejected(code string) {
	if in.o.CountRejected != nil {
		in.o.CountRejected(code)
	}
}

// logRefusal logs a refusal at most once a minute per key, with the count
// of the lines held back (issue 9, item 6: a flood once wrote 13 MB of log
// in 20 s).
func (in *Inbox) logRefusal(log *zap.Logger, key, msg string, fields ...zap.Field) {
	ok, held := in.o.RefusalLog.Allow(key, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		fields = append(fields, zap.Int64("similar_since_last_line", held))
	}
	log.Warn(msg, fields...)
}

// admitEnvelope runs before an envelope is opened (the expensive part):
// quarantine, the member's delivery bucket, the type named in the clear
// header and the envelope's size against the type's cap. A frame from a
// non-member, or one that does not parse, goes on to Open, which refuses it.
func (in *Inbox) admitEnvelope(remote peer.ID, raw []byte, log *zap.Logger) (protocol.FrameType, []byte, bool) {
	m, ok := in.o.Directory.MemberByPeer(remote)
	if !ok {
		return 0, nil, false
	}
	env, err := protocol.ParseEnvelope(raw)
	if err != nil {
		return 0, nil, false
	}
	if r := in.o.Admission.AdmitEnvelope(string(m.Country), string(env.Type), len(raw)); r != nil {
		ft, body := in.refusalFrame(string(m.Country), env.MessageID, r, log)
		return ft, body, true
	}
	return 0, nil, false
}

// admissionReply turns an admission refusal or the store's local reserve,
// coming out of the store transaction, into the member's rejection.
func (in *Inbox) admissionReply(err error, country, messageID string, log *zap.Logger) (protocol.FrameType, []byte, bool) {
	var r *admission.Refusal
	switch {
	case errors.As(err, &r):
	case errors.Is(err, store.ErrLocalReserve):
		r = in.o.Admission.Refuse(country, &admission.Refusal{Code: admission.CodeLocalReserve, Limit: admission.LimitLocal,
			Reason: "receiver's free disk space is reserved for its own operators; retry later"})
	default:
		return 0, nil, false
	}
	ft, body := in.refusalFrame(country, messageID, r, log)
	return ft, body, true
}

func (in *Inbox) refusalFrame(country, messageID string, r *admission.Refusal, log *zap.Logger) (protocol.FrameType, []byte) {
	in.countRejected(r.Code)
	in.logRefusal(log, country+"/"+r.Limit, "refused envelope over an admission limit", zap.String("country", country),
		zap.String("code", r.Code), zap.String("limit", r.Limit), zap.String("message_id", messageID))
	return protocol.FrameReject, protocol.Reject{MessageID: messageID, Code: r.Code, Permanent: r.Permanent,
		Reason: r.Reason}.Marshal()
}

// rejectCode maps an opening error to a rejection code and whether the
// sender should stop retrying.
func rejectCode(err error) (RejectCode, bool) {
	switch {
	case errors.Is(err, protocol.ErrUnknownSender):
		return CodeUnknownSender, false // the receiver's roster may lag
	case errors.Is(err, protocol.ErrTooOld):
		return CodeTooOld, true
	case errors.Is(err, protocol.ErrClockSkew):
		return CodeClockSkew, false // fixable by an operator; retry
	case errors.Is(err, protocol.ErrBadSignature):
		return CodeBadSignature, true
	case errors.Is(err, protocol.ErrWrongRecipient):
		return CodeWrongRecipient, true
	case errors.Is(err, protocol.ErrDecrypt):
		return CodeDecryptFailed, true
	default:
		return CodeMalformed, true
	}
}
