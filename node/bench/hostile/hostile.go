// Package hostile drives the attacks of issue 9 ("A hostile or broken
// member cannot take another state's contact point down") against a real
// node: a real libp2p host on 127.0.0.1 holding one roster member's own
// identity and encryption keys, so everything it sends is validly signed
// and sealed, plus raw TCP connections that hold no key at all.
//
// The node tests (node/hostile_test.go) use it to assert what the victim
// does under each attack; `vigil bench --flood` (node/bench/flood) uses
// it to measure an honest member's latency while the victim is flooded.
//
// Every operation is bounded in count and in time, and every goroutine a
// Driver starts is owned by it and stopped by Close.
package hostile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// Member is the attacker: one roster member's keys.
type Member struct {
	Country  string
	Identity crypto.PrivKey
	Sealer   *protocol.Sealer
	// Listen are the libp2p addresses the driver's host listens on. The
	// member's roster addresses make the victim's own dials (deliveries to
	// this member, roster pulls) reach the driver, as they would reach a
	// real hostile node.
	Listen []string
}

// LoadMember reads a testnet node's keys. The node itself must not be
// running: two hosts with one peer ID would fight over connections.
func LoadMember(e testnet.NodeEntry, listen []string) (*Member, error) {
	id, err := config.LoadIdentityKey(filepath.Join(e.Dir, "keys", "identity.key"))
	if err != nil {
		return nil, fmt.Errorf("hostile member %s: %w", e.Country, err)
	}
	enc, err := config.LoadEncryptionKey(filepath.Join(e.Dir, "keys", "encryption.key"))
	if err != nil {
		return nil, fmt.Errorf("hostile member %s: %w", e.Country, err)
	}
	s, err := protocol.NewSealer(id, enc)
	if err != nil {
		return nil, fmt.Errorf("hostile member %s: %w", e.Country, err)
	}
	return &Member{Country: e.Country, Identity: id, Sealer: s, Listen: listen}, nil
}

// Target is the victim as the roster describes it.
type Target struct {
	Country string
	ID      peer.ID
	Addrs   []ma.Multiaddr
	EncKey  [32]byte
}

// TargetOf reads the victim's roster entry.
func TargetOf(m protocol.Member) (Target, error) {
	id, err := m.ID()
	if err != nil {
		return Target{}, fmt.Errorf("target %s: %w", m.Country, err)
	}
	addrs, err := m.Multiaddrs()
	if err != nil {
		return Target{}, fmt.Errorf("target %s: %w", m.Country, err)
	}
	enc, err := m.EncryptionPublic()
	if err != nil {
		return Target{}, fmt.Errorf("target %s: %w", m.Country, err)
	}
	return Target{Country: string(m.Country), ID: id, Addrs: addrs, EncKey: enc}, nil
}

// RosterMember reads one member from a testnet's signed roster.
func RosterMember(man *testnet.Manifest, country string) (protocol.Member, error) {
	doc, err := os.ReadFile(man.Roster)
	if err != nil {
		return protocol.Member{}, fmt.Errorf("read roster: %w", err)
	}
	pub, err := protocol.ParseAuthorityKey(man.AuthorityKey)
	if err != nil {
		return protocol.Member{}, fmt.Errorf("authority key: %w", err)
	}
	r, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		return protocol.Member{}, fmt.Errorf("verify roster: %w", err)
	}
	m, ok := r.Member(protocol.CountryCode(country))
	if !ok {
		return protocol.Member{}, fmt.Errorf("%s is not in the roster", country)
	}
	return m, nil
}

// Driver is the hostile member's host aimed at one victim.
type Driver struct {
	m      *Member
	victim Target
	host   host.Host
	now    func() time.Time
	// outsider is the source address of raw idle connections.
	outsider net.IP

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	raw      []net.Conn            // idle raw TCP connections (HoldIdle)
	refill   context.CancelFunc    // stops KeepIdle's refilling
	inbox    []protocol.Header     // envelopes the victim delivered to us
	inboxCap int                   // bound on inbox
	served   map[string]*sentReply // our receipts, by message ID, for replays
}

type sentReply struct{ receipt []byte }

// Options configures New.
type Options struct {
	// Now is the driver's clock for envelope timestamps [time.Now]; tests
	// with a shifted federation clock pass theirs.
	Now func() time.Time
	// Inbox bounds how many delivered envelope headers are kept [10,000].
	Inbox int
	// OutsiderIP is the source address of the raw idle connections
	// (HoldIdle, KeepIdle): an outsider is not at a member's address,
	// so a test on loopback gives it another one, e.g. 127.0.0.2 [any].
	OutsiderIP net.IP
}

