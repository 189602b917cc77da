package node

import (
	"context"
	"net"
	"net/netip"
	"sort"
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

// rosterGater admits only current roster members. InterceptAccept closes
// connections from addresses no member uses before any handshake (unless
// network.behind_nat); InterceptSecured runs after the security handshake
// has proven the remote's peer ID and before any protocol, so a stranger
// never reaches a stream handler. Refusals are counted and logged once a
// minute per source (issue 9, "Transport").
type rosterGater struct {
	roster *rosterState
	log    *zap.Logger
	// extraDeny lets a test harness partition members (nil in production).
	extraDeny func(peer.ID) bool
	behindNAT bool
	// handshakeTimeout is network.handshake_timeout (host.go applies it).
	handshakeTimeout time.Duration
	now              func() time.Time

	refused *prometheus.CounterVec
	logs    *refusalLog
	pending handshakeTracker

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

func newRosterGater(roster *rosterState, log *zap.Logger, extraDeny func(peer.ID) bool, self peer.ID, cfg NetworkConfig) *rosterGater {
	g := &rosterGater{roster: roster, log: log, extraDeny: extraDeny, self: self, behindNAT: cfg.BehindNAT,
		handshakeTimeout: cfg.HandshakeTimeout, now: time.Now,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_p2p_connections_refused_total",
			Help: "libp2p connections refused, by reason (address: inbound from an IP no roster member uses; " +
				"peer: not a roster member; resources: resource manager limits; handshake: no finished handshake " +
				"within network.handshake_timeout, idle or failed) and direction.",
		}, []string{"reason", "direction"}),
		listed: map[string]ma.Multiaddr{}, resolved: map[string][]netip.Addr{}, resolveCh: make(chan struct{}, 1)}
	if g.handshakeTimeout <= 0 {
		g.handshakeTimeout = DefaultConfig().Network.HandshakeTimeout
	}
	g.logs = newRefusalLog(log, func() time.Time { return g.now() })
	g.pending.pending = map[string]pendingConn{}
	if r, _ := roster.current(); r != nil {
		g.setMembers(r)
	}
	return g
}

func (g *rosterGater) allowed(p peer.ID) bool {
	if g.extraDeny != nil && g.extraDeny(p) {
		return false
	}
	return g.roster.isMember(p)
}

func (g *rosterGater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p) }

func (g *rosterGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept runs for every inbound connection before the resource
// manager accounts it: a stranger's address costs nothing further.
func (g *rosterGater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	remote := addrs.RemoteMultiaddr()
	ip, ok := addrIP(remote)
	if !g.behindNAT && (!ok || !g.isMemberIP(ip)) {
		g.refuse(refuseAddress, network.DirInbound, remote, "")
		return false
	}
	g.pending.add(remote.String(), ip, g.now())
	return true
}

func (g *rosterGater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if dir == network.DirInbound {
		g.pending.done(addrs.RemoteMultiaddr().String())
	}
	if g.allowed(p) {
		return true
	}
	g.refuse(refusePeer, dir, addrs.RemoteMultiaddr(), p)
	return false
}

func (g *rosterGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// resourcesRefused is called by the resource manager wrapper (p2plimits.go)
// when it refuses to open a connection.
func (g *rosterGater) resourcesRefused(dir network.Direction, endpoint ma.Multiaddr) {
	if endpoint == nil {
		return
	}
	if dir == network.DirInbound {
		g.pending.done(endpoint.String())
	}
	g.refuse(refuseResources, dir, endpoint, "")
}

func (g *rosterGater) refuse(reason string, dir network.Direction, remote ma.Multiaddr, p peer.ID) {
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

func (g *rosterGater) isMemberIP(ip netip.Addr) bool {
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

// setMembers takes the IPs of every member's roster addresses (except this
// node's own entry) for the address check and the resource manager's
// allowlist. DNS names are resolved by run.
func (g *rosterGater) setMembers(r *protocol.Roster) {
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
		signal(g.resolveCh)
	}
}

// attachAllowlist hands the gater the resource manager's allowlist, which
// it keeps equal to the members' (IP, peer ID) pairs: a member's
// connection may use the allowlisted scopes when strangers have filled the
// ordinary transient scope (issue 9 item 9), and only that member's peer ID
// may keep them after the handshake.
func (g *rosterGater) attachAllowlist(al *rcmgr.Allowlist) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowlist = al
	g.rebuildLocked()
}

func (g *rosterGater) rebuildLocked() {
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

// run is the gater's upkeep until ctx ends: it counts handshakes that never
// finished, writes the aggregated refusal log once a minute and resolves
// members' DNS addresses.
func (g *rosterGater) run(ctx context.Context) {
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
func (g *rosterGater) sweepHandshakes() {
	// A little slack so a handshake finishing right at the deadline is
	// not counted as timed out.
	for _, ip := range g.pending.expire(g.now().Add(-g.handshakeTimeout - time.Second)) {
		g.refused.WithLabelValues(refuseHandshake, "inbound").Inc()
		g.logs.note(ip.String(), refuseHandshake, "inbound", "")
	}
}

// resolve looks up every member DNS name once. A name that does not
// resolve keeps its previous answer.
func (g *rosterGater) resolve(ctx context.Context) {
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

// Partition cuts this node off from the given members until Heal: their
// connections are closed and the gater refuses new ones. Deliveries to them
// queue as they would during a real outage.
func (n *Node) Partition(peers ...peer.ID) {
	n.partition.mu.Lock()
	if n.partition.peers == nil {
		n.partition.peers = map[peer.ID]bool{}
	}
	for _, p := range peers {
		n.partition.peers[p] = true
	}
	n.partition.mu.Unlock()
	for _, p := range peers {
		_ = n.host.Network().ClosePeer(p)
	}
}

// Heal ends every partition set with Partition.
func (n *Node) Heal() {
	n.partition.mu.Lock()
	healed := n.partition.peers
	n.partition.peers = nil
	n.partition.mu.Unlock()
	for p := range healed {
		n.engine.connected(p)
	}
}
