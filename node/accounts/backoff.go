package accounts

import (
	"container/list"
	"fmt"
	"sync"
	"time"
)

// freeFailures is how many consecutive failed logins from one source for
// one account cost nothing (typos); each further one doubles the wait,
// from one second up to Options.MaxBackoff.
const freeFailures = 3

// ThrottledError says a login was not tried because the source failed too
// often for the account, and when it may try again. It matches
// ErrThrottled.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// backoffSet slows down failed logins per (source, account): after
// freeFailures consecutive failures each attempt waits twice as long as
// the last, up to max, and a success clears it. Unlike a lock, it never
// refuses the right password for long: the wait is at most max, and it
// holds only the source that failed. At most one attempt per key is in
// flight once failures begin, so parallel guesses gain nothing. It keeps
// at most size keys; the least recently used is forgotten first.
type backoffSet struct {
	mu    sync.Mutex
	max   time.Duration
	size  int
	lru   *list.List // of *backoffEntry, most recent first
	byKey map[backoffKey]*list.Element
}

type backoffKey struct{ source, user string }

type backoffEntry struct {
	key      backoffKey
	failures int
	until    time.Time // no attempt before this
	inFlight int
}

func newBackoffSet(max time.Duration, size int) *backoffSet {
	return &backoffSet{max: max, size: size, lru: list.New(), byKey: map[backoffKey]*list.Element{}}
}

// delay is the wait after n consecutive failures.
func (s *backoffSet) delay(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	d := time.Second
	for i := freeFailures; i < n && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

// begin admits an attempt for key at now, or says how long to wait.
// Every admitted attempt must be ended with end.
func (s *backoffSet) begin(k backoffKey, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byKey[k]
	if !ok {
		for s.lru.Len() >= s.size {
			old := s.lru.Back()
			s.lru.Remove(old)
			delete(s.byKey, old.Value.(*backoffEntry).key)
		}
		el = s.lru.PushFront(&backoffEntry{key: k})
		s.byKey[k] = el
	}
	s.lru.MoveToFront(el)
	e := el.Value.(*backoffEntry)
	if wait := e.until.Sub(now); wait > 0 {
		return wait, false
	}
	if e.inFlight > 0 && s.delay(e.failures+1) > 0 {
		return time.Second, false
	}
	e.inFlight++
	return 0, true
}

// outcome is how an admitted attempt ended.
type outcome int

const (
	attemptNeutral outcome = iota // neither right nor wrong (code missing, error)
	attemptFailed
	attemptSucceeded
)

func (s *backoffSet) end(k backoffKey, now time.Time, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byKey[k]
	if !ok {
		return // forgotten meanwhile
	}
	e := el.Value.(*backoffEntry)
	e.inFlight = max(e.inFlight-1, 0)
	switch o {
	case attemptFailed:
		e.failures++
		e.until = now.Add(s.delay(e.failures))
	case attemptSucceeded:
		if e.inFlight == 0 {
			s.lru.Remove(el)
			delete(s.byKey, k)
		} else {
			e.failures, e.until = 0, time.Time{}
		}
	}
}

// forget clears the backoff of every source for user (an admin unlock).
func (s *backoffSet) forget(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, el := range s.byKey {
		if k.user == user {
			s.lru.Remove(el)
			delete(s.byKey, k)
		}
	}
}

func (s *backoffSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}
