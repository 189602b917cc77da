package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/configs"
	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// pair is two in-process nodes of a fresh testnet on loopback: sender
// (the testnet's first country) and receiver (its second).
type pair struct {
	dir      string
	removeAt bool // remove dir on close
	man      *testnet.Manifest

	senderCfg, receiverCfg *config.Config
	sender, receiver       *node.Node
	to                     string // receiver's country
	doc                    []byte // the request every submission sends
	keys                   string // Harness.Keys

	tr     *Tracker
	cancel context.CancelFunc
}

// startPair creates a two-node testnet, starts both nodes in this process
// and waits until they are connected.
func startPair(ctx context.Context, o Harness) (p *pair, err error) {
	o.SetDefaults()
	dir, man, err := o.NewTestnet("vigil-bench-", 2, true)
	if err != nil {
		return nil, err
	}
	switch o.Keys {
	case KeysUUIDv7, KeysNone, KeysRandom:
	default:
		return nil, fmt.Errorf("bench keys %q: want %q, %q or %q", o.Keys, KeysUUIDv7, KeysRandom, KeysNone)
	}
	p = &pair{dir: dir, removeAt: !o.Keep, man: man, tr: NewTracker(), keys: o.Keys}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
			p = nil
		}
	}()
	if p.senderCfg, err = config.LoadConfig(p.man.Nodes[0].Config); err != nil {
		return p, err
	}
	if p.receiverCfg, err = config.LoadConfig(p.man.Nodes[1].Config); err != nil {
		return p, err
	}
	if o.Durability != "" {
		p.senderCfg.Store.Durability, p.receiverCfg.Store.Durability = o.Durability, o.Durability
		if err = p.senderCfg.Validate(); err != nil {
			return p, err
		}
	}
	p.to = p.man.Nodes[1].Country
	if p.doc, err = RequestDoc(p.to); err != nil {
		return p, err
	}

	nctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	if p.sender, err = node.New(p.senderCfg, node.Options{Logger: o.Logger.Named(p.man.Nodes[0].Country),
		OnDelivered: p.tr.Delivered}); err != nil {
		return p, fmt.Errorf("sender: %w", err)
	}
	if p.receiver, err = node.New(p.receiverCfg, node.Options{Logger: o.Logger.Named(p.to),
		OnReceived: p.tr.Received}); err != nil {
		return p, fmt.Errorf("receiver: %w", err)
	}
	if err = p.receiver.Start(nctx); err != nil {
		return p, fmt.Errorf("start receiver: %w", err)
	}
	if err = p.sender.Start(nctx); err != nil {
		return p, fmt.Errorf("start sender: %w", err)
	}
	return p, p.waitConnected(ctx, 20*time.Second)
}