// New starts the driver's host, connects it to the victim and serves
// /vigil/deliver so the victim's own deliveries to this member succeed:
// that is how a counterparty learns the case IDs it then attacks.
func New(ctx context.Context, m *Member, victim Target, o Options) (*Driver, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Inbox <= 0 {
		o.Inbox = 10_000
	}
	opts := []libp2p.Option{libp2p.Identity(m.Identity), libp2p.DisableRelay(), libp2p.DisableMetrics(),
		libp2p.UserAgent("vigil-hostile/1")}
	if len(m.Listen) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(m.Listen...))
	} else {
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("hostile host: %w", err)
	}
	dctx, cancel := context.WithCancel(ctx)
	d := &Driver{m: m, victim: victim, host: h, now: o.Now, outsider: o.OutsiderIP, ctx: dctx, cancel: cancel,
		inboxCap: o.Inbox, served: map[string]*sentReply{}}
	h.SetStreamHandler(deliver.ID, d.serveDeliver)
	cctx, ccancel := context.WithTimeout(dctx, 20*time.Second)
	defer ccancel()
	if err := h.Connect(cctx, peer.AddrInfo{ID: victim.ID, Addrs: victim.Addrs}); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("hostile host: connect to %s: %w", victim.Country, err)
	}
	return d, nil
}

// Host is the driver's libp2p host.
func (d *Driver) Host() host.Host { return d.host }

// Close stops every operation in flight, closes the raw connections and
// the host, and waits for the driver's goroutines.
func (d *Driver) Close() error {
	d.cancel() // also ends KeepIdle
	d.mu.Lock()
	for _, c := range d.raw {
		_ = c.Close()
	}
	d.raw = nil
	d.mu.Unlock()
	err := d.host.Close()
	d.wg.Wait()
	return err
}

// Inbox returns the headers of the envelopes the victim delivered to the
// hostile member, in arrival order.
func (d *Driver) Inbox() []protocol.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]protocol.Header(nil), d.inbox...)
}

// serveDeliver receipts whatever the victim delivers without opening it:
// the attacker needs only the case IDs from the cleartext header.
func (d *Driver) serveDeliver(s network.Stream) {
	d.wg.Add(1)
	defer d.wg.Done()
	defer s.Close()
	for {
		if d.ctx.Err() != nil {
			s.Reset()
			return
		}
		_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
		t, body, err := protocol.ReadFrame(s, protocol.MaxFrameSize)
		if err != nil {
			return
		}
		if t != protocol.FrameEnvelope {
			s.Reset()
			return
		}
		env, err := protocol.ParseEnvelope(body)
		if err != nil {
			s.Reset()
			return
		}
		d.mu.Lock()
		prev := d.served[env.MessageID]
		d.mu.Unlock()
		var rc []byte
		if prev != nil {
			rc = prev.receipt
		} else {
			r, err := protocol.SignReceipt(d.m.Identity, env, d.now())
			if err != nil {
				s.Reset()
				return
			}
			rc = r.Raw
			d.mu.Lock()
			if len(d.inbox) < d.inboxCap {
				d.inbox = append(d.inbox, env.Header)
				d.served[env.MessageID] = &sentReply{receipt: rc}
			}
			d.mu.Unlock()
		}
		_ = s.SetWriteDeadline(time.Now().Add(15 * time.Second))
		if err := protocol.WriteFrame(s, protocol.FrameReceipt, rc); err != nil {
			return
		}
	}
}

// Seal seals one envelope of type t on caseID (a fresh case if empty) to
// the victim.
func (d *Driver) Seal(t protocol.MessageType, caseID string, payload []byte) (*protocol.Envelope, error) {
	now := d.now()
	if caseID == "" {
		caseID = protocol.NewID(now)
	}
	return d.m.Sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: caseID, Type: t,
		Recipient: d.victim.ID, CreatedAt: now}, d.victim.EncKey, payload)
}

// Answer is the victim's reply to one envelope.
type Answer struct {
	MessageID string
	CaseID    string
	Receipted bool
	Receipt   []byte
	Reject    *protocol.Reject
	// Err is set when no answer came: the stream was reset or timed out.
	Err error
}

// Send delivers one raw envelope on a fresh stream and returns the answer.
func (d *Driver) Send(ctx context.Context, raw []byte) Answer {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := d.host.NewStream(ctx, d.victim.ID, deliver.ID)
	if err != nil {
		return Answer{Err: fmt.Errorf("open delivery stream: %w", err)}
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(20 * time.Second))
	if err := protocol.WriteFrame(s, protocol.FrameEnvelope, raw); err != nil {
		s.Reset()
		return Answer{Err: fmt.Errorf("write envelope: %w", err)}
	}
	t, body, err := protocol.ReadFrame(s, protocol.MaxFrameSize)
	if err != nil {
		s.Reset()
		return Answer{Err: fmt.Errorf("read answer: %w", err)}
	}
	return decodeAnswer(t, body)
}

