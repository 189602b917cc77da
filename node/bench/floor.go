package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"golang.org/x/sys/unix"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// fsyncProbe measures a durable 4 KiB write on a directory's filesystem,
// in two forms sampled alternately, so that both see the same disk:
//
//   - F: append 4 KiB to a file and fsync it, what a plain log pays;
//   - F_pre: overwrite 4 KiB in place in a preallocated, synced file and
//     fdatasync it, with no metadata to write: what the store's journal
//     pays (store/journal), the cheapest durable write the disk offers.
type fsyncProbe struct {
	f, pre *os.File
	off    int64
	buf    []byte
}

// preallocSize is the preallocated file's size; writes wrap around in it.
const preallocSize = 8 << 20

// newFsyncProbe creates the scratch files in dir and warms them up.
func newFsyncProbe(dir string) (p *fsyncProbe, err error) {
	p = &fsyncProbe{buf: make([]byte, 4<<10)}
	defer func() {
		if err != nil {
			p.close()
			err = fmt.Errorf("fsync floor: %w", err)
		}
	}()
	for i := range p.buf {
		p.buf[i] = byte(i)
	}
	if p.f, err = os.CreateTemp(dir, "bench-fsync-*.tmp"); err != nil {
		return p, err
	}
	if p.pre, err = os.CreateTemp(dir, "bench-fdatasync-*.tmp"); err != nil {
		return p, err
	}
	if _, err = p.pre.Write(make([]byte, preallocSize)); err != nil {
		return p, err
	}
	if err = p.pre.Sync(); err != nil {
		return p, err
	}
	for i := 0; i < 10; i++ {
		if _, _, err = p.once(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// once takes one sample of each: F, then F_pre.
func (p *fsyncProbe) once() (f, pre time.Duration, err error) {
	t0 := time.Now()
	if _, err := p.f.Write(p.buf); err != nil {
		return 0, 0, fmt.Errorf("fsync floor: write: %w", err)
	}
	if err := p.f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("fsync floor: sync: %w", err)
	}
	t1 := time.Now()
	if _, err := p.pre.WriteAt(p.buf, p.off); err != nil {
		return 0, 0, fmt.Errorf("fdatasync floor: write: %w", err)
	}
	if err := unix.Fdatasync(int(p.pre.Fd())); err != nil {
		return 0, 0, fmt.Errorf("fdatasync floor: sync: %w", err)
	}
	p.off = (p.off + int64(len(p.buf))) % preallocSize
	return t1.Sub(t0), time.Since(t1), nil
}

// fsyncSamples are the probe's samples so far.
type fsyncSamples struct{ f, pre []time.Duration }

func (s *fsyncSamples) add(p *fsyncProbe) error {
	f, pre, err := p.once()
	if err != nil {
		return err
	}
	s.f, s.pre = append(s.f, f), append(s.pre, pre)
	return nil
}

// fill samples until s holds n of each.
func (p *fsyncProbe) fill(s *fsyncSamples, n int) error {
	for len(s.f) < n {
		if err := s.add(p); err != nil {
			return err
		}
	}
	return nil
}

func (p *fsyncProbe) close() {
	for _, f := range []*os.File{p.f, p.pre} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

// pingLatencies measures libp2p round trips on one warm stream with
// go-libp2p's ping protocol (32 bytes each way), n samples after a short
// warm-up that also opens and negotiates the stream.
func pingLatencies(ctx context.Context, h host.Host, p peer.ID, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(n)*10*time.Millisecond)
	defer cancel()
	const warm = 10
	results := ping.Ping(ctx, h, p)
	out := make([]time.Duration, 0, n)
	for i := 0; i < warm+n; i++ {
		select {
		case res, ok := <-results:
			if !ok {
				return nil, fmt.Errorf("round-trip floor: ping stream closed")
			}
			if res.Error != nil {
				return nil, fmt.Errorf("round-trip floor: ping: %w", res.Error)
			}
			if i >= warm {
				out = append(out, res.RTT)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("round-trip floor: %w", ctx.Err())
		}
	}
	return out, nil
}

// roundTripIdle is how long the floor's idle round trips wait first.
const roundTripIdle = time.Millisecond

// idleRoundTrips is pingLatencies with the stream left idle for idle
// before each ping. Each network hop of a request follows a wait for an
// fdatasync, with the machine's CPUs halted; on a VM waking them costs
// more than a back-to-back ping shows (BENCHMARKS.md, "wake-up").
func idleRoundTrips(ctx context.Context, h host.Host, p peer.ID, n int, idle time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(n)*(idle+10*time.Millisecond))
	defer cancel()
	s, err := h.NewStream(ctx, p, ping.ID)
	if err != nil {
		return nil, fmt.Errorf("idle round-trip floor: %w", err)
	}
	defer s.Reset()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	const warm = 10
	out, buf, back := make([]time.Duration, 0, n), make([]byte, ping.PingSize), make([]byte, ping.PingSize)
	for i := 0; i < warm+n; i++ {
		time.Sleep(idle)
		_, _ = rand.Read(buf)
		start := time.Now()
		if _, err := s.Write(buf); err != nil {
			return nil, fmt.Errorf("idle round-trip floor: %w", err)
		}
		if _, err := io.ReadFull(s, back); err != nil {
			return nil, fmt.Errorf("idle round-trip floor: %w", err)
		}
		rtt := time.Since(start)
		if !bytes.Equal(buf, back) {
			return nil, fmt.Errorf("idle round-trip floor: the ping came back altered")
		}
		if i >= warm {
			out = append(out, rtt)
		}
	}
	return out, nil
}

// party is one side of the crypto floor: identity key, sealer and keys.
type party struct {
	key    crypto.PrivKey
	id     peer.ID
	enc    protocol.EncryptionKey
	sealer *protocol.Sealer
}

func newParty(key crypto.PrivKey, enc protocol.EncryptionKey) (*party, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	s, err := protocol.NewSealer(key, enc)
	if err != nil {
		return nil, err
	}
	return &party{key: key, id: id, enc: enc, sealer: s}, nil
}

// freshParty makes a party with new keys.
func freshParty() (*party, error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	enc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		return nil, err
	}
	return newParty(key, enc)
}

// memDirectory is a protocol.Directory over a fixed set of members.
type memDirectory map[peer.ID]protocol.Member

func (d memDirectory) MemberByPeer(id peer.ID) (protocol.Member, bool) {
	m, ok := d[id]
	return m, ok
}

func directoryOf(country string, p *party) memDirectory {
	return memDirectory{p.id: {Country: protocol.CountryCode(country), PeerID: p.id.String(), EncryptionKey: protocol.EncodeKey(p.enc.Public)}}
}

// cryptoSample is one message's cryptographic work on both sides.
type cryptoSample struct {
	seal, open, sign, verify time.Duration
	envBytes                 int
}

func (c cryptoSample) total() time.Duration { return c.seal + c.open + c.sign + c.verify }

// cryptoOnce does what a delivered message costs in cryptography: the
// sender seals (encrypt + sign), the receiver opens (verify + decrypt) and
// signs a receipt, and the sender verifies the receipt.
func cryptoOnce(s, r *party, dir protocol.Directory, payload []byte) (cryptoSample, error) {
	var c cryptoSample
	now := time.Now()
	h := protocol.Header{MessageID: protocol.NewID(now), CaseID: protocol.NewID(now), Type: protocol.TypeRequest,
		Recipient: r.id, CreatedAt: now}
	t0 := time.Now()
	env, err := s.sealer.Seal(h, r.enc.Public, payload)
	if err != nil {
		return c, fmt.Errorf("seal: %w", err)
	}
	t1 := time.Now()
	opened, err := r.sealer.Open(env.Raw, dir, now, protocol.DefaultClockPolicy)
	if err != nil {
		return c, fmt.Errorf("open: %w", err)
	}
	t2 := time.Now()
	rc, err := protocol.SignReceipt(r.key, opened.Envelope, now)
	if err != nil {
		return c, fmt.Errorf("sign receipt: %w", err)
	}
	t3 := time.Now()
	if err := rc.Verify(env); err != nil {
		return c, fmt.Errorf("verify receipt: %w", err)
	}
	t4 := time.Now()
	c.seal, c.open, c.sign, c.verify = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)
	c.envBytes = len(env.Raw)
	return c, nil
}

