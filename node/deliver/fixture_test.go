package deliver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// party is one member for these tests: real keys, a libp2p host on
// 127.0.0.1, a Badger store on disk and its write path.
type party struct {
	country string
	key     crypto.PrivKey
	id      peer.ID
	enc     protocol.EncryptionKey
	sealer  *protocol.Sealer
	host    host.Host
	store   *store.Store
	cases   *cases.Service
	pub     *published
	member  protocol.Member
}

func newParty(t *testing.T, country string) *party {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := protocol.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := protocol.NewSealer(key, enc)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &party{country: country, key: key, id: id, enc: enc, sealer: sealer, host: h, store: st, pub: newPublished()}
	// Parties to the Convention and its Protocol: emergency requests pass.
	p.member = protocol.Member{Country: protocol.CountryCode(country), PeerID: id.String(),
		EncryptionKey: base64.StdEncoding.EncodeToString(enc.Public[:]),
		Treaties:      []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2022-05-12"}}}
	for _, a := range h.Addrs() {
		p.member.Addrs = append(p.member.Addrs, a.String())
	}
	return p
}

// roster is a fixed set of members (cases.Directory, protocol.Directory,
// deliver.Members).
type roster map[peer.ID]protocol.Member

func rosterOf(ps ...*party) roster {
	r := roster{}
	for _, p := range ps {
		r[p.id] = p.member
	}
	return r
}

func (r roster) MemberByPeer(p peer.ID) (protocol.Member, bool) { m, ok := r[p]; return m, ok }
func (r roster) Serial() uint64                                 { return 1 }
func (r roster) IsMember(p peer.ID) bool                        { _, ok := r[p]; return ok }
func (r roster) ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool) {
	for id, m := range r {
		if m.Country == cc {
			return id, m, true
		}
	}
	return "", protocol.Member{}, false
}

// published records the case IDs a part published, in order.
type published struct {
	mu  sync.Mutex
	ids []string
	ch  chan string
}

func newPublished() *published { return &published{ch: make(chan string, 1024)} }

func (p *published) Case(id string) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
	p.ch <- id
}

// noAlerts: these cases raise no deadline alerts to clear.
type noAlerts struct{}

func (noAlerts) ClearFor(*store.Tx, *store.Case, time.Time) error { return nil }

// outboxRef lets a party's write path notify an Outbox built after it.
type outboxRef struct{ o *deliver.Outbox }

func (r *outboxRef) Notify(p peer.ID, m *store.Message) {
	if r.o != nil {
		r.o.Notify(p, m)
	}
}

// testLimits are generous rates and the network's default payload caps,
// with overrides.
func testLimits(caps map[string]int) admission.Limits {
	max := map[string]int{}
	for k, v := range config.DefaultConfig().Admission.MaxPayload {
		max[k] = v
	}
	for k, v := range caps {
		max[k] = v
	}
	return admission.Limits{Deliver: admission.Rate{PerSecond: 1000, Burst: 1000}, MaxPayload: max}
}

// useCases gives p its write path over dir, with its own admission control.
func (p *party) useCases(dir roster, adm *admission.Controller, out cases.Outbox) {
	p.cases = cases.New(cases.Options{Store: p.store, Sealer: p.sealer, Directory: dir, Outbox: out,
		Publisher: p.pub, Alerts: noAlerts{}, Quota: adm, Country: p.country,
		Deadlines: config.DefaultConfig().Deadlines, MaxPayload: map[string]int{}})
}

var testClock = protocol.ClockPolicy{MaxFutureSkew: 5 * time.Minute, MaxAge: 30 * 24 * time.Hour}

// serveInbox makes p answer /vigil/deliver with a real Inbox over dir.
func (p *party) serveInbox(t *testing.T, dir roster, adm *admission.Controller) *deliver.Inbox {
	t.Helper()
	if p.cases == nil {
		p.useCases(dir, adm, &outboxRef{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in := deliver.NewInbox(ctx, deliver.InboxOptions{Opener: p.sealer, Directory: dir, Acceptor: p.cases,
		Admission: adm, Key: p.key, Clock: testClock})
	p.host.SetStreamHandler(deliver.ID, in.Handle)
	return in
}

// emergencyTo is the example emergency request addressed to cc.
func emergencyTo(t *testing.T, cc string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../configs/examples/emergency.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["to"] = cc
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// connect tells from's host where to find to.
func connect(t *testing.T, from, to *party) {
	t.Helper()
	if err := from.host.Connect(context.Background(), peer.AddrInfo{ID: to.id, Addrs: to.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// openStream opens a raw delivery stream from one party to another.
func openStream(t *testing.T, from, to *party) network.Stream {
	t.Helper()
	connect(t, from, to)
	s, err := from.host.NewStream(context.Background(), to.id, deliver.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	return s
}

// waitFor blocks until cond holds, polling; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if dl, ok := t.Deadline(); ok && time.Until(dl) < time.Second {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
