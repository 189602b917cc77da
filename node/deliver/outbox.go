package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Dialer opens a /vigil/deliver stream to a member, its scope tagged with
// ServiceName: it knows the member's addresses and connects first if
// needed (mesh.Dialer).
type Dialer interface {
	Open(ctx context.Context, p peer.ID) (network.Stream, error)
}

// Gate says whether the connection gater lets a peer in now: a reconnect
// from a peer it refuses must not cut a backoff short.
type Gate interface {
	Allowed(p peer.ID) bool
}

// OutboxOptions are an Outbox's dependencies and settings.
type OutboxOptions struct {
	Store  *store.Store
	Dialer Dialer
	// Members and Self: while this node is not in its own roster every
	// member refuses it, so the workers pause.
	Members   Members
	Self      peer.ID
	Gate      Gate
	Publisher Publisher
	Delivery  config.DeliveryConfig
	Now       func() time.Time
	Logger    *zap.Logger
	// OnDelivered, if set, is called after a receipt is verified and stored.
	OnDelivered func(messageID string)
	// ObserveLatency, if set, takes each delivered message's seconds from
	// creation to receipt.
	ObserveLatency func(seconds float64)
}

// Outbox runs one worker per roster peer, so a dead peer only ever delays
// its own outbox.
type Outbox struct {
	o   OutboxOptions
	ctx context.Context
	wg  sync.WaitGroup

	mu sync.Mutex
	// workers by peer; a stopped worker is removed.
	workers map[peer.ID]*peerWorker

	// inflight marks messages written to a peer and awaiting a receipt;
	// the API shows them as "sent" without a store write per attempt.
	inflight sync.Map // message ID → struct{}
}

// NewOutbox builds an Outbox whose workers live until ctx ends; Wait waits
// for them.
func NewOutbox(ctx context.Context, o OutboxOptions) *Outbox {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Outbox{o: o, ctx: ctx, workers: map[peer.ID]*peerWorker{}}
}

// Ensure starts a worker for p unless one runs.
func (e *Outbox) Ensure(p peer.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.workers[p]; ok || e.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	w := &peerWorker{e: e, peer: p, cancel: cancel, wake: make(chan struct{}, 1), reconnect: make(chan struct{}, 1),
		log: e.o.Logger.With(peerFields(e.o.Members, p)...)}
	e.workers[p] = w
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		w.run(ctx)
	}()
}

// Stop ends p's worker (the peer left the roster). Its outbox stays stored.
func (e *Outbox) Stop(p peer.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, ok := e.workers[p]; ok {
		w.cancel()
		delete(e.workers, p)
	}
}

func (e *Outbox) worker(p peer.ID) *peerWorker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.workers[p]
}

// Notify hands p's worker a message just made durable in the outbox, so it
// can send it without rereading the outbox from the store.
func (e *Outbox) Notify(p peer.ID, m *store.Message) {
	if w := e.worker(p); w != nil {
		w.mu.Lock()
		w.fresh = append(w.fresh, m)
		w.mu.Unlock()
		signal(w.wake)
	}
}

// Connected tells p's worker the peer just connected: retry now.
func (e *Outbox) Connected(p peer.ID) {
	if w := e.worker(p); w != nil {
		signal(w.reconnect)
	}
}

// RosterChanged wakes every worker after a roster change, so one paused
// because this node was not a member resumes.
func (e *Outbox) RosterChanged() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range e.workers {
		signal(w.reconnect)
	}
}

// Wait returns once every worker has stopped (after ctx ended).
func (e *Outbox) Wait() { e.wg.Wait() }

// InFlight says whether a message was sent and awaits its receipt.
func (e *Outbox) InFlight(id string) bool {
	_, ok := e.inflight.Load(id)
	return ok
}

// Attempts is the number of delivery sessions p's worker has started (0
// without a worker): tests assert that a worker backs off.
func (e *Outbox) Attempts(p peer.ID) int64 {
	if w := e.worker(p); w != nil {
		return w.attempts.Load()
	}
	return 0
}