func cryptoLatencies(s, r *party, dir protocol.Directory, payload []byte, n int) ([]cryptoSample, error) {
	const warm = 20
	out := make([]cryptoSample, 0, n)
	for i := 0; i < warm+n; i++ {
		c, err := cryptoOnce(s, r, dir, payload)
		if err != nil {
			return nil, fmt.Errorf("crypto floor: %w", err)
		}
		if i >= warm {
			out = append(out, c)
		}
	}
	return out, nil
}

// nodeParties loads the pair's real keys and roster for the crypto floor.
func (p *pair) nodeParties() (s, r *party, dir protocol.Directory, err error) {
	load := func(cfgKey, cfgEnc string) (*party, error) {
		k, err := config.LoadIdentityKey(cfgKey)
		if err != nil {
			return nil, err
		}
		e, err := config.LoadEncryptionKey(cfgEnc)
		if err != nil {
			return nil, err
		}
		return newParty(k, e)
	}
	if s, err = load(p.senderCfg.Path(p.senderCfg.IdentityKey), p.senderCfg.Path(p.senderCfg.EncryptionKey)); err != nil {
		return nil, nil, nil, err
	}
	if r, err = load(p.receiverCfg.Path(p.receiverCfg.IdentityKey), p.receiverCfg.Path(p.receiverCfg.EncryptionKey)); err != nil {
		return nil, nil, nil, err
	}
	doc, err := os.ReadFile(filepath.Clean(p.man.Roster))
	if err != nil {
		return nil, nil, nil, err
	}
	auth, err := protocol.ParseAuthorityKey(p.man.AuthorityKey)
	if err != nil {
		return nil, nil, nil, err
	}
	roster, err := protocol.VerifyRoster(doc, auth)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, r, roster, nil
}

// MeasureFloor measures the floor on its own: two in-process nodes of a
// fresh testnet under dir, samples warm libp2p pings, request crypto
// rounds and 4 KiB fsyncs in the sender's data directory, then stops the
// nodes and removes their directory. The federation benchmark
// (node/bench/federation) puts it beside its 193-node numbers.
func MeasureFloor(ctx context.Context, dir string, samples int) (*Floor, error) {
	if samples <= 0 {
		samples = 200
	}
	p, err := startPair(ctx, Harness{Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	defer p.close()
	rep := &Report{}
	probe, err := measureFloor(ctx, p, samples, samples, rep)
	if err != nil {
		return nil, err
	}
	defer probe.close()
	var fs fsyncSamples
	if err := probe.fill(&fs, samples); err != nil {
		return nil, err
	}
	rep.Floor.finish(fs)
	return &rep.Floor, nil
}
