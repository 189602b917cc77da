package node

import (
	"sync/atomic"
	"time"
)

// Fault injection for test networks: scripted exercises (vigil testnet
// scenario) partition nodes, heal them and skew their clocks through the
// API. The routes exist on every node but answer 404 unless the config
// enables them with testing.fault_injection, which only `vigil testnet
// init` sets. They need the node token (or an admin), like a roster change.

// faultState is the node's injected faults besides partitions (gater.go).
type faultState struct {
	skew atomic.Int64 // clock offset in nanoseconds
}

// skewed wraps a clock with the injected offset.
func (f *faultState) skewed(base func() time.Time) func() time.Time {
	return func() time.Time {
		if d := f.skew.Load(); d != 0 {
			return base().Add(time.Duration(d))
		}
		return base()
	}
}

// SetClockSkew shifts the node's clock by d (0 restores it). Envelopes,
// receipts, deadlines and the audit log all use the shifted clock.
func (n *Node) SetClockSkew(d time.Duration) { n.faults.skew.Store(int64(d)) }
