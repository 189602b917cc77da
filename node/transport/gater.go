package transport

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
)

// Reasons a connection is refused (label of vigil_p2p_connections_refused_total).
const (
	refuseAddress   = "address"   // inbound from an IP no member uses (InterceptAccept)
	refusePeer      = "peer"      // handshake proved a peer ID that is not a member (or is partitioned)
	refuseResources = "resources" // the resource manager's limits (transient scope, per-IP caps)
	refuseHandshake = "handshake" // accepted, but no finished handshake within network.handshake_timeout
)

const (
	// refusalLogWindow: refusals are logged once per window per source, with
	// a count (issue 9 item 7: ~180 refusal lines a second per node).
	refusalLogWindow = time.Minute
	// maxLogSources bounds the aggregator's memory under a flood from many
	// addresses; further sources share one "other" entry.
	maxLogSources = 1024
	// maxPendingHandshakes bounds the handshake tracker; beyond it new
	// connections are still admitted but their timeouts go uncounted.
	maxPendingHandshakes = 8192
	// dnsRefresh is how often member DNS addresses are resolved again.
	dnsRefresh = 10 * time.Minute
)

// Members answers whether a peer is a current roster member (the roster
// in force implements it).
type Members interface {
	IsMember(peer.ID) bool
}

// GaterOptions are the gater's settings, filled from the node's config.
type GaterOptions struct {
	// Self is this node's peer ID; its own roster entry is not allowlisted.
	Self peer.ID
	// BehindNAT turns the source-address check off (network.behind_nat).
	BehindNAT bool
	// HandshakeTimeout bounds an inbound connection's security and muxer
	// negotiation (network.handshake_timeout; NewHost applies it). It
	// must be positive.
	HandshakeTimeout time.Duration
	Logger           *zap.Logger
}

// Gater admits only current roster members. InterceptAccept closes
// connections from addresses no member uses before any handshake (unless
// BehindNAT); InterceptSecured runs after the security handshake has
// proven the remote's peer ID and before any protocol, so a stranger never
// reaches a stream handler. Refusals are counted and logged once a minute
// per source (issue 9, "Transport"). Members cut off by Partition are
// refused too.
type Gater struct {
	members          Members
	log              *zap.Logger
	behindNAT        bool
	handshakeTimeout time.Duration
	now              func() time.Time

	refused   *prometheus.CounterVec
	logs      *refusalLog
	pending   handshakeTracker
	partition partitionSet

	// memberIPs is the set of IPs the roster members' addresses use,
	// replaced whole on every roster change or DNS refresh.
	memberIPs atomic.Pointer[map[netip.Addr]struct{}]

	mu        sync.Mutex
	self      peer.ID
	literal   map[peer.ID][]netip.Addr // from /ip4 and /ip6 addresses
	dnsNames  map[string][]peer.ID     // /dns, /dns4, /dns6 names → members using them
	resolved  map[string][]netip.Addr  // last answer per DNS name
	allowlist *rcmgr.Allowlist         // the resource manager's (nil until the host exists)
	listed    map[string]ma.Multiaddr  // entries currently in allowlist
	resolveCh chan struct{}
}

// NewGater builds a gater that asks members who is in the roster. The
// member addresses for the address check come with SetMembers; until its
// first call every inbound connection is refused (unless BehindNAT).
func NewGater(members Members, o GaterOptions) (*Gater, error) {
	if o.HandshakeTimeout <= 0 {
		return nil, fmt.Errorf("gater: handshake timeout %v must be positive", o.HandshakeTimeout)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	g := &Gater{members: members, log: o.Logger, self: o.Self, behindNAT: o.BehindNAT,
		handshakeTimeout: o.HandshakeTimeout, now: time.Now,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_p2p_connections_refused_total",
			Help: "libp2p connections refused, by reason (address: inbound from an IP no roster member uses; " +
				"peer: not a roster member; resources: resource manager limits; handshake: no finished handshake " +
				"within network.handshake_timeout, idle or failed) and direction.",
		}, []string{"reason", "direction"}),
		listed: map[string]ma.Multiaddr{}, resolved: map[string][]netip.Addr{}, resolveCh: make(chan struct{}, 1)}
	g.logs = newRefusalLog(o.Logger, func() time.Time { return g.now() })
	g.pending.pending = map[string]pendingConn{}
	return g, nil
}

