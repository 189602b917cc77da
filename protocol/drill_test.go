package protocol_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

func TestPingPongRoundTrip(t *testing.T) {
	fr, de := newNode(t, "FR"), newNode(t, "DE")
	ping, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(ping.Raw) > protocol.MaxDrillFrame {
		t.Fatalf("ping of %d bytes exceeds MaxDrillFrame", len(ping.Raw))
	}
	got, err := protocol.ParsePing(ping.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Nonce != ping.Nonce || got.Sender != fr.id || !got.SentAt.Equal(testNow) || !bytes.Equal(got.Raw, ping.Raw) {
		t.Fatalf("parsed ping differs: %+v", got)
	}
	if err := got.Verify(fr.id); err != nil {
		t.Fatalf("genuine ping: %v", err)
	}
	if err := got.Verify(de.id); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("ping from another peer than its signer: %v, want ErrBadSignature", err)
	}

	pong, err := protocol.SignPong(de.key, got, testNow.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(pong.Raw) > protocol.MaxDrillFrame {
		t.Fatalf("pong of %d bytes exceeds MaxDrillFrame", len(pong.Raw))
	}
	pp, err := protocol.ParsePong(pong.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if pp.Nonce != ping.Nonce || pp.Responder != de.id || !pp.ReceivedAt.Equal(testNow.Add(time.Millisecond)) {
		t.Fatalf("parsed pong differs: %+v", pp)
	}
	if err := pp.Verify(ping, de.id); err != nil {
		t.Fatalf("genuine pong: %v", err)
	}

	other, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if other.Nonce == ping.Nonce {
		t.Fatal("two pings share a nonce")
	}
	if err := pp.Verify(other, de.id); !errors.Is(err, protocol.ErrPongMismatch) {
		t.Fatalf("pong checked against another ping: %v, want ErrPongMismatch", err)
	}
}

func TestPongTamperedOrForgedRejected(t *testing.T) {
	fr, de, nl := newNode(t, "FR"), newNode(t, "DE"), newNode(t, "NL")
	ping, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		t.Fatal(err)
	}
	pong, err := protocol.SignPong(de.key, ping, testNow)
	if err != nil {
		t.Fatal(err)
	}

	// Every single-bit change in the signed part or the signature either
	// fails to parse or fails to verify.
	for i := range pong.Raw {
		bad := flip(pong.Raw, i)
		p, err := protocol.ParsePong(bad)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("byte %d: parse error %v is not ErrMalformed", i, err)
			}
			continue
		}
		err = p.Verify(ping, de.id)
		if err == nil {
			t.Fatalf("tampered pong (byte %d) verified", i)
		}
		if !errors.Is(err, protocol.ErrBadSignature) && !errors.Is(err, protocol.ErrPongMismatch) {
			t.Fatalf("byte %d: verify error %v is not typed", i, err)
		}
	}

	// A pong signed by another member, answering the right nonce.
	forged, err := protocol.SignPong(nl.key, ping, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := protocol.ParsePong(forged.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ping, de.id); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("pong signed by NL for DE: %v, want ErrBadSignature", err)
	}

	// NL's signature spliced onto a pong claiming to be DE's.
	spliced := append(bytes.Clone(pong.Raw[:len(pong.Raw)-64]), forged.Signature...)
	if p, err := protocol.ParsePong(spliced); err != nil {
		t.Fatal(err)
	} else if err := p.Verify(ping, de.id); !errors.Is(err, protocol.ErrBadSignature) {
		t.Fatalf("spliced signature: %v, want ErrBadSignature", err)
	}

	// A ping is not a pong, and the signatures are domain separated: the
	// same canonical body signed as a ping does not verify as a pong.
	if _, err := protocol.ParsePong(ping.Raw); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("ping parsed as pong: %v", err)
	}
	if _, err := protocol.ParsePong(padSignatureLength(t, pong.Raw)); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("non-minimal signature length accepted: %v", err)
	}
	if _, err := protocol.ParsePong(append(bytes.Clone(pong.Raw), 0)); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

