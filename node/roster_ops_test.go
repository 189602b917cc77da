package node_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// pushRoster signs the authority's draft after mutate, gives it to one
// node, and waits until every running node has applied it.
func (f *federation) pushRoster(via string, mutate func(r *protocol.Roster), skip ...string) *protocol.Roster {
	f.t.Helper()
	authDir := filepath.Join(f.dir, "authority")
	draftPath := filepath.Join(authDir, "roster.draft.json")
	draft, err := authority.LoadDraft(draftPath)
	if err != nil {
		f.t.Fatal(err)
	}
	mutate(draft)
	key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
	if err != nil {
		f.t.Fatal(err)
	}
	doc, err := authority.SignDraft(draft, key, draft.Serial, 24*time.Hour, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := authority.SaveDraft(draftPath, draft); err != nil {
		f.t.Fatal(err)
	}
	if code := f.api(via, "POST", "/api/v1/roster", doc, nil); code != http.StatusOK {
		f.t.Fatalf("push roster via %s: HTTP %d", via, code)
	}
	for cc := range f.nodes {
		if contains(skip, cc) {
			continue
		}
		eventually(f.t, 20*time.Second, cc+" applies roster serial "+fmt.Sprint(draft.Serial), func() bool {
			var h struct {
				Serial uint64 `json:"roster_serial"`
			}
			f.api(cc, "GET", "/healthz", nil, &h)
			return h.Serial == draft.Serial
		})
	}
	return draft
}

func member(r *protocol.Roster, cc string) *protocol.Member {
	for i := range r.Members {
		if r.Members[i].Country == protocol.CountryCode(cc) {
			return &r.Members[i]
		}
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		l.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
}

// editConfig rewrites lines of a node's YAML config.
func editConfig(t *testing.T, path string, replace ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("config %s has no %q", path, replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRosterOperationsDuringTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 3) // FR, DE, NL

	t.Run("encryption key rotated with the old key accepted for a grace period", func(t *testing.T) {
		de := f.entry("DE")
		oldSealer := sealerFor(t, de) // DE's identity with its pre-rotation key
		f.stop("DE")
		queued := f.submit("FR", "DE") // sealed to DE's old key while DE is down

		newKey := filepath.Join(de.Dir, "keys", "encryption-2.key")
		if _, err := config.EnsureEncryptionKey(newKey); err != nil {
			t.Fatal(err)
		}
		nk, err := config.LoadEncryptionKey(newKey)
		if err != nil {
			t.Fatal(err)
		}
		until := f.clock.Now().Add(time.Hour).UTC()
		f.pushRoster("FR", func(r *protocol.Roster) {
			m := member(r, "DE")
			m.PreviousEncryptionKey, m.PreviousKeyUntil = m.EncryptionKey, &until
			m.EncryptionKey = protocol.EncodeKey(nk.Public)
		})
		editConfig(t, de.Config, "encryption_key: keys/encryption.key", "encryption_key: keys/encryption-2.key",
			"previous_encryption_keys: []", "previous_encryption_keys: [keys/encryption.key]")
		f.start("DE")
		f.waitDelivered("FR", queued.CaseID)
		if v, _ := f.caseView("DE", queued.CaseID); v.Request == nil {
			t.Fatal("DE cannot read a request sealed to its previous key")
		}
		fresh := f.submit("FR", "DE") // sealed to the new key
		f.waitDelivered("FR", fresh.CaseID)
		back := f.submit("DE", "FR")
		f.waitDelivered("DE", back.CaseID)

		// An envelope DE sealed with its old key is accepted in the grace
		// period and refused after it.
		send := func() protocol.FrameType {
			now := f.clock.Now()
			frKey, _ := memberOf(t, f, "FR").EncryptionPublic()
			env, err := oldSealer.Seal(protocol.Header{MessageID: protocol.NewID(now), CaseID: protocol.NewID(now),
				Type: protocol.TypeRequest, Recipient: f.nodes["FR"].PeerID(), CreatedAt: now}, frKey, exampleRequest(t, "FR"))
			if err != nil {
				t.Fatal(err)
			}
			ft, _ := sendRaw(t, f.nodes["DE"], f.nodes["FR"], protocol.FrameEnvelope, env.Raw)
			return ft
		}
		if ft := send(); ft != protocol.FrameReceipt {
			t.Fatalf("old key refused inside the grace period: frame %d", ft)
		}
		f.clock.Advance(61 * time.Minute)
		if ft := send(); ft != protocol.FrameReject {
			t.Fatalf("old key accepted after the grace period: frame %d", ft)
		}
	})

	t.Run("address change: member moves to a new port", func(t *testing.T) {
		nl := f.entry("NL")
		f.stop("NL")
		b, _ := os.ReadFile(nl.Config)
		var oldPort int
		fmt.Sscanf(string(b)[strings.Index(string(b), "/ip4/127.0.0.1/tcp/")+len("/ip4/127.0.0.1/tcp/"):], "%d", &oldPort)
		port := freePort(t)
		// The node listens on the same port number for every transport
		// the testnet gave it; move them all.
		cfg := strings.ReplaceAll(string(b), fmt.Sprintf("/%d", oldPort), fmt.Sprintf("/%d", port))
		if err := os.WriteFile(nl.Config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		f.pushRoster("FR", func(r *protocol.Roster) {
			m := member(r, "NL")
			for i, a := range m.Addrs {
				m.Addrs[i] = strings.ReplaceAll(a, fmt.Sprintf("/%d", oldPort), fmt.Sprintf("/%d", port))
			}
		})
		f.start("NL")
		sub := f.submit("FR", "NL")
		f.waitDelivered("FR", sub.CaseID)
		sub = f.submit("DE", "NL")
		f.waitDelivered("DE", sub.CaseID)
	})

	t.Run("authority adds a member that then exchanges requests", func(t *testing.T) {
		dir := filepath.Join(f.dir, "IT")
		p2p, api := freePort(t), freePort(t)
		res, err := config.Init(config.InitOptions{Dir: dir, Country: "IT", AuthorityKey: f.m.AuthorityKey,
			Listen:    []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2p), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", p2p)},
			APIListen: fmt.Sprintf("127.0.0.1:%d", api), StoreProfile: "small"})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Member
		m.Organisation, m.TimeZone, m.OfficeHours = "IT national 24/7 point of contact (test)", "Europe/Rome", "24/7"
		f.pushRoster("FR", func(r *protocol.Roster) { authority.AddMember(r, m) })
		// The new node starts from the roster in force, as the authority
		// would hand it over.
		cur := []byte{}
		eventually(t, 10*time.Second, "FR persisted the roster", func() bool {
			cur, _ = os.ReadFile(filepath.Join(f.entry("FR").Dir, "roster.json"))
			return bytes.Contains(cur, []byte(m.PeerID))
		})
		if err := os.WriteFile(filepath.Join(dir, "roster.json"), cur, 0o644); err != nil {
			t.Fatal(err)
		}
		f.m.Nodes = append(f.m.Nodes, testnet.NodeEntry{Country: "IT", PeerID: res.PeerID.String(), Config: res.ConfigPath,
			API: fmt.Sprintf("http://127.0.0.1:%d", api), Token: res.Token, Dir: dir})
		f.start("IT")
		in := f.submit("DE", "IT")
		f.waitDelivered("DE", in.CaseID)
		out := f.submit("IT", "NL")
		f.waitDelivered("IT", out.CaseID)
	})

	t.Run("revoked member is cut off within seconds on every node", func(t *testing.T) {
		nlID := f.nodes["NL"].PeerID()
		start := time.Now()
		f.pushRoster("FR", func(r *protocol.Roster) {
			kept := r.Members[:0]
			for _, m := range r.Members {
				if m.Country != "NL" {
					kept = append(kept, m)
				}
			}
			r.Members = kept
		}, "NL")
		for _, cc := range []string{"FR", "DE", "IT"} {
			n := f.nodes[cc]
			eventually(t, 5*time.Second, cc+" drops NL", func() bool { return len(n.Host().Network().ConnsToPeer(nlID)) == 0 })
		}
		t.Logf("NL cut off everywhere %s after the push", time.Since(start).Round(time.Millisecond))
		// NL keeps trying; nobody lets it back in.
		sub := f.submit("NL", "FR")
		time.Sleep(2 * time.Second)
		if v, _ := f.caseView("NL", sub.CaseID); v.Messages[0].State == "delivered" {
			t.Fatal("revoked member delivered a request")
		}
		for _, cc := range []string{"FR", "DE", "IT"} {
			if len(f.nodes[cc].Host().Network().ConnsToPeer(nlID)) != 0 {
				t.Fatalf("%s reconnected to the revoked member", cc)
			}
		}
	})
}