// RefusedConnections is the gater's counter of refused connections, for
// the node's metrics registry.
func (g *Gater) RefusedConnections() prometheus.Collector { return g.refused }

// Allowed reports whether p may hold a connection: a roster member not cut
// off by Partition.
func (g *Gater) Allowed(p peer.ID) bool {
	return !g.partition.has(p) && g.members.IsMember(p)
}

func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.Allowed(p) }

func (g *Gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept runs for every inbound connection before the resource
// manager accounts it: a stranger's address costs nothing further.
func (g *Gater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	remote := addrs.RemoteMultiaddr()
	ip, ok := addrIP(remote)
	if !g.behindNAT && (!ok || !g.isMemberIP(ip)) {
		g.refuse(refuseAddress, network.DirInbound, remote, "")
		return false
	}
	g.pending.add(remote.String(), ip, g.now())
	return true
}

func (g *Gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if dir == network.DirInbound {
		g.pending.done(addrs.RemoteMultiaddr().String())
	}
	if g.Allowed(p) {
		return true
	}
	g.refuse(refusePeer, dir, addrs.RemoteMultiaddr(), p)
	return false
}

func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// resourcesRefused is called by the resource manager wrapper (limits.go)
// when it refuses to open a connection.
func (g *Gater) resourcesRefused(dir network.Direction, endpoint ma.Multiaddr) {
	if endpoint == nil {
		return
	}
	if dir == network.DirInbound {
		g.pending.done(endpoint.String())
	}
	g.refuse(refuseResources, dir, endpoint, "")
}

func (g *Gater) refuse(reason string, dir network.Direction, remote ma.Multiaddr, p peer.ID) {
	d := "inbound"
	if dir == network.DirOutbound {
		d = "outbound"
	}
	g.refused.WithLabelValues(reason, d).Inc()
	src := "unknown"
	if ip, ok := addrIP(remote); ok {
		src = ip.String()
	}
	g.logs.note(src, reason, d, p)
}

func (g *Gater) isMemberIP(ip netip.Addr) bool {
	set := g.memberIPs.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[ip.Unmap()]
	return ok
}

// addrIP is the IP of a multiaddr (false for DNS or non-IP addresses).
func addrIP(m ma.Multiaddr) (netip.Addr, bool) {
	if m == nil {
		return netip.Addr{}, false
	}
	ip, err := manet.ToIP(m)
	if err != nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

// SetMembers takes the IPs of every member's roster addresses (except this
// node's own entry) for the address check and the resource manager's
// allowlist. DNS names are resolved by run.
func (g *Gater) SetMembers(r *protocol.Roster) {
	literal := map[peer.ID][]netip.Addr{}
	names := map[string][]peer.ID{}
	for _, m := range r.Members {
		id, err := m.ID()
		if err != nil || id == g.self {
			continue
		}
		addrs, err := m.Multiaddrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := addrIP(a); ok {
				literal[id] = append(literal[id], ip)
				continue
			}
			for _, code := range []int{ma.P_DNS, ma.P_DNS4, ma.P_DNS6} {
				if name, err := a.ValueForProtocol(code); err == nil {
					names[name] = append(names[name], id)
				}
			}
		}
	}
	g.mu.Lock()
	g.literal, g.dnsNames = literal, names
	for name := range g.resolved {
		if _, ok := names[name]; !ok {
			delete(g.resolved, name)
		}
	}
	g.rebuildLocked()
	g.mu.Unlock()
	if len(names) > 0 {
		select { // wake Run; one pending wake-up covers every change
		case g.resolveCh <- struct{}{}:
		default:
		}
	}
}

// attachAllowlist hands the gater the resource manager's allowlist, which
// it keeps equal to the members' (IP, peer ID) pairs: a member's
// connection may use the allowlisted scopes when strangers have filled the
// ordinary transient scope (issue 9 item 9), and only that member's peer ID
// may keep them after the handshake.
func (g *Gater) attachAllowlist(al *rcmgr.Allowlist) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowlist = al
	g.rebuildLocked()
}

