package node_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// federation is a testnet whose nodes run in this process: real libp2p
// hosts on 127.0.0.1 and real Badger stores on disk.
type federation struct {
	t     *testing.T
	dir   string
	m     *testnet.Manifest
	nodes map[string]*node.Node
	ctx   context.Context
	clock *fakeClock
	// configure, if set, adjusts a node's config before it starts.
	configure func(cc string, cfg *config.Config)
}

// fakeClock is real time shifted by an offset the test advances, shared
// by every node so envelopes stay plausible to each other.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newFederation(t *testing.T, n int) *federation {
	t.Helper()
	return newFederationWith(t, n, nil)
}

func newFederationWith(t *testing.T, n int, configure func(cc string, cfg *config.Config)) *federation {
	t.Helper()
	return newFederationInit(t, testnet.InitOptions{Nodes: n}, configure)
}

// newFederationInit starts a federation made with opts (its Dir is a new
// temporary directory), e.g. with members' own treaty bases.
func newFederationInit(t *testing.T, opts testnet.InitOptions, configure func(cc string, cfg *config.Config)) *federation {
	t.Helper()
	dir := t.TempDir()
	opts.Dir = dir
	m, err := testnet.Init(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &federation{t: t, dir: dir, m: m, nodes: map[string]*node.Node{}, ctx: ctx, clock: &fakeClock{}, configure: configure}
	t.Cleanup(func() {
		for cc := range f.nodes {
			f.stop(cc)
		}
		cancel()
	})
	for _, e := range m.Nodes {
		f.start(e.Country)
	}
	return f
}

func (f *federation) entry(cc string) testnet.NodeEntry {
	for _, e := range f.m.Nodes {
		if e.Country == cc {
			return e
		}
	}
	f.t.Fatalf("no node %s", cc)
	return testnet.NodeEntry{}
}

func (f *federation) start(cc string) *node.Node {
	f.t.Helper()
	cfg, err := config.LoadConfig(f.entry(cc).Config)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg.Metrics.PerCountry = true // tests read per-country series; configure may turn them off
	if f.configure != nil {
		f.configure(cc, cfg)
	}
	log := zaptest.NewLogger(f.t, zaptest.Level(zap.WarnLevel)).Named(cc)
	n, err := node.New(cfg, node.Options{Logger: log, Now: f.clock.Now})
	if err != nil {
		f.t.Fatalf("start %s: %v", cc, err)
	}
	if err := n.Start(f.ctx); err != nil {
		f.t.Fatalf("start %s: %v", cc, err)
	}
	f.nodes[cc] = n
	return n
}

func (f *federation) stop(cc string) {
	f.t.Helper()
	if n := f.nodes[cc]; n != nil {
		if err := n.Close(); err != nil {
			f.t.Errorf("stop %s: %v", cc, err)
		}
		delete(f.nodes, cc)
	}
}

// api calls a node's HTTP API with its token and decodes the JSON answer,
// error answers included.
func (f *federation) api(cc, method, path string, body []byte, out any) int {
	f.t.Helper()
	e := f.entry(cc)
	c := client.New(e.API, client.WithToken(e.Token), client.WithTimeout(2*time.Minute))
	status, err := c.Do(context.Background(), method, path, body, out)
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		if out != nil {
			if err := json.Unmarshal(ce.Body, out); err != nil {
				f.t.Fatalf("%s %s on %s: decode %q: %v", method, path, cc, ce.Body, err)
			}
		}
		return ce.Status
	case err != nil:
		f.t.Fatalf("%s %s on %s: %v", method, path, cc, err)
	}
	return status
}

func (f *federation) submit(from, to string) types.Submission {
	f.t.Helper()
	var sub types.Submission
	if code := f.api(from, "POST", "/api/v1/requests", exampleRequest(f.t, to), &sub); code != http.StatusCreated {
		f.t.Fatalf("submit %s→%s: HTTP %d", from, to, code)
	}
	return sub
}

