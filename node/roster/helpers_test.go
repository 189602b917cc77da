package roster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// authority signs test rosters as the network authority would.
type authority struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newAuthority(t *testing.T) authority {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return authority{pub, priv}
}

// sign returns the signed document of a roster of members, valid for a
// day.
func (a authority) sign(t *testing.T, serial uint64, members ...protocol.Member) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	doc, err := protocol.SignRoster(&protocol.Roster{Network: "test", Serial: serial, IssuedAt: now,
		ValidUntil: now.Add(24 * time.Hour), Members: members}, a.priv)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// complete fills in what a signed roster requires of each member beyond
// its country and peer ID.
func complete(ms []protocol.Member) []protocol.Member {
	out := make([]protocol.Member, len(ms))
	for i, m := range ms {
		m.Organisation, m.TimeZone = string(m.Country)+" 24/7 point of contact", "UTC"
		m.EncryptionKey = protocol.EncodeKey([32]byte{byte(i + 1)})
		if len(m.Addrs) == 0 {
			m.Addrs = []string{"/ip4/127.0.0.1/tcp/4001"}
		}
		out[i] = m
	}
	return out
}

// loadState writes doc as the roster file in a fresh directory and loads it.
func loadState(t *testing.T, a authority, doc []byte) *State {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewState(path, a.pub)
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	return s
}

// goroutines owns the goroutines a Gossip starts, as the node does: they
// stop when the test ends, which waits for them.
type goroutines struct {
	ctx context.Context
	wg  sync.WaitGroup
}

func newGoroutines(t *testing.T) *goroutines {
	ctx, cancel := context.WithCancel(context.Background())
	g := &goroutines{ctx: ctx}
	t.Cleanup(func() {
		cancel()
		g.wg.Wait()
	})
	return g
}

func (g *goroutines) Go(_ string, fn func(context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
	}()
}

// raisedAlerts is told of every alert a Gossip raised, as the node's
// alert dispatch is.
type raisedAlerts struct {
	mu   sync.Mutex
	list []*store.Alert
}

func (r *raisedAlerts) Raised(a *store.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, a)
}

func (r *raisedAlerts) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.list {
		out = append(out, string(a.Kind))
	}
	return out
}

// openStore opens a real store; minFree above the disk's free space makes
// every write fail as on a full disk.
func openStore(t *testing.T, minFree int64) *store.Store {
	t.Helper()
	s, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall, MinFreeBytes: minFree,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newHost is a libp2p host on loopback TCP.
func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// memberOf is the roster entry of h, at its listen addresses.
func memberOf(h host.Host, cc string) protocol.Member {
	m := protocol.Member{Country: protocol.CountryCode(cc), PeerID: h.ID().String()}
	for _, a := range h.Addrs() {
		m.Addrs = append(m.Addrs, a.String())
	}
	return m
}

// newGossip is a Gossip for st on h recording into s.
func newGossip(t *testing.T, st *State, h host.Host, s Store, alerts Alerts) *Gossip {
	return NewGossip(st, h, GossipOptions{Self: h.ID(), MaxDropShare: 0.34, Logger: zaptest.NewLogger(t).Named("roster"),
		Store: s, Alerts: alerts, Go: newGoroutines(t).Go})
}

// audit lists the store's audit records.
func audit(t *testing.T, s *store.Store) []*store.AuditRecord {
	t.Helper()
	var recs []*store.AuditRecord
	if err := s.View(func(tx *store.ReadTx) error {
		var err error
		recs, err = tx.Audit(0, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
