package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/vigil-network/vigil/node/transport"
	"go.uber.org/zap"
)

// Fault injection for test networks: scripted exercises (vigil testnet
// scenario) partition nodes, heal them and skew their clocks through the
// API. The routes exist on every node but answer 404 unless the config
// enables them with testing.fault_injection, which only `vigil testnet
// init` sets. They need the node token (or an admin), like a roster change.

// faultState is the node's injected faults besides partitions
// (node/transport/gater.go).
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

// ClockSkew is the injected clock offset.
func (n *Node) ClockSkew() time.Duration { return time.Duration(n.faults.skew.Load()) }

func (n *Node) faultsEnabled(w http.ResponseWriter) bool {
	if !n.cfg.Testing.FaultInjection {
		writeError(w, http.StatusNotFound, "fault injection is disabled on this node (testing.fault_injection)", nil)
		return false
	}
	return true
}

// PartitionRequest is the body of POST /api/v1/testing/partition: members
// to cut this node off from, by peer ID and/or country code.
type PartitionRequest struct {
	Peers     []string `json:"peers"`
	Countries []string `json:"countries"`
}

func (n *Node) handleTestPartition(w http.ResponseWriter, r *http.Request) {
	if !n.faultsEnabled(w) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req PartitionRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"peers": ["12D3Koo..."], "countries": ["DE"]}: `+err.Error(), nil)
		return
	}
	var ids []peer.ID
	for _, s := range req.Peers {
		id, err := peer.Decode(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("peer %q: %v", s, err), nil)
			return
		}
		ids = append(ids, id)
	}
	for _, cc := range req.Countries {
		id, _, ok := n.roster.byCountryCode(strings.ToUpper(cc))
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("country %q is not in the roster", cc), nil)
			return
		}
		ids = append(ids, id)
	}
	n.Partition(ids...)
	n.log.Warn("fault injection: partitioned from peers", zap.Int("peers", len(ids)), zap.String("actor", actorOf(r)))
	writeJSON(w, http.StatusOK, map[string]any{"partitioned": n.partitioned()})
}

// partitioned lists the peers currently cut off, sorted.
func (n *Node) partitioned() []string {
	ids := n.gater.Partitioned()
	out := make([]string, len(ids))
	for i, p := range ids {
		out[i] = p.String()
	}
	return out
}

func (n *Node) handleTestHeal(w http.ResponseWriter, r *http.Request) {
	if !n.faultsEnabled(w) {
		return
	}
	healed := n.gater.Partitioned()
	n.Heal()
	// Reconnect at once rather than after the connector's backoff, which
	// grew while the partition refused every dial.
	for _, p := range healed {
		n.peers.ResetBackoff(p)
		if n.roster.isMember(p) {
			n.goRun("heal-dial", func(ctx context.Context) {
				cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
				defer cancel()
				_ = n.host.Connect(cctx, peer.AddrInfo{ID: p})
			})
		}
	}
	n.log.Warn("fault injection: partition healed", zap.Int("peers", len(healed)), zap.String("actor", actorOf(r)))
	writeJSON(w, http.StatusOK, map[string]any{"healed": len(healed)})
}

// ClockRequest is the body of POST /api/v1/testing/clock.
type ClockRequest struct {
	// Skew is a Go duration ("10m", "-90s"); "0s" restores the clock.
	Skew string `json:"skew"`
}

func (n *Node) handleTestClock(w http.ResponseWriter, r *http.Request) {
	if !n.faultsEnabled(w) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req ClockRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"skew": "10m"}: `+err.Error(), nil)
		return
	}
	d, err := time.ParseDuration(req.Skew)
	if err != nil {
		writeError(w, http.StatusBadRequest, "skew: "+err.Error(), nil)
		return
	}
	n.SetClockSkew(d)
	n.log.Warn("fault injection: clock skewed", zap.Duration("skew", d), zap.String("actor", actorOf(r)))
	writeJSON(w, http.StatusOK, map[string]any{"skew": d.String(), "now": n.now().UTC()})
}
