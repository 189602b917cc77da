package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// fsyncProbe appends 4 KiB to a scratch file and fsyncs it: the cost of
// one durable write on a directory's filesystem.
type fsyncProbe struct {
	f   *os.File
	buf []byte
}

// newFsyncProbe creates the scratch file in dir and warms it up.
func newFsyncProbe(dir string) (*fsyncProbe, error) {
	f, err := os.CreateTemp(dir, "bench-fsync-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("fsync floor: %w", err)
	}
	p := &fsyncProbe{f: f, buf: make([]byte, 4<<10)}
	for i := range p.buf {
		p.buf[i] = byte(i)
	}
	for i := 0; i < 10; i++ {
		if _, err := p.once(); err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

func (p *fsyncProbe) once() (time.Duration, error) {
	t0 := time.Now()
	if _, err := p.f.Write(p.buf); err != nil {
		return 0, fmt.Errorf("fsync floor: write: %w", err)
	}
	if err := p.f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync floor: sync: %w", err)
	}
	return time.Since(t0), nil
}

// fill samples fsyncs into fs until it holds n.
func (p *fsyncProbe) fill(fs []time.Duration, n int) ([]time.Duration, error) {
	for len(fs) < n {
		d, err := p.once()
		if err != nil {
			return fs, err
		}
		fs = append(fs, d)
	}
	return fs, nil
}

func (p *fsyncProbe) close() {
	p.f.Close()
	os.Remove(p.f.Name())
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
	fs, err := probe.fill(make([]time.Duration, 0, samples), samples)
	if err != nil {
		return nil, err
	}
	rep.Floor.finish(fs)
	return &rep.Floor, nil
}