func decodeAnswer(t protocol.FrameType, body []byte) Answer {
	switch t {
	case protocol.FrameReceipt:
		r, err := protocol.ParseReceipt(body)
		if err != nil {
			return Answer{Err: fmt.Errorf("parse receipt: %w", err)}
		}
		return Answer{MessageID: r.MessageID, Receipted: true, Receipt: body}
	case protocol.FrameReject:
		rj, err := protocol.ParseReject(body)
		if err != nil {
			return Answer{Err: fmt.Errorf("parse reject: %w", err)}
		}
		return Answer{MessageID: rj.MessageID, Reject: &rj}
	default:
		return Answer{Err: fmt.Errorf("unexpected answer frame %d", t)}
	}
}

// rawDialer dials from the outsider's address, if one is set.
func (d *Driver) rawDialer() net.Dialer {
	if d.outsider == nil {
		return net.Dialer{}
	}
	return net.Dialer{LocalAddr: &net.TCPAddr{IP: d.outsider}}
}

// HoldIdle opens n raw TCP connections to the victim's libp2p TCP address
// and sends nothing on them (attack 9: an outsider without a key). It
// returns how many the victim let stay open after settle (it may close
// the rest); they are held until Close or ReleaseIdle.
func (d *Driver) HoldIdle(ctx context.Context, n int, settle time.Duration) (open int, err error) {
	addr, err := tcpAddr(d.victim.Addrs)
	if err != nil {
		return 0, err
	}
	dialer := d.rawDialer()
	var conns []net.Conn
	for i := 0; i < n; i++ {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := dialer.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			break // the victim's backlog or its InterceptAccept said no
		}
		conns = append(conns, c)
	}
	d.mu.Lock()
	d.raw = append(d.raw, conns...)
	d.mu.Unlock()
	if settle > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(settle):
		}
	}
	return d.IdleOpen(), nil
}

// IdleOpen probes the held raw connections and counts those the victim
// has not closed. A probe is a zero-length read with a tiny deadline:
// EOF or a reset means closed.
func (d *Driver) IdleOpen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	open := 0
	buf := make([]byte, 1)
	for _, c := range d.raw {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			open++ // nothing to read but still open (the victim may talk first)
		}
	}
	return open
}

// KeepIdle refills the held raw connections to n, as the attacker
// did, every interval: a victim that times handshakes out is pressed
// again at once. It makes at most maxDials dials in all and runs until
// StopRefill, ReleaseIdle or Close.
func (d *Driver) KeepIdle(n, maxDials int, interval time.Duration) error {
	addr, err := tcpAddr(d.victim.Addrs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.mu.Lock()
	if d.refill != nil {
		d.refill()
	}
	d.refill = cancel
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		dials := 0
		dialer := d.rawDialer()
		for dials < maxDials {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			d.pruneClosed()
			d.mu.Lock()
			missing := n - len(d.raw)
			d.mu.Unlock()
			for i := 0; i < missing && dials < maxDials && ctx.Err() == nil; i++ {
				dials++
				dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
				c, err := dialer.DialContext(dctx, "tcp", addr)
				dcancel()
				if err != nil {
					break
				}
				d.mu.Lock()
				if ctx.Err() != nil {
					c.Close()
				} else {
					d.raw = append(d.raw, c)
				}
				d.mu.Unlock()
			}
		}
	}()
	return nil
}

// StopRefill stops KeepIdle; the connections stay held.
func (d *Driver) StopRefill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refill != nil {
		d.refill()
		d.refill = nil
	}
}

// pruneClosed drops held connections the victim closed.
func (d *Driver) pruneClosed() {
	d.mu.Lock()
	defer d.mu.Unlock()
	buf := make([]byte, 1)
	kept := d.raw[:0]
	for _, c := range d.raw {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			kept = append(kept, c)
			continue
		}
		c.Close()
	}
	d.raw = kept
}

// ReleaseIdle stops refilling and closes the held raw connections.
func (d *Driver) ReleaseIdle() {
	d.StopRefill()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.raw {
		_ = c.Close()
	}
	d.raw = nil
}

func tcpAddr(addrs []ma.Multiaddr) (string, error) {
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
			continue
		}
		na, err := manet.ToNetAddr(a)
		if err != nil {
			continue
		}
		return na.String(), nil
	}
	return "", fmt.Errorf("victim has no TCP address in %v", addrs)
}
