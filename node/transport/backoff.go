package transport

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry number attempt: exponential from
// 250 ms, capped, with jitter over the upper half so peers that failed
// together do not retry in lockstep.
func Backoff(attempt int, max time.Duration) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}
