package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Per-operation costs behind the 193-node testnet measurements ('vigil
// testnet bench'): a drill ping, a roster verification (protocol package,
// BenchmarkVerifyRoster193) and a new connection, the unit of full-mesh
// formation (193·192/2 = 18,528 connections).
//
// The CPU metric (cpu-ms/op) is the whole process's user+system time over
// the loop divided by b.N: both ends of every exchange run in this process,
// so it is the CPU an operation costs the network, not one node. It also
// catches whatever else the process does meanwhile (the shared pair's
// keep-alives and timers, GC), which is small next to these operations.

// cpuMeter reports process CPU per op over a benchmark loop.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	d, ok := ProcessCPU()
	return cpuMeter{start: d, ok: ok}
}

func (m cpuMeter) report(b *testing.B) {
	end, ok := ProcessCPU()
	if !m.ok || !ok || b.N == 0 {
		return
	}
	b.ReportMetric((end-m.start).Seconds()/float64(b.N)*1e3, "cpu-ms/op")
}

// BenchmarkDrillPing is one reachability-drill ping per op from the
// sender node to the receiver node of the shared pair: a fresh stream on
// the warm connection (multistream negotiation), a signed ping, the
// receiver's verification and signed pong, and the sender's verification
// of it, through the node's own drill path (node.Ping), peer bookkeeping
// included. ns/op includes opening the stream; rtt-ns/op is send-to-verified-pong,
// the figure a drill run stores per member.
func BenchmarkDrillPing(b *testing.B) {
	p := sharedPair(b)
	ctx := context.Background()
	for range 10 { // warm up
		if _, err := p.sender.Drills().Ping(ctx, p.to); err != nil {
			b.Fatal(err)
		}
	}
	var sum time.Duration
	cpu := startCPU()
	for b.Loop() {
		rtt, err := p.sender.Drills().Ping(ctx, p.to)
		if err != nil {
			b.Fatal(err)
		}
		sum += rtt
	}
	cpu.report(b)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(b.N), "rtt-ns/op")
}

// BenchmarkReachabilityDrill1Member is one whole reachability drill per op
// through the node's exported API, on a roster of two: exactly one ping
// (node.pingMember, on the warm connection), plus what a run costs besides
// its pings: a goroutine, reading the previous run and durably storing
// the new one with its audit record in a single store transaction (one
// commit, fsynced), and the metrics update. ns/op minus
// BenchmarkDrillPing's is roughly that per-run overhead.
func BenchmarkReachabilityDrill1Member(b *testing.B) {
	p := sharedPair(b)
	ctx := context.Background()
	check := func() error {
		run, err := p.sender.Drills().RunReachabilityDrill(ctx, "bench")
		if err != nil {
			return err
		}
		if len(run.Results) != 1 || !run.Results[0].Reachable {
			return fmt.Errorf("drill run %+v: want exactly one reachable member", run.Results)
		}
		return nil
	}
	for range 5 { // warm up
		if err := check(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := startCPU()
	for b.Loop() {
		if err := check(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// bareHost is a libp2p host with the node's transport, security and muxer
// (node/host.go newHost, node/p2plimits.go): TCP, Noise, yamux, Ed25519
// identity, no relay, no metrics. It has no connection gater, no
// connection manager and no resource limits (the null resource manager),
// so the benchmark measures the handshake rather than the accounting. The
// node also offers TLS after Noise, which never comes into play between
// two vigil nodes; its yamux keep-alive settings do not affect a
// handshake.
func bareHost(tb testing.TB) host.Host {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("vigil/1"),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// connEvents signals each time h gains (up) or loses (down) a connection.
func connEvents(h host.Host) (up, down <-chan struct{}) {
	u, d := make(chan struct{}, 16), make(chan struct{}, 16)
	signal := func(ch chan struct{}) func(network.Network, network.Conn) {
		return func(network.Network, network.Conn) {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	h.Network().Notify(&network.NotifyBundle{ConnectedF: signal(u), DisconnectedF: signal(d)})
	return u, d
}

func await(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// BenchmarkConnectHandshake is one new libp2p connection per op between
// two hosts on 127.0.0.1, then its closing: the unit of full-mesh
// formation. Each op dials a fresh TCP connection (network.
// WithForceDirectDial; the previous one is closed and both hosts have
// seen it go before the next op starts), runs the Noise handshake and
// multistream negotiation of Noise and yamux, waits until the listener
// has the connection too (its Connected notification), then closes it
// (Network.ClosePeer) and waits for both sides' Disconnected
// notification. Closing is part of the op.
//
//   - connect: host.Connect, as the node's connector and drills dial:
//     it also waits for the identify exchange (one stream each way with
//     signed peer records), which every mesh connection runs.
//   - dial: Network.DialPeer returns once the connection is secured and
//     multiplexed; identify has started in the background and is cut
//     short by the close, so part of its cost still shows in cpu-ms/op.
func BenchmarkConnectHandshake(b *testing.B) {
	for _, mode := range []string{"connect", "dial"} {
		b.Run(mode, func(b *testing.B) {
			h1, h2 := bareHost(b), bareHost(b)
			h1.Peerstore().AddAddrs(h2.ID(), h2.Addrs(), peerstore.PermanentAddrTTL)
			_, gone1 := connEvents(h1)
			in2, gone2 := connEvents(h2)
			ctx := network.WithForceDirectDial(context.Background(), "bench")
			once := func() error {
				if h1.Network().Connectedness(h2.ID()) == network.Connected ||
					h2.Network().Connectedness(h1.ID()) == network.Connected {
					return errors.New("still connected before dialling")
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				var err error
				if mode == "connect" {
					err = h1.Connect(cctx, peer.AddrInfo{ID: h2.ID()})
				} else {
					_, err = h1.Network().DialPeer(cctx, h2.ID())
				}
				if err != nil {
					return err
				}
				if n := len(h1.Network().ConnsToPeer(h2.ID())); n != 1 {
					return fmt.Errorf("%d connections after dialling, want 1", n)
				}
				// The dialler can finish its upgrade before the listener
				// has: wait until h2 holds the connection too.
				if err := await(cctx, in2, "listener's side of the connection"); err != nil {
					return err
				}
				if err := h1.Network().ClosePeer(h2.ID()); err != nil {
					return err
				}
				if err := await(cctx, gone1, "close at the dialler"); err != nil {
					return err
				}
				return await(cctx, gone2, "close at the listener")
			}
			for range 5 { // warm up
				if err := once(); err != nil {
					b.Fatal(err)
				}
			}
			cpu := startCPU()
			for b.Loop() {
				if err := once(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}