func FuzzParsePing(f *testing.F) {
	fr, de := newNode(f, "FR"), newNode(f, "DE")
	good, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Raw)
	for _, m := range mutations(good.Raw) {
		f.Add(m)
	}
	f.Add(padSignatureLength(f, good.Raw))
	byDE, err := protocol.SignPing(de.key, good.Nonce, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byDE.Raw)
	pong, err := protocol.SignPong(de.key, good, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pong.Raw)
	f.Add([]byte("VGP1"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := protocol.ParsePing(data)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("parse error not ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(p.Raw, data) {
			t.Fatal("parsed Raw is not the input")
		}
		if err := p.Verify(fr.id); err == nil && !bytes.Equal(data, good.Raw) {
			t.Fatalf("Verify accepted a ping FR never signed: %x", data)
		} else if err != nil && !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("Verify error not ErrBadSignature: %v", err)
		}
	})
}

func FuzzParsePong(f *testing.F) {
	fr, de, nl := newNode(f, "FR"), newNode(f, "DE"), newNode(f, "NL")
	ping, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		f.Fatal(err)
	}
	good, err := protocol.SignPong(de.key, ping, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Raw)
	for _, m := range mutations(good.Raw) {
		f.Add(m)
	}
	f.Add(padSignatureLength(f, good.Raw))
	byNL, err := protocol.SignPong(nl.key, ping, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byNL.Raw)
	otherPing, err := protocol.NewPing(fr.key, testNow)
	if err != nil {
		f.Fatal(err)
	}
	stale, err := protocol.SignPong(de.key, otherPing, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(stale.Raw)
	f.Add(ping.Raw)
	f.Add([]byte("VGQ1"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := protocol.ParsePong(data)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("parse error not ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(p.Raw, data) {
			t.Fatal("parsed Raw is not the input")
		}
		err = p.Verify(ping, de.id)
		switch {
		case err == nil && !bytes.Equal(data, good.Raw):
			t.Fatalf("Verify accepted a pong DE never signed for this ping: %x", data)
		case err != nil && !errors.Is(err, protocol.ErrBadSignature) && !errors.Is(err, protocol.ErrPongMismatch):
			t.Fatalf("Verify error not typed: %v", err)
		}
	})
}

func TestAssistanceQueryDrillFlag(t *testing.T) {
	doc := []byte(`{"kind":"assistance","to":"DE","date":"2026-11-27","reference":"DRILL-2026-11-27-1",
		"requesting_authority":{"organisation":"FR 24/7","person":"Duty officer","phone":"+33 1","email":"pc@fr.example.org",
		"office_hours":"24/7","time_zone":"Europe/Paris"},
		"topic":"other","question":"DRILL: please acknowledge this test request","drill":true,
		"safeguards":{"legal_basis":"network drill","proportionality":"no personal data","handling_code":"H0"}}`)
	req, err := protocol.ParseRequest(doc)
	if err != nil {
		t.Fatalf("drill request refused: %v", err)
	}
	if q, ok := req.(*protocol.AssistanceQuery); !ok || !q.Drill {
		t.Fatalf("drill flag lost: %#v", req)
	}
	bad := bytes.Replace(doc, []byte(`"drill":true`), []byte(`"drill":"yes"`), 1)
	var verr *protocol.ValidationError
	if _, err := protocol.ParseRequest(bad); !errors.As(err, &verr) || verr.Fields[0].Field != "drill" {
		t.Fatalf("non-boolean drill: %v", err)
	}
	// A drill's deadline is a UTC time, and only drills carry one.
	due := bytes.Replace(doc, []byte(`"drill":true`), []byte(`"drill":true,"acknowledge_by":"2026-11-27T10:30:00Z"`), 1)
	if req, err := protocol.ParseRequest(due); err != nil || req.(*protocol.AssistanceQuery).AcknowledgeBy != "2026-11-27T10:30:00Z" {
		t.Fatalf("drill with a deadline: %v", err)
	}
	for name, d := range map[string][]byte{
		"not a time":  bytes.Replace(due, []byte(`2026-11-27T10:30:00Z`), []byte(`half past ten`), 1),
		"not a drill": bytes.Replace(due, []byte(`"drill":true,`), nil, 1),
	} {
		if _, err := protocol.ParseRequest(d); !errors.As(err, &verr) || verr.Fields[0].Field != "acknowledge_by" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
