package admission

import (
	"sync"
	"time"
)

// Sampler thins repeated log lines: per key (a member and a limit, or a
// peer and a rejection code) it lets the first line through, then at most
// one per interval carrying how many were held back. A flood of refusals
// then logs a line a minute instead of one per envelope (issue 9, item 6).
type Sampler struct {
	every time.Duration
	max   int

	mu   sync.Mutex
	keys map[string]*sample
}

type sample struct {
	last    time.Time
	skipped int64
}

// NewSampler lets one line per key through every interval, tracking at
// most maxKeys keys (older ones are forgotten first).
func NewSampler(every time.Duration, maxKeys int) *Sampler {
	return &Sampler{every: every, max: maxKeys, keys: map[string]*sample{}}
}

// Allow reports whether a line for key may be logged now and, if so, how
// many lines for key were suppressed since the last one.
func (s *Sampler) Allow(key string, now time.Time) (bool, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[key]
	if e == nil {
		if len(s.keys) >= s.max {
			s.prune(now)
		}
		s.keys[key] = &sample{last: now}
		return true, 0
	}
	if now.Sub(e.last) < s.every {
		e.skipped++
		return false, 0
	}
	n := e.skipped
	e.last, e.skipped = now, 0
	return true, n
}

// prune drops keys idle for two intervals, or all if none are: a key
// forgotten only logs one extra line.
func (s *Sampler) prune(now time.Time) {
	for k, e := range s.keys {
		if now.Sub(e.last) >= 2*s.every {
			delete(s.keys, k)
		}
	}
	if len(s.keys) >= s.max {
		clear(s.keys)
	}
}
