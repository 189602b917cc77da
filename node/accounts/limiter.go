package accounts

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet keeps one token bucket per key (a remote address or a user
// name) with at most max keys. The least recently used key is evicted when
// the set is full; an evicted key starts again with a full bucket, which
// only matters to an attacker who can cycle through more than max keys, and
// the per-user limiter and the lockout still hold for those.
type limiterSet struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int
	lru   *list.List // of *limiterEntry, most recent first
	byKey map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newLimiterSet(perMinute, burst, max int) *limiterSet {
	return &limiterSet{
		limit: rate.Limit(float64(perMinute) / 60),
		burst: burst,
		max:   max,
		lru:   list.New(),
		byKey: map[string]*list.Element{},
	}
}

// allow takes one token from key's bucket at now.
func (s *limiterSet) allow(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[key]; ok {
		s.lru.MoveToFront(el)
		return el.Value.(*limiterEntry).lim.AllowN(now, 1)
	}
	for s.lru.Len() >= s.max {
		old := s.lru.Back()
		s.lru.Remove(old)
		delete(s.byKey, old.Value.(*limiterEntry).key)
	}
	e := &limiterEntry{key: key, lim: rate.NewLimiter(s.limit, s.burst)}
	s.byKey[key] = s.lru.PushFront(e)
	return e.lim.AllowN(now, 1)
}

func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// remoteKey reduces a remote address ("host:port" as in
// http.Request.RemoteAddr, or a bare host) to the unit that is throttled:
// the IPv4 address, or the /64 of an IPv6 address (one host usually holds a
// whole /64, so per-address limits would be trivial to dodge).
func remoteKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