func (p *pair) waitConnected(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.sender.Host().Network().Connectedness(p.receiver.PeerID()) == network.Connected &&
			p.receiver.Host().Network().Connectedness(p.sender.PeerID()) == network.Connected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes did not connect within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// close stops both nodes and removes the testnet directory unless kept.
func (p *pair) close() error {
	var errs []error
	for _, n := range []*node.Node{p.sender, p.receiver} {
		if n != nil {
			errs = append(errs, n.Close())
		}
	}
	if p.cancel != nil {
		p.cancel()
	}
	if p.removeAt && p.dir != "" {
		errs = append(errs, os.RemoveAll(p.dir))
	}
	return errors.Join(errs...)
}

// transports lists the remote addresses of the sender's connections to the
// receiver: which transport the measured traffic used.
func (p *pair) transports() []string {
	var out []string
	for _, c := range p.sender.Host().Network().ConnsToPeer(p.receiver.PeerID()) {
		out = append(out, fmt.Sprintf("%s (%s)", c.RemoteMultiaddr(), c.Stat().Direction))
	}
	return out
}

// sample is one request's timeline, each relative to the submit call.
type sample struct {
	submitted time.Duration // SubmitRequest returned: durable in the outbox
	received  time.Duration // durable at the receiver (its OnReceived)
	delivered time.Duration // receipt verified and durable at the sender
	at        time.Time     // when the delivery was recorded
}

// request submits one request and waits until its receipt is durable at
// the sender.
func (p *pair) request(ctx context.Context, timeout time.Duration) (sample, error) {
	t0 := time.Now()
	var opts []cases.SubmitOption
	switch p.keys {
	case KeysUUIDv7:
		// A UUIDv7 key, as client.NewIdempotencyKey makes (32 hex digits).
		opts = append(opts, cases.WithIdempotencyKey(protocol.NewID(time.Now())))
	case KeysRandom:
		opts = append(opts, cases.WithIdempotencyKey("r"+protocol.NewID(time.Now())))
	}
	sub, err := p.sender.Cases().Submit(ctx, "bench", p.doc, opts...)
	if err != nil {
		return sample{}, fmt.Errorf("submit: %w", err)
	}
	t1 := time.Now()
	at, err := p.tr.Wait(ctx, sub.MessageID, timeout)
	if err != nil {
		return sample{}, err
	}
	s := sample{submitted: t1.Sub(t0), delivered: at.Sub(t0), at: at}
	if rt, ok := p.tr.TakeReceived(sub.MessageID); ok {
		s.received = rt.Sub(t0)
	}
	return s, nil
}

// Tracker turns the nodes' OnReceived and OnDelivered hooks into per
// message timestamps. A delivery can be recorded before the submitter
// learns the message ID (SubmitRequest wakes the delivery worker before it
// returns), so unclaimed deliveries are buffered by ID.
type Tracker struct {
	mu      sync.Mutex
	waiting map[string]chan time.Time
	early   map[string]time.Time // delivered before anyone waited
	recvd   map[string]time.Time
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{waiting: map[string]chan time.Time{}, early: map[string]time.Time{}, recvd: map[string]time.Time{}}
}

// Delivered records that message id's receipt is durable at the sender
// (a node.Options.OnDelivered hook).
func (t *Tracker) Delivered(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.waiting[id]; ok {
		delete(t.waiting, id)
		ch <- now // buffered
		return
	}
	t.early[id] = now
}

// Received records that message id is durable at the receiver (a
// node.Options.OnReceived hook).
func (t *Tracker) Received(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recvd[id] = now
}

// TakeReceived returns, and forgets, when message id was received.
func (t *Tracker) TakeReceived(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.recvd[id]
	delete(t.recvd, id)
	return at, ok
}

// Wait returns when message id was delivered.
func (t *Tracker) Wait(ctx context.Context, id string, timeout time.Duration) (time.Time, error) {
	t.mu.Lock()
	if at, ok := t.early[id]; ok {
		delete(t.early, id)
		t.mu.Unlock()
		return at, nil
	}
	ch := make(chan time.Time, 1)
	t.waiting[id] = ch
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-ch:
		return at, nil
	case <-timer.C:
		err := fmt.Errorf("message %s: no durable receipt within %s", id, timeout)
		t.forget(id)
		return time.Time{}, err
	case <-ctx.Done():
		t.forget(id)
		return time.Time{}, ctx.Err()
	}
}

func (t *Tracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waiting, id)
	delete(t.recvd, id)
}

// RequestDoc is configs/examples/preservation.json addressed to country
// to (about 4.5 KiB of JSON), decoded and re-encoded so that the bytes do
// not depend on the file's layout: the same request the README sends, built
// into the binary so the benchmark does not depend on the working
// directory.
func RequestDoc(to string) ([]byte, error) {
	ex, err := configs.Example(string(protocol.KindPreservation))
	if err != nil {
		return nil, err
	}
	var req protocol.PreservationRequest
	if err := json.Unmarshal(ex, &req); err != nil {
		return nil, fmt.Errorf("bench request: %w", err)
	}
	req.To = to
	doc, err := json.MarshalIndent(&req, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := protocol.ParseRequest(doc); err != nil {
		return nil, fmt.Errorf("bench request does not validate: %w", err)
	}
	return doc, nil
}
