package testnet

import (
	"fmt"
	"os"

	"github.com/vigil-network/vigil/node/config"
)

// Node settings that only test networks use.
//
// Testnet nodes run one libp2p transport, TCP by default: a full mesh of
// 193 nodes on one machine holds 18,528 connections, and running both
// transports doubles the listeners and lets pairs connect over each. TCP
// costs one file descriptor per connection (192 per node process, far below
// the limit), and idles cheaper than QUIC, whose per-connection keep-alives,
// timers and buffers cost more memory and CPU at this scale; BENCHMARKS.md
// ("193-node testnet") has the measurements.

// testnetListen returns a node's listen addresses for the transport.
func testnetListen(transport string, port int) ([]string, error) {
	tcp := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	quic := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)
	switch transport {
	case "", "tcp":
		return []string{tcp}, nil
	case "quic":
		return []string{quic}, nil
	case "both":
		return []string{tcp, quic}, nil
	}
	return nil, fmt.Errorf("testnet init: transport %q must be tcp, quic or both", transport)
}

// testnetAdmission returns the per-member admission limits
// (node/admission) of a test network. By default they are the production
// ones, so a drill or scenario on a testnet meets the same limits as the
// real network, except the local disk reserve: every node of a testnet
// shares one machine's disk, so each keeps a small reserve instead of the
// production 512 MiB. Load tests (InitOptions.LoadLimits) push thousands
// of requests a second from one member and leave them open; they raise
// rates and quotas out of the way. Payload caps stay the production ones.
func testnetAdmission(load bool) *config.AdmissionConfig {
	a := config.DefaultAdmission()
	a.PeerReserveBytes = 16 << 20
	if load {
		a.Deliver = config.RateConfig{PerSecond: 1e5, Burst: 1e5}
		a.Drill = config.RateConfig{PerSecond: 1e4, Burst: 1e4}
		a.Roster = config.RateConfig{PerSecond: 1e3, Burst: 1e4}
		a.OpenCases = 10_000_000
		a.BytesPerDay = 1 << 40
		a.MessagesPerCase = 1_000_000
		a.PeerReserveBytes = 0
	}
	return &a
}

// appendTestnetConfig adds the testnet-only settings to a config that
// config.Init wrote: the transports and fault injection for scenarios.
func appendTestnetConfig(path, transport string) error {
	ts := "[tcp]"
	switch transport {
	case "quic":
		ts = "[quic]"
	case "both":
		ts = "[tcp, quic]"
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("testnet init: %w", err)
	}
	_, err = fmt.Fprintf(f, `
# Test network settings, written by 'vigil testnet init'.
# libp2p transports this node runs (its listen addresses use them).
transports: %s
testing:
  # POST /api/v1/testing/{partition,heal,clock} for 'vigil testnet scenario'.
  # Never enable this on a production node.
  fault_injection: true
  # The whole network runs on this machine: keep-alives and pings slow
  # down with the roster size (node/mesh.go).
  shared_machine: true
`, ts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("testnet init: write %s: %w", path, err)
	}
	return nil
}
