package mesh

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
)

// Members is the membership source: the roster in force (roster.State).
type Members interface {
	Current() (*protocol.Roster, []byte)
	MemberByPeer(peer.ID) (protocol.Member, bool)
	IsMember(peer.ID) bool
}

// Observer hears what the mesh sees. The node fans it out to delivery (a
// member that connects gets an immediate retry) and roster gossip (an
// exchange with a member that connects; anti-entropy on connector rounds).
type Observer interface {
	// Round is called at the start of every connector pass (every 5 s),
	// numbered from 0.
	Round(round int)
	// MemberConnected is called when a roster member connects.
	MemberConnected(peer.ID)
	// PeerDisconnected is called when a peer's last connection closes.
	PeerDisconnected(peer.ID)
}

// Options are the mesh's settings and dependencies.
type Options struct {
	// Self is this node's peer ID: never dialled, and the side of a pair
	// that prunes duplicates and dials first is decided against it.
	Self peer.ID
	Now  func() time.Time
	// SharedMachine is testing.shared_machine: pings slow down with the
	// roster size.
	SharedMachine bool
	// MaxBackoff caps the wait between redials of a lost member
	// (delivery.max_backoff).
	MaxBackoff time.Duration
	Observer   Observer
	Logger     *zap.Logger
	// Go runs fn on a goroutine its owner (the node) stops with ctx and
	// waits for on close: dials, pings and the peer-event watcher run
	// there.
	Go func(name string, fn func(ctx context.Context))
}

// Mesh keeps the connections to every member warm.
type Mesh struct {
	host       host.Host
	members    Members
	self       peer.ID
	now        func() time.Time
	shared     bool
	maxBackoff time.Duration
	obs        Observer
	log        *zap.Logger
	goRun      func(name string, fn func(ctx context.Context))
	peers      *Peers

	ids sync.Map // roster peer ID string → decoded peer.ID (memberID)

	mu   sync.Mutex
	idle map[network.Conn]bool // duplicate connections idle on the last pass (pruneDuplicates)
}

// New returns the mesh of h's connections to members. Nothing runs until
// Watch and Run.
func New(h host.Host, members Members, o Options) *Mesh {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Mesh{host: h, members: members, self: o.Self, now: o.Now, shared: o.SharedMachine, maxBackoff: o.MaxBackoff,
		obs: o.Observer, log: o.Logger, goRun: o.Go, peers: newPeers(), idle: map[network.Conn]bool{}}
}

// Peers is what the mesh knows of each member: last seen, round trip.
func (m *Mesh) Peers() *Peers { return m.peers }

// memberID is mem.ID() without decoding the same base58 string every pass
// of the connector (192 members every 5 s).
func (m *Mesh) memberID(mem protocol.Member) (peer.ID, error) {
	if id, ok := m.ids.Load(mem.PeerID); ok {
		return id.(peer.ID), nil
	}
	id, err := mem.ID()
	if err == nil {
		m.ids.Store(mem.PeerID, id)
	}
	return id, err
}

// AddMemberAddrs puts a member's roster addresses in the peerstore.
func (m *Mesh) AddMemberAddrs(mem protocol.Member) {
	id, err := mem.ID()
	if err != nil || id == m.self {
		return
	}
	addrs, err := mem.Multiaddrs()
	if err != nil {
		return
	}
	m.host.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
}

// Open connects to member id if need be (from its roster addresses) and
// opens a stream for proto, accounted to the resource-manager service.
func (m *Mesh) Open(ctx context.Context, id peer.ID, proto libp2pprotocol.ID, service string) (network.Stream, error) {
	if mem, ok := m.members.MemberByPeer(id); ok {
		m.AddMemberAddrs(mem)
	}
	cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
	defer cancel()
	if err := m.host.Connect(cctx, peer.AddrInfo{ID: id}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s, err := m.host.NewStream(cctx, id, proto)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	if err := s.Scope().SetService(service); err != nil {
		s.Reset()
		return nil, fmt.Errorf("stream scope: %w", err)
	}
	return s, nil
}

// Dialer opens streams of one protocol: what a delivery outbox needs.
type Dialer struct {
	mesh    *Mesh
	proto   libp2pprotocol.ID
	service string
}

// Dialer returns a Dialer for proto, its streams accounted to service.
func (m *Mesh) Dialer(proto libp2pprotocol.ID, service string) Dialer {
	return Dialer{mesh: m, proto: proto, service: service}
}

// Open connects to member id if need be and opens a stream (Mesh.Open).
func (d Dialer) Open(ctx context.Context, id peer.ID) (network.Stream, error) {
	return d.mesh.Open(ctx, id, d.proto, d.service)
}

// Watch follows connectedness events until the owner's context ends: every
// event updates the peer's last-seen time, a member that connects and a
// peer that disconnects are passed to the Observer.
func (m *Mesh) Watch() error {
	sub, err := m.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return fmt.Errorf("subscribe to peer events: %w", err)
	}
	m.goRun("peer-events", func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				m.peerEvent(ev.(event.EvtPeerConnectednessChanged))
			}
		}
	})
	return nil
}

func (m *Mesh) peerEvent(e event.EvtPeerConnectednessChanged) {
	// Only the last-seen time: a connection the remote closes at once (it
	// gates us) must not reset the dial backoff, or a revoked member is
	// redialled every tick (issue 9 item 7). A ping answered over the
	// connection resets it (pingPeer).
	m.peers.Touch(e.Peer, m.now())
	if e.Connectedness == network.Connected && m.members.IsMember(e.Peer) {
		m.obs.MemberConnected(e.Peer)
	}
	if e.Connectedness != network.Connected {
		m.forgetConns(e.Peer)
		m.obs.PeerDisconnected(e.Peer)
	}
}