func (g *Gater) rebuildLocked() {
	ips := map[netip.Addr]struct{}{}
	want := map[string]ma.Multiaddr{}
	add := func(id peer.ID, ip netip.Addr) {
		ips[ip] = struct{}{}
		proto := "ip4"
		if ip.Is6() {
			proto = "ip6"
		}
		m, err := ma.NewMultiaddr("/" + proto + "/" + ip.String() + "/p2p/" + id.String())
		if err == nil {
			want[m.String()] = m
		}
	}
	for id, list := range g.literal {
		for _, ip := range list {
			add(id, ip)
		}
	}
	for name, ids := range g.dnsNames {
		for _, ip := range g.resolved[name] {
			for _, id := range ids {
				add(id, ip)
			}
		}
	}
	g.memberIPs.Store(&ips)
	if g.allowlist == nil {
		return
	}
	for k, m := range g.listed {
		if _, ok := want[k]; !ok {
			if err := g.allowlist.Remove(m); err != nil {
				g.log.Warn("remove former member from the connection allowlist", zap.Stringer("addr", m), zap.Error(err))
			}
			delete(g.listed, k)
		}
	}
	for k, m := range want {
		if _, ok := g.listed[k]; ok {
			continue
		}
		if err := g.allowlist.Add(m); err != nil {
			g.log.Warn("add member to the connection allowlist", zap.Stringer("addr", m), zap.Error(err))
			continue
		}
		g.listed[k] = m
	}
}

// Run is the gater's upkeep until ctx ends: it counts handshakes that never
// finished, writes the aggregated refusal log once a minute and resolves
// members' DNS addresses.
func (g *Gater) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastFlush, lastResolve := g.now(), time.Time{}
	for {
		select {
		case <-ctx.Done():
			g.logs.flush()
			return
		case <-g.resolveCh:
			g.resolve(ctx)
			lastResolve = g.now()
		case <-tick.C:
			g.sweepHandshakes()
			now := g.now()
			if now.Sub(lastFlush) >= refusalLogWindow {
				g.logs.flush()
				lastFlush = now
			}
			if !lastResolve.IsZero() && now.Sub(lastResolve) >= dnsRefresh {
				g.resolve(ctx)
				lastResolve = now
			}
		}
	}
}

// sweepHandshakes counts (and forgets) accepted connections that did not
// finish their handshake within the timeout: the upgrader has closed them.
func (g *Gater) sweepHandshakes() {
	// A little slack so a handshake finishing right at the deadline is
	// not counted as timed out.
	for _, ip := range g.pending.expire(g.now().Add(-g.handshakeTimeout - time.Second)) {
		g.refused.WithLabelValues(refuseHandshake, "inbound").Inc()
		g.logs.note(ip.String(), refuseHandshake, "inbound", "")
	}
}

// resolve looks up every member DNS name once. A name that does not
// resolve keeps its previous answer.
func (g *Gater) resolve(ctx context.Context) {
	g.mu.Lock()
	names := make([]string, 0, len(g.dnsNames))
	for name := range g.dnsNames {
		names = append(names, name)
	}
	g.mu.Unlock()
	sort.Strings(names)
	answers := map[string][]netip.Addr{}
	for _, name := range names {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(cctx, "ip", name)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !g.behindNAT {
				g.log.Warn("member address does not resolve; inbound connections from it are refused until it does "+
					"(network.behind_nat: true turns the address check off)", zap.String("name", name), zap.Error(err))
			}
			continue
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		answers[name] = ips
	}
	g.mu.Lock()
	for name, ips := range answers {
		if _, ok := g.dnsNames[name]; ok {
			g.resolved[name] = ips
		}
	}
	g.rebuildLocked()
	g.mu.Unlock()
}

// handshakeTracker remembers inbound connections between InterceptAccept
// and InterceptSecured, keyed by remote address (IP and port), so those
// that never get there (idle, timed out, failed) can be counted.
type handshakeTracker struct {
	mu      sync.Mutex
	pending map[string]pendingConn
}

type pendingConn struct {
	ip    netip.Addr
	since time.Time
}

func (t *handshakeTracker) add(key string, ip netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) < maxPendingHandshakes {
		t.pending[key] = pendingConn{ip: ip, since: now}
	}
}

func (t *handshakeTracker) done(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, key)
}

