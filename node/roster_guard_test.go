package node_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// signWithout signs the authority's draft minus the given members, with
// a serial above every node's, without saving the draft (a mistaken
// roster the network should refuse).
func (f *federation) signWithout(drop ...string) ([]byte, uint64) {
	f.t.Helper()
	authDir := filepath.Join(f.dir, "authority")
	draft, err := authority.LoadDraft(filepath.Join(authDir, "roster.draft.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	kept := draft.Members[:0]
	for _, m := range draft.Members {
		if !contains(drop, string(m.Country)) {
			kept = append(kept, m)
		}
	}
	draft.Members = kept
	key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
	if err != nil {
		f.t.Fatal(err)
	}
	var high uint64
	for cc := range f.nodes {
		high = max(high, f.serial(cc))
	}
	doc, err := authority.SignDraft(draft, key, high+10, 24*time.Hour, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return doc, draft.Serial
}

func (f *federation) serial(cc string) uint64 {
	f.t.Helper()
	var h struct {
		Serial uint64 `json:"roster_serial"`
	}
	f.api(cc, "GET", "/healthz", nil, &h)
	return h.Serial
}

// postRoster pushes doc through the API and returns the status and error text.
func (f *federation) postRoster(cc, query string, doc []byte) (int, string) {
	f.t.Helper()
	var out struct {
		Error string `json:"error"`
	}
	code := f.api(cc, "POST", "/api/v1/roster"+query, doc, &out)
	return code, out.Error
}

func (f *federation) alertsOf(cc, kind string) []store.Alert {
	f.t.Helper()
	var out struct {
		Alerts []store.Alert `json:"alerts"`
	}
	f.api(cc, "GET", "/api/v1/alerts", nil, &out)
	var got []store.Alert
	for _, a := range out.Alerts {
		if string(a.Kind) == kind {
			got = append(got, a)
		}
	}
	return got
}

func (f *federation) auditOf(cc, action string) []store.AuditRecord {
	f.t.Helper()
	var out struct {
		Records []store.AuditRecord `json:"records"`
	}
	f.api(cc, "GET", "/api/v1/audit?limit=5000&q="+action, nil, &out)
	var got []store.AuditRecord
	for _, r := range out.Records {
		if r.Action == action {
			got = append(got, r)
		}
	}
	return got
}

type healthView struct {
	Status    string   `json:"status"`
	Degraded  []string `json:"degraded"`
	Serial    uint64   `json:"roster_serial"`
	Connected int      `json:"connected_members"`
}

func (f *federation) health(cc, query string) (int, healthView) {
	f.t.Helper()
	var h healthView
	code := f.api(cc, "GET", "/healthz"+query, nil, &h)
	return code, h
}

// TestRosterGuard: a correctly signed roster that drops this node, or more
// than roster.max_drop_share of the members, is refused (from the API and
// from a peer) with a critical alert and an audit record; an admin can
// force it through the API, never a peer; /healthz reports a node with no
// connected member as degraded (issue 9 item 8).
func TestRosterGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 3) // FR, DE, NL; default max_drop_share 0.34
	start := f.serial("FR")

	t.Run("API push of a roster that drops this node is refused", func(t *testing.T) {
		doc, serial := f.signWithout("FR")
		code, msg := f.postRoster("FR", "", doc)
		if code != http.StatusConflict || !strings.Contains(msg, "drops this node") || !strings.Contains(msg, "force") {
			t.Fatalf("HTTP %d %q, want 409 naming the drop and force", code, msg)
		}
		if s := f.serial("FR"); s != start {
			t.Fatalf("FR serial %d, want %d unchanged", s, start)
		}
		a := f.alertsOf("FR", "roster_refused")
		want := fmt.Sprintf("roster serial %d from api:user:", serial)
		if len(a) != 1 || a[0].Severity != "critical" || !strings.HasPrefix(a[0].Message, want) || !strings.HasSuffix(a[0].Message, "refused: drops this node, drops 1 of 3 members (FR)") {
			t.Fatalf("alerts %+v, want one critical %q...refused: drops this node", a, want)
		}
		if rec := f.auditOf("FR", "roster.refused"); len(rec) != 1 || !strings.Contains(rec[0].Detail, "drops this node") {
			t.Fatalf("audit %+v, want one roster.refused", rec)
		}
		// Pushed again: refused again and audited again (an operator's act),
		// one alert.
		if code, _ := f.postRoster("FR", "", doc); code != http.StatusConflict {
			t.Fatalf("second push: HTTP %d", code)
		}
		if rec := f.auditOf("FR", "roster.refused"); len(rec) != 2 {
			t.Fatalf("second push: %d roster.refused audit records, want 2", len(rec))
		}
		if a := f.alertsOf("FR", "roster_refused"); len(a) != 1 {
			t.Fatalf("second push raised the alert again: %+v", a)
		}
	})

	t.Run("a roster dropping more than max_drop_share is refused", func(t *testing.T) {
		doc, _ := f.signWithout("DE", "NL") // 2 of 3
		code, msg := f.postRoster("FR", "", doc)
		if code != http.StatusConflict || !strings.Contains(msg, "drops 2 of 3 members (DE, NL)") {
			t.Fatalf("HTTP %d %q, want 409 drops 2 of 3 members", code, msg)
		}
		if s := f.serial("FR"); s != start {
			t.Fatalf("FR serial %d, want %d unchanged", s, start)
		}
		if a := f.alertsOf("FR", "roster_refused"); len(a) != 2 {
			t.Fatalf("alerts %+v, want a second roster_refused", a)
		}
	})

	t.Run("a peer's roster that drops this node is refused, alerted and audited", func(t *testing.T) {
		// Play FR with its real keys on a bare libp2p host that serves a
		// roster leaving DE out: DE pulls it on connecting.
		doc, serial := f.signWithout("DE")
		fr := f.entry("FR")
		key, err := config.LoadIdentityKey(filepath.Join(fr.Dir, "keys", "identity.key"))
		if err != nil {
			t.Fatal(err)
		}
		f.stop("FR")
		defer f.start("FR")
		h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		var served atomic.Int32
		h.SetStreamHandler(roster.ProtocolID, func(s network.Stream) {
			defer s.Close()
			s.SetDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := protocol.ReadFrame(s, 16); err != nil {
				s.Reset()
				return
			}
			if protocol.WriteFrame(s, protocol.FrameRoster, doc) == nil {
				served.Add(1)
			}
		})
		de := f.nodes["DE"]
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Connect(ctx, peer.AddrInfo{ID: de.PeerID(), Addrs: de.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "DE raises roster_refused", func() bool { return len(f.alertsOf("DE", "roster_refused")) == 1 })
		a := f.alertsOf("DE", "roster_refused")[0]
		frID, _ := peer.IDFromPrivateKey(key)
		if want := fmt.Sprintf("roster serial %d from peer:%s refused: drops this node, drops 1 of 3 members (DE)", serial, frID); a.Severity != "critical" || a.Message != want {
			t.Fatalf("alert %+v, want critical %q", a, want)
		}
		if s := f.serial("DE"); s != start {
			t.Fatalf("DE applied the roster: serial %d", s)
		}
		rec := f.auditOf("DE", "roster.refused")
		if len(rec) != 1 || rec[0].Actor != "node" {
			t.Fatalf("audit %+v, want one roster.refused by node", rec)
		}

		// Offered again (the peer claims a newer serial): still refused,
		// without a second alert or audit record per offer.
		s, err := h.NewStream(ctx, de.PeerID(), roster.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		if err := protocol.WriteFrame(s, protocol.FrameRosterSerial, binary.AppendUvarint(nil, serial)); err != nil {
			t.Fatal(err)
		}
		protocol.ReadFrame(s, protocol.MaxFrameSize)
		s.Close()
		eventually(t, 20*time.Second, "DE pulls the roster again", func() bool { return served.Load() >= 2 })
		if s := f.serial("DE"); s != start {
			t.Fatalf("DE applied the roster on a second offer: serial %d", s)
		}
		if n := len(f.auditOf("DE", "roster.refused")); n != 1 {
			t.Fatalf("%d roster.refused records after a repeated offer, want 1", n)
		}
		if n := len(f.alertsOf("DE", "roster_refused")); n != 1 {
			t.Fatalf("%d roster_refused alerts after a repeated offer, want 1", n)
		}
	})

	t.Run("healthz degraded with no connected peer, ok once connected", func(t *testing.T) {
		f.stop("FR")
		f.stop("NL")
		eventually(t, 20*time.Second, "DE degraded", func() bool {
			_, h := f.health("DE", "")
			return h.Status == "degraded"
		})
		code, h := f.health("DE", "")
		if code != http.StatusOK || len(h.Degraded) != 1 || h.Degraded[0] != "no connected peer: 0 of 2 other members connected" || h.Connected != 0 {
			t.Fatalf("HTTP %d %+v, want 200 degraded with the reason", code, h)
		}
		if code, _ := f.health("DE", "?strict=true"); code != http.StatusServiceUnavailable {
			t.Fatalf("strict: HTTP %d, want 503", code)
		}
		f.start("FR")
		f.start("NL")
		eventually(t, 30*time.Second, "DE ok", func() bool {
			_, h := f.health("DE", "")
			return h.Status == "ok"
		})
		if code, h := f.health("DE", "?strict=true"); code != http.StatusOK || h.Connected == 0 || len(h.Degraded) != 0 {
			t.Fatalf("connected: HTTP %d %+v", code, h)
		}
	})

	t.Run("an admin can force it, with a critical alert; others may not", func(t *testing.T) {
		f.addUser("FR", "sam", "supervisor", "sam-long-passphrase")
		sess, code, _ := f.login("FR", "sam", "sam-long-passphrase")
		if code != http.StatusOK {
			t.Fatalf("login: HTTP %d", code)
		}
		doc, serial := f.signWithout("FR")
		if code, _ := sess.do("POST", "/api/v1/roster?force=true", doc, true); code != http.StatusForbidden {
			t.Fatalf("supervisor forcing: HTTP %d, want 403", code)
		}
		if code, msg := f.postRoster("FR", "?force=true", doc); code != http.StatusOK {
			t.Fatalf("admin forcing: HTTP %d %s", code, msg)
		}
		if s := f.serial("FR"); s != serial {
			t.Fatalf("FR serial %d, want forced %d", s, serial)
		}
		a := f.alertsOf("FR", "roster_forced")
		if len(a) != 1 || a[0].Severity != "critical" || !strings.Contains(a[0].Message, "applied by FORCE: drops this node") {
			t.Fatalf("alerts %+v, want one critical roster_forced", a)
		}
		if rec := f.auditOf("FR", "roster.forced"); len(rec) != 1 || !strings.HasPrefix(rec[0].Actor, "user:") {
			t.Fatalf("audit %+v, want one roster.forced by the admin", rec)
		}
		_, h := f.health("FR", "")
		if h.Status != "degraded" || !containsPrefix(h.Degraded, "this node is not in roster serial") {
			t.Fatalf("FR health after forcing itself out: %+v", h)
		}
		// The others judge it for themselves: dropping 1 of 3 (FR) is
		// within max_drop_share, so they apply it, unforced and unalerted.
		for _, cc := range []string{"DE", "NL"} {
			eventually(t, 20*time.Second, cc+" applies the roster", func() bool { return f.serial(cc) == serial })
			if a := f.alertsOf(cc, "roster_forced"); len(a) != 0 {
				t.Fatalf("%s raised %+v", cc, a)
			}
		}
	})
}

func containsPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