type peerWorker struct {
	e         *Outbox
	peer      peer.ID
	cancel    context.CancelFunc
	wake      chan struct{}
	reconnect chan struct{}
	log       *zap.Logger

	mu    sync.Mutex
	fresh []*store.Message // handed over by notify since the last look
	// attempts counts sessions started (DeliveryAttempts).
	attempts atomic.Int64
}

func (w *peerWorker) takeFresh() []*store.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.fresh
	w.fresh = nil
	return out
}

func (w *peerWorker) run(ctx context.Context) {
	attempt := 0
	// A reconnect may cut a backoff short once per failure streak. A peer
	// that gates us connects and drops at once, and each such "reconnect"
	// used to end the wait: a revoked member retried ~100 times a second
	// (issue 9 item 7).
	early := true
	paused := false
	for {
		// While this node is not in its own roster every member refuses
		// it: wait for a roster that lists it again instead of retrying.
		if !w.e.o.Members.IsMember(w.e.o.Self) {
			if !paused {
				w.log.Info("this node is not in its roster; deliveries paused until a roster lists it again")
				paused = true
			}
			select {
			case <-w.reconnect: // also signalled on every roster change (rosterChanged)
			case <-ctx.Done():
				return
			}
			continue
		}
		paused = false
		w.attempts.Add(1)
		progressed, err := w.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			attempt, early = 0, true
			select {
			case <-w.wake:
			case <-w.reconnect:
			case <-ctx.Done():
				return
			}
			continue
		}
		if progressed {
			attempt, early = 0, true
		}
		attempt++
		wait := transport.Backoff(attempt, w.e.o.Delivery.MaxBackoff)
		w.log.Info("delivery to peer failed; will retry", zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-t.C:
				break waiting
			case <-w.reconnect:
				if early && w.e.o.Gate.Allowed(w.peer) {
					early = false
					t.Stop()
					break waiting
				}
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

type deliveryResult struct {
	msgID   string
	receipt *protocol.Receipt
	reject  *protocol.Reject
}

type inflightMsg struct {
	m      *store.Message
	env    *protocol.Envelope
	sentAt time.Time
}

// session delivers the peer's outbox over one stream until the outbox is
// empty and the stream idle (nil error) or something fails.
func (w *peerWorker) session(ctx context.Context) (progressed bool, err error) {
	w.takeFresh() // the store read below covers them
	queue, err := w.loadOutbox(nil)
	if err != nil || len(queue) == 0 {
		return false, err
	}
	s, err := w.open(ctx)
	if err != nil {
		w.recordFailure(ctx, queue, err)
		return false, err
	}
	results := make(chan deliveryResult, w.e.o.Delivery.Window)
	readerDone := make(chan error, 1)
	go func() { readerDone <- w.readReceipts(s, results) }()

	inflight := map[string]*inflightMsg{}
	done := map[string]bool{} // receipted or refused this session
	var recording sync.WaitGroup
	defer func() {
		if err != nil {
			s.Reset()
		} else {
			s.Close()
		}
		<-readerDone
		recording.Wait()
		var failed []*store.Message
		for id, f := range inflight {
			w.e.inflight.Delete(id)
			failed = append(failed, f.m)
		}
		if err != nil && len(failed) > 0 && ctx.Err() == nil {
			w.recordFailure(ctx, failed, err)
		}
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idleSince := time.Now()
	// deferred is the first retryable rejection (a receiver's admission
	// limit, node/admission): send nothing more, but take the answers for
	// what is in flight, so receipts already given are recorded, not lost
	// to a session ended early (a rejection is answered faster than a
	// receipt, which waits for the receiver's fsync).
	var deferred error
	for {
		for deferred == nil && len(queue) > 0 && len(inflight) < w.e.o.Delivery.Window {
			m := queue[0]
			queue = queue[1:]
			if inflight[m.ID] != nil || done[m.ID] {
				continue
			}
			env, perr := protocol.ParseEnvelope(m.Envelope)
			if perr != nil {
				return progressed, fmt.Errorf("stored envelope %s is corrupt: %w", m.ID, perr)
			}
			if err := transport.WriteFrame(s, protocol.FrameEnvelope, m.Envelope); err != nil {
				return progressed, fmt.Errorf("send %s: %w", m.ID, err)
			}
			inflight[m.ID] = &inflightMsg{m: m, env: env, sentAt: time.Now()}
			w.e.inflight.Store(m.ID, struct{}{})
		}
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case rerr := <-readerDone:
			readerDone <- rerr // for the deferred drain
			if rerr == nil {
				rerr = io.ErrUnexpectedEOF
			}
			return progressed, fmt.Errorf("receipt stream: %w", rerr)
		case r := <-results:
			f := inflight[r.msgID]
			if f == nil {
				continue // late answer to an earlier attempt
			}
			delete(inflight, r.msgID)
			w.e.inflight.Delete(r.msgID)
			done[r.msgID] = true
			idleSince = time.Now()
			if r.reject != nil && !r.reject.Permanent {
				if deferred == nil {
					deferred = fmt.Errorf("peer deferred %s: %s: %s", r.msgID, r.reject.Code, r.reject.Reason)
				}
				if len(inflight) == 0 {
					return progressed, deferred
				}
				continue
			}
			if r.receipt != nil {
				if verr := r.receipt.Verify(f.env); verr != nil {
					return progressed, fmt.Errorf("receipt for %s: %w", r.msgID, verr)
				}
			}
			progressed = true
			recording.Add(1)
			go func() {
				defer recording.Done()
				w.recordOutcome(ctx, f, r)
			}()
			if deferred != nil && len(inflight) == 0 {
				return progressed, deferred
			}
		case <-w.wake:
			// New mail arrives in memory; the idle tick below rereads the
			// store to catch anything handed over while no session ran.
			for _, m := range w.takeFresh() {
				if inflight[m.ID] == nil && !done[m.ID] {
					queue = append(queue, m)
				}
			}
			idleSince = time.Now()
		case <-tick.C:
			for id, f := range inflight {
				if time.Since(f.sentAt) > w.e.o.Delivery.ReceiptTimeout {
					return progressed, fmt.Errorf("no receipt for %s within %s", id, w.e.o.Delivery.ReceiptTimeout)
				}
			}
			if len(inflight) == 0 && len(queue) == 0 {
				// Anything queued while we were busy? Otherwise close
				// the stream once idle; the connection stays warm.
				more, lerr := w.loadOutbox(func(id string) bool { return done[id] })
				if lerr != nil {
					return progressed, lerr
				}
				queue = append(queue, more...)
				if len(queue) == 0 && time.Since(idleSince) > transport.StreamIdle/2 {
					return progressed, nil
				}
			}
		}
	}
}

func (w *peerWorker) loadOutbox(skip func(id string) bool) ([]*store.Message, error) {
	var msgs []*store.Message
	err := w.e.o.Store.View(func(tx *store.ReadTx) error {
		var err error
		msgs, err = tx.Outbox(w.peer.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load outbox: %w", err)
	}
	if skip == nil {
		return msgs, nil
	}
	out := msgs[:0]
	for _, m := range msgs {
		if !skip(m.ID) {
			out = append(out, m)
		}
	}
	return out, nil
}

// open opens a delivery stream through the Dialer, bounded by IOTimeout.
func (w *peerWorker) open(ctx context.Context) (network.Stream, error) {
	cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
	defer cancel()
	return w.e.o.Dialer.Open(cctx, w.peer)
}

// readReceipts reads answers until the stream ends.
func (w *peerWorker) readReceipts(s network.Stream, out chan<- deliveryResult) error {
	for {
		if err := s.SetReadDeadline(time.Now().Add(transport.StreamIdle)); err != nil {
			return err
		}
		t, body, release, err := transport.ReadFrame(s, 64<<10)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var r deliveryResult
		switch t {
		case protocol.FrameReceipt:
			rc, perr := protocol.ParseReceipt(body)
			if perr != nil {
				release()
				return fmt.Errorf("bad receipt: %w", perr)
			}
			r = deliveryResult{msgID: rc.MessageID, receipt: rc}
		case protocol.FrameReject:
			rj, perr := protocol.ParseReject(body)
			if perr != nil {
				release()
				return fmt.Errorf("bad rejection: %w", perr)
			}
			r = deliveryResult{msgID: rj.MessageID, reject: &rj}
		default:
			release()
			return fmt.Errorf("unexpected frame type %d", t)
		}
		release()
		out <- r
	}
}

// recordOutcome stores a verified receipt (delivered) or a permanent
// refusal, and takes the message out of the outbox. The transaction reads
// only the message's record, not its envelope or case: it runs in the
// store's committer, on every request's path. The case's kind and
// urgency for the log line are read after "delivered" is reported.
func (w *peerWorker) recordOutcome(ctx context.Context, f *inflightMsg, r deliveryResult) {
	now := w.e.o.Now()
	recorded := false
	err := w.e.o.Store.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		recorded = false
		m, err := tx.MessageMeta(f.m.ID)
		if err != nil {
			return err
		}
		if m.State == store.StateDelivered || m.State == store.StateRejected {
			return nil
		}
		m.Attempts++
		m.UpdatedAt = now
		audit := store.AuditRecord{At: now, Actor: "node", CaseID: m.CaseID, MessageID: m.ID}
		if r.receipt != nil {
			m.State, m.Receipt, m.DeliveredAt, m.LastError = store.StateDelivered, r.receipt.Raw, r.receipt.ReceivedAt, ""
			audit.Action = "message.delivered"
			audit.Detail = "receipt signed by " + m.Country
		} else {
			m.State, m.LastError = store.StateRejected, r.reject.Code+": "+r.reject.Reason
			audit.Action = "message.rejected"
			audit.Detail = "refused by " + m.Country + ": " + r.reject.Code
		}
		tx.Dequeue(m)
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		recorded = true
		return tx.Audit(audit)
	})
	if err != nil {
		// Still queued: the next session resends and the receiver answers
		// with the same receipt.
		w.log.Error("record delivery outcome", zap.String("message_id", f.m.ID), zap.Error(err))
		return
	}
	if !recorded {
		return // an earlier session recorded it
	}
	w.e.o.Publisher.Case(f.m.CaseID)
	if r.receipt != nil {
		if w.e.o.ObserveLatency != nil {
			w.e.o.ObserveLatency(w.e.o.Now().Sub(f.m.CreatedAt).Seconds())
		}
		if w.e.o.OnDelivered != nil {
			w.e.o.OnDelivered(f.m.ID)
		}
		w.log.Info("delivered", append(w.caseMeta(f.m.CaseID), zap.String("message_id", f.m.ID), zap.String("case_id", f.m.CaseID),
			zap.String("type", f.m.Type))...)
	} else {
		w.log.Warn("peer refused message permanently", append(w.caseMeta(f.m.CaseID), zap.String("message_id", f.m.ID),
			zap.String("case_id", f.m.CaseID), zap.String("type", f.m.Type), zap.String("code", r.reject.Code))...)
	}
}

// caseMeta reads the case's kind and urgency for a log line (none if it
// cannot be read).
func (w *peerWorker) caseMeta(caseID string) []zap.Field {
	var meta []zap.Field
	_ = w.e.o.Store.View(func(tx *store.ReadTx) error {
		if c, err := tx.Case(caseID); err == nil && c != nil {
			meta = caseFields(c)
		}
		return nil
	})
	return meta
}

// recordFailure counts a failed attempt on messages that stay queued.
func (w *peerWorker) recordFailure(ctx context.Context, msgs []*store.Message, cause error) {
	now := w.e.o.Now()
	err := w.e.o.Store.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for _, fm := range msgs {
			m, err := tx.MessageMeta(fm.ID)
			if err != nil {
				return err
			}
			if m.State != store.StateQueued {
				continue
			}
			m.Attempts++
			m.LastError = cause.Error()
			m.UpdatedAt = now
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		w.log.Warn("record failed attempt", zap.Error(err))
	}
}