// expire removes entries older than before and returns their IPs.
func (t *handshakeTracker) expire(before time.Time) []netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.Addr
	for k, p := range t.pending {
		if p.since.Before(before) {
			out = append(out, p.ip)
			delete(t.pending, k)
		}
	}
	return out
}

// refusalLog writes the first refusal from a source at once and then at
// most one summary line per source per refusalLogWindow with the count,
// instead of a line per refusal.
type refusalLog struct {
	log     *zap.Logger
	now     func() time.Time
	mu      sync.Mutex
	sources map[string]*refusalSource
}

type refusalSource struct {
	since      time.Time
	suppressed int
	reasons    map[string]int
	lastPeer   peer.ID
}

func newRefusalLog(log *zap.Logger, now func() time.Time) *refusalLog {
	return &refusalLog{log: log, now: now, sources: map[string]*refusalSource{}}
}

func (l *refusalLog) note(src, reason, dir string, p peer.ID) {
	l.mu.Lock()
	s, ok := l.sources[src]
	if !ok && len(l.sources) >= maxLogSources {
		src = "other"
		s, ok = l.sources[src]
	}
	if ok {
		s.suppressed++
		s.reasons[reason]++
		if p != "" {
			s.lastPeer = p
		}
		l.mu.Unlock()
		return
	}
	l.sources[src] = &refusalSource{since: l.now(), reasons: map[string]int{}}
	l.mu.Unlock()
	fields := []zap.Field{zap.String("source", src), zap.String("reason", reason), zap.String("direction", dir),
		zap.Duration("next_summary_within", refusalLogWindow)}
	if p != "" {
		fields = append(fields, zap.Stringer("peer", p))
	}
	l.log.Warn("refused connection; further refusals from this source are counted and summarised once a minute", fields...)
}

// flush writes one summary per source that had refusals since its last
// line and forgets sources that were quiet for a whole window.
func (l *refusalLog) flush() {
	now := l.now()
	type summary struct {
		src string
		s   *refusalSource
	}
	var out []summary
	l.mu.Lock()
	for src, s := range l.sources {
		if s.suppressed == 0 {
			if now.Sub(s.since) >= refusalLogWindow {
				delete(l.sources, src)
			}
			continue
		}
		cp := *s
		out = append(out, summary{src, &cp})
		s.suppressed, s.reasons, s.since = 0, map[string]int{}, now
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].src < out[j].src })
	for _, o := range out {
		fields := []zap.Field{zap.String("source", o.src), zap.Int("count", o.s.suppressed),
			zap.Any("reasons", o.s.reasons), zap.Duration("over", now.Sub(o.s.since))}
		if o.s.lastPeer != "" {
			fields = append(fields, zap.Stringer("peer", o.s.lastPeer))
		}
		l.log.Warn("refused connections from this source", fields...)
	}
}

// partitionSet is a set of peers the gater refuses on top of the roster,
// used by drills and tests to simulate a network partition.
type partitionSet struct {
	mu    sync.RWMutex
	peers map[peer.ID]bool
}

func (p *partitionSet) has(id peer.ID) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.peers[id]
}

// Partition refuses the given members until Heal, as if the network
// between them and this node were cut. It closes no connection; the caller
// does.
func (g *Gater) Partition(peers ...peer.ID) {
	g.partition.mu.Lock()
	defer g.partition.mu.Unlock()
	if g.partition.peers == nil {
		g.partition.peers = map[peer.ID]bool{}
	}
	for _, p := range peers {
		g.partition.peers[p] = true
	}
}

// Heal ends every partition and returns the peers it had cut off.
func (g *Gater) Heal() []peer.ID {
	g.partition.mu.Lock()
	healed := g.partition.peers
	g.partition.peers = nil
	g.partition.mu.Unlock()
	return slices.Collect(maps.Keys(healed))
}

// Partitioned lists the peers currently cut off, sorted by their printed
// form.
func (g *Gater) Partitioned() []peer.ID {
	g.partition.mu.RLock()
	out := slices.Collect(maps.Keys(g.partition.peers))
	g.partition.mu.RUnlock()
	slices.SortFunc(out, func(a, b peer.ID) int { return strings.Compare(a.String(), b.String()) })
	return out
}