func (f *federation) caseView(cc, id string) (types.CaseView, int) {
	var v types.CaseView
	code := f.api(cc, "GET", "/api/v1/cases/"+id, nil, &v)
	return v, code
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func (f *federation) waitDelivered(from, caseID string) types.CaseView {
	f.t.Helper()
	var v types.CaseView
	eventually(f.t, 45*time.Second, "delivery of case "+caseID, func() bool {
		var code int
		v, code = f.caseView(from, caseID)
		return code == http.StatusOK && len(v.Messages) > 0 && v.Messages[0].State == "delivered"
	})
	return v
}

func exampleRequest(t *testing.T, to string) []byte {
	t.Helper()
	b, err := os.ReadFile("../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["to"] = to
	out, _ := json.Marshal(m)
	return out
}

func countIncoming(t *testing.T, n *node.Node, caseID string) (cases, messages int) {
	t.Helper()
	err := n.Store().View(func(tx *store.ReadTx) error {
		all, err := tx.Cases(0)
		if err != nil {
			return err
		}
		for _, c := range all {
			if c.ID == caseID {
				cases++
				messages += len(c.MessageIDs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cases, messages
}

func TestFederationEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end federation test")
	}
	f := newFederation(t, 3) // FR, DE, NL

	t.Run("delivery with verified receipt, fields identical on both sides", func(t *testing.T) {
		sent := exampleRequest(t, "DE")
		var sub types.Submission
		if code := f.api("FR", "POST", "/api/v1/requests", sent, &sub); code != http.StatusCreated {
			t.Fatalf("submit: HTTP %d", code)
		}
		fr := f.waitDelivered("FR", sub.CaseID)
		rc := fr.Messages[0].Receipt
		if rc == nil || !rc.Verified || rc.Receiver != f.entry("DE").PeerID {
			t.Fatalf("FR holds no verified receipt from DE: %+v", rc)
		}
		de, code := f.caseView("DE", sub.CaseID)
		if code != http.StatusOK || de.Direction != "incoming" || de.Country != "FR" || de.Kind != "preservation" {
			t.Fatalf("DE case: HTTP %d %+v", code, de.CaseSummary)
		}
		var want, gotFR, gotDE any
		json.Unmarshal(sent, &want)
		json.Unmarshal(fr.Request, &gotFR)
		json.Unmarshal(de.Request, &gotDE)
		if !reflect.DeepEqual(want, gotFR) || !reflect.DeepEqual(want, gotDE) {
			t.Fatalf("request fields differ from what was sent:\nsent %s\nFR   %s\nDE   %s", sent, fr.Request, de.Request)
		}
		if de.Messages[0].Receipt == nil || de.Messages[0].Receipt.MessageHash != rc.MessageHash {
			t.Fatalf("DE's stored receipt differs from the one FR holds")
		}
	})

	t.Run("invalid request refused with field errors, nothing queued", func(t *testing.T) {
		var m map[string]any
		json.Unmarshal(exampleRequest(t, "DE"), &m)
		delete(m, "facts_summary")
		m["to"] = "XX"
		b, _ := json.Marshal(m)
		var e struct {
			Fields []protocol.FieldError `json:"fields"`
		}
		if code := f.api("FR", "POST", "/api/v1/requests", b, &e); code != http.StatusUnprocessableEntity {
			t.Fatalf("HTTP %d, want 422", code)
		}
		names := map[string]bool{}
		for _, fe := range e.Fields {
			names[fe.Field] = true
		}
		if !names["facts_summary"] || !names["to"] {
			t.Fatalf("field errors %+v do not name facts_summary and to", e.Fields)
		}
		if code := f.api("FR", "POST", "/api/v1/requests", []byte("{not json"), nil); code != http.StatusBadRequest {
			t.Fatalf("bad JSON: HTTP %d, want 400", code)
		}
		err := client.New(f.entry("FR").API, client.WithToken("wrong")).Get(f.ctx, "/api/v1/cases", nil)
		if code := client.StatusOf(err); code != http.StatusUnauthorized {
			t.Fatalf("wrong token: HTTP %d (%v), want 401", code, err)
		}
	})

	t.Run("receiver down then back: delivered", func(t *testing.T) {
		f.stop("DE")
		sub := f.submit("FR", "DE")
		eventually(t, 20*time.Second, "a failed attempt to be recorded", func() bool {
			v, _ := f.caseView("FR", sub.CaseID)
			return v.Messages[0].State == "queued" && v.Messages[0].Attempts > 0 && v.Messages[0].LastError != ""
		})
		f.start("DE")
		f.waitDelivered("FR", sub.CaseID)
		if c, m := countIncoming(t, f.nodes["DE"], sub.CaseID); c != 1 || m != 1 {
			t.Fatalf("DE holds %d cases / %d messages for the request, want 1/1", c, m)
		}
	})

	t.Run("sender restarted with a queued message: delivered once", func(t *testing.T) {
		f.stop("DE")
		sub := f.submit("FR", "DE")
		f.stop("FR")
		f.start("DE")
		f.start("FR")
		f.waitDelivered("FR", sub.CaseID)
		if c, m := countIncoming(t, f.nodes["DE"], sub.CaseID); c != 1 || m != 1 {
			t.Fatalf("DE holds %d cases / %d messages for the request, want 1/1", c, m)
		}
	})

	t.Run("replayed envelope answered with the same receipt, no second case", func(t *testing.T) {
		sub := f.submit("FR", "NL")
		f.waitDelivered("FR", sub.CaseID)
		var env, stored []byte
		f.nodes["FR"].Store().View(func(tx *store.ReadTx) error {
			m, err := tx.Message(sub.MessageID)
			if err == nil {
				env = m.Envelope
			}
			return err
		})
		f.nodes["NL"].Store().View(func(tx *store.ReadTx) error {
			m, err := tx.Message(sub.MessageID)
			if err == nil {
				stored = m.Receipt
			}
			return err
		})
		for i := 0; i < 2; i++ {
			ft, body := sendRaw(t, f.nodes["FR"], f.nodes["NL"], protocol.FrameEnvelope, env)
			if ft != protocol.FrameReceipt || !bytes.Equal(body, stored) {
				t.Fatalf("replay %d: frame %d, same receipt %v", i, ft, bytes.Equal(body, stored))
			}
		}
		if c, m := countIncoming(t, f.nodes["NL"], sub.CaseID); c != 1 || m != 1 {
			t.Fatalf("NL holds %d cases / %d messages after replays, want 1/1", c, m)
		}
	})

	t.Run("tampered envelope rejected with nothing stored", func(t *testing.T) {
		fr, de := f.nodes["FR"], f.nodes["DE"]
		sealer := sealerFor(t, f.entry("FR"))
		deMember := memberOf(t, f, "DE")
		encKey, _ := deMember.EncryptionPublic()
		now := time.Now()
		env, err := sealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: protocol.NewID(now),
			Type: protocol.TypeRequest, Recipient: de.PeerID(), CreatedAt: now}, encKey, exampleRequest(t, "DE"))
		if err != nil {
			t.Fatal(err)
		}
		tampered := bytes.Clone(env.Raw)
		tampered[len(tampered)-100] ^= 0x01 // inside the ciphertext
		ft, body := sendRaw(t, fr, de, protocol.FrameEnvelope, tampered)
		rj, err := protocol.ParseReject(body)
		if ft != protocol.FrameReject || err != nil || !rj.Permanent || rj.Code != "bad-signature" {
			t.Fatalf("tampered envelope: frame %d reject %+v (%v)", ft, rj, err)
		}
		de.Store().View(func(tx *store.ReadTx) error {
			if _, err := tx.Message(env.MessageID); err == nil {
				t.Errorf("tampered message was stored")
			}
			if _, err := tx.Case(env.CaseID); err == nil {
				t.Errorf("case of tampered message was created")
			}
			return nil
		})
		// The untampered envelope is accepted: the rejection was for the tamper.
		if ft, _ := sendRaw(t, fr, de, protocol.FrameEnvelope, env.Raw); ft != protocol.FrameReceipt {
			t.Fatalf("genuine envelope refused: frame %d", ft)
		}
	})

	t.Run("oversized frame resets the stream; node keeps serving", func(t *testing.T) {
		fr, de := f.nodes["FR"], f.nodes["DE"]
		s, err := fr.Host().NewStream(f.ctx, de.PeerID(), deliver.ID)
		if err != nil {
			t.Fatal(err)
		}
		var hdr [5]byte
		binary.BigEndian.PutUint32(hdr[:], protocol.MaxFrameSize+10)
		hdr[4] = byte(protocol.FrameEnvelope)
		s.Write(hdr[:])
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.Read(make([]byte, 1)); err == nil {
			t.Fatal("oversized frame was not refused")
		}
		s.Reset()
		sub := f.submit("FR", "DE")
		f.waitDelivered("FR", sub.CaseID)
	})

	t.Run("non-roster host refused by the gater", func(t *testing.T) {
		stranger, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		defer stranger.Close()
		de := f.nodes["DE"]
		ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		defer cancel()
		err = stranger.Connect(ctx, peer.AddrInfo{ID: de.PeerID(), Addrs: de.Host().Addrs()})
		if err == nil {
			// A handshake may complete on the stranger's side before DE's
			// gater closes it; no protocol must be reachable.
			if _, serr := stranger.NewStream(ctx, de.PeerID(), deliver.ID); serr == nil {
				t.Fatal("stranger opened a delivery stream")
			}
		}
		eventually(t, 5*time.Second, "stranger disconnected", func() bool {
			return len(de.Host().Network().ConnsToPeer(stranger.ID())) == 0
		})
	})

	t.Run("roster update propagates to every node", func(t *testing.T) {
		authDir := filepath.Join(f.dir, "authority")
		draft, err := authority.LoadDraft(filepath.Join(authDir, "roster.draft.json"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range draft.Members {
			if draft.Members[i].Country == "NL" {
				draft.Members[i].OfficeHours = "24/7"
			}
		}
		key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := authority.SignDraft(draft, key, 1, 24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code := f.api("FR", "POST", "/api/v1/roster", doc, nil); code != http.StatusOK {
			t.Fatalf("push roster: HTTP %d", code)
		}
		for _, cc := range []string{"FR", "DE", "NL"} {
			eventually(t, 20*time.Second, cc+" applies roster serial 2", func() bool {
				var h struct {
					Serial uint64 `json:"roster_serial"`
				}
				f.api(cc, "GET", "/healthz", nil, &h)
				return h.Serial == 2
			})
			onDisk, _ := os.ReadFile(filepath.Join(f.entry(cc).Dir, "roster.json"))
			if !bytes.Equal(onDisk, doc) {
				t.Errorf("%s did not persist the new roster", cc)
			}
		}
		// An older roster is refused.
		old, _ := os.ReadFile(f.m.Roster)
		if code := f.api("DE", "POST", "/api/v1/roster", old, nil); code != http.StatusConflict {
			t.Fatalf("stale roster: HTTP %d, want 409", code)
		}
		// Traffic still flows under the new roster.
		sub := f.submit("DE", "NL")
		f.waitDelivered("DE", sub.CaseID)
	})

	t.Run("audit chain verifies on every node", func(t *testing.T) {
		for cc, n := range f.nodes {
			var count uint64
			err := n.Store().View(func(tx *store.ReadTx) error {
				var err error
				count, err = tx.VerifyAudit()
				return err
			})
			if err != nil || count == 0 {
				t.Fatalf("%s audit: %d records, %v", cc, count, err)
			}
		}
	})
}

// sendRaw opens a delivery stream from one node's host to another, sends
// one frame and returns the answer.
func sendRaw(t *testing.T, from, to *node.Node, ft protocol.FrameType, body []byte) (protocol.FrameType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := from.Host().NewStream(ctx, to.PeerID(), deliver.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(15 * time.Second))
	if err := protocol.WriteFrame(s, ft, body); err != nil {
		t.Fatal(err)
	}
	rt, rb, err := protocol.ReadFrame(s, protocol.MaxFrameSize)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return rt, rb
}

func sealerFor(t *testing.T, e testnet.NodeEntry) *protocol.Sealer {
	t.Helper()
	id, err := config.LoadIdentityKey(filepath.Join(e.Dir, "keys", "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := config.LoadEncryptionKey(filepath.Join(e.Dir, "keys", "encryption.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := protocol.NewSealer(id, enc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func memberOf(t *testing.T, f *federation, cc string) protocol.Member {
	t.Helper()
	doc, err := os.ReadFile(f.m.Roster)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := protocol.ParseAuthorityKey(f.m.AuthorityKey)
	r, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Member(protocol.CountryCode(cc))
	if !ok {
		t.Fatalf("%s not in roster", cc)
	}
	return m
}
