package cases_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

type oneMember struct {
	id   peer.ID
	m    protocol.Member
	self protocol.Member // this node's own entry
}

// protocolParties are Parties to the Convention and its Second Protocol,
// so emergency requests (Protocol Art. 9) may pass between them.
var protocolParties = []protocol.Party{{Treaty: protocol.TreatyBudapest, From: "2004-07-01"}, {Treaty: protocol.TreatySecondProtocol, From: "2022-05-12"}}

func (d oneMember) Serial() uint64                                 { return 1 }
func (d oneMember) MemberByPeer(p peer.ID) (protocol.Member, bool) { return d.m, p == d.id }
func (d oneMember) ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool) {
	if cc == d.self.Country {
		return "", d.self, true
	}
	return d.id, d.m, cc == d.m.Country
}

type queued map[peer.ID][]*store.Message

func (q queued) Notify(p peer.ID, m *store.Message) { q[p] = append(q[p], m) }

type ids []string

func (s *ids) Case(id string) { *s = append(*s, id) }

type noAlerts struct{}

func (noAlerts) ClearFor(*store.Tx, *store.Case, time.Time) error { return nil }

// sealer is a fresh identity and encryption key; generation errors are
// joined, since none can happen without the next one failing too.
func sealer(t *testing.T) (*protocol.Sealer, peer.ID, protocol.EncryptionKey) {
	t.Helper()
	key, _, err1 := crypto.GenerateEd25519Key(nil)
	id, err2 := peer.IDFromPrivateKey(key)
	enc, err3 := protocol.GenerateEncryptionKey()
	s, err4 := protocol.NewSealer(key, enc)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	return s, id, enc
}

// TestSubmitActAndErrors: a submitted request is durable, queued and
// published by case ID; an action moves it on; bad input is refused with
// the package's errors, and nothing is stored for it.
func TestSubmitActAndErrors(t *testing.T) {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Profile: store.ProfileSmall})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	own, _, _ := sealer(t)
	_, deID, deEnc := sealer(t)
	dir := oneMember{deID, protocol.Member{Country: "DE", PeerID: deID.String(), Treaties: protocolParties,
		EncryptionKey: base64.StdEncoding.EncodeToString(deEnc.Public[:])}, protocol.Member{Country: "FR", Treaties: protocolParties}}
	out, pub := queued{}, &ids{}
	svc := cases.New(cases.Options{Store: st, Sealer: own, Directory: dir, Outbox: out, Publisher: pub,
		Alerts: noAlerts{}, Quota: admission.New(admission.Options{}), Country: "FR",
		Deadlines: config.DefaultConfig().Deadlines, MaxPayload: config.DefaultConfig().Admission.MaxPayload})

	b, err := os.ReadFile("../../configs/examples/emergency.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["to"] = "FR"
	self, _ := json.Marshal(doc)
	var verr *protocol.ValidationError
	if err := svc.Validate(self); !errors.As(err, &verr) {
		t.Fatalf("a request to this node's own country: %v, want a validation error", err)
	}
	doc["to"] = "DE"
	good, _ := json.Marshal(doc)
	sub, err := svc.Submit(context.Background(), "test", good)
	if err != nil {
		t.Fatal(err)
	}
	if len(out[deID]) != 1 || out[deID][0].ID != sub.MessageID || len(*pub) != 1 || (*pub)[0] != sub.CaseID {
		t.Fatalf("outbox told %v, published %v", out, *pub)
	}
	var c *store.Case
	if err := st.View(func(tx *store.ReadTx) error { c, err = tx.Case(sub.CaseID); return err }); err != nil {
		t.Fatal(err)
	}
	if c.State != string(protocol.StateOpen) || cases.RoleOf(c) != protocol.Requester || c.AckDueAt.IsZero() {
		t.Fatalf("stored case %+v", c)
	}
	if _, err := svc.Act(context.Background(), "test", "no-such-case", []byte(`{"action":"withdraw","operator":"x"}`)); !errors.Is(err, cases.ErrNoCase) {
		t.Fatalf("act on a missing case: %v, want ErrNoCase", err)
	}
	res, err := svc.Act(context.Background(), "test", sub.CaseID, []byte(`{"action":"withdraw","operator":"x","reason":"test"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != string(protocol.StateWithdrawn) || len(out[deID]) != 2 {
		t.Fatalf("after withdrawing: %+v, %d queued", res, len(out[deID]))
	}
	var te *protocol.TransitionError
	if _, err := svc.Act(context.Background(), "test", sub.CaseID, []byte(`{"action":"withdraw","operator":"x","reason":"again"}`)); !errors.As(err, &te) {
		t.Fatalf("withdrawing twice: %v, want a transition error", err)
	}
}
