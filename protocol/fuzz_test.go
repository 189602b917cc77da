package protocol_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// Keys in these targets are generated afresh on every run. A successful
// parse of fuzzer-made bytes can therefore only come from the seeds built
// here, and a stale entry in the fuzz cache, signed by last run's keys,
// cannot pass for a forgery.

// mutations returns edge-case variants of a valid encoding: every prefix
// boundary that matters, a flipped byte in several places, trailing bytes.
func mutations(b []byte) [][]byte {
	out := [][]byte{nil, {}, b[:1], b[:len(b)/2], b[:len(b)-1], append(bytes.Clone(b), 0), append(bytes.Clone(b), b...)}
	for _, i := range []int{0, 4, 5, len(b) / 3, len(b) / 2, len(b) - 65, len(b) - 64, len(b) - 1} {
		if i >= 0 && i < len(b) {
			out = append(out, flip(b, i))
		}
	}
	return out
}

func FuzzReadFrame(f *testing.F) {
	frame := func(t protocol.FrameType, body []byte) []byte {
		var buf bytes.Buffer
		if err := protocol.WriteFrame(&buf, t, body); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	env := frame(protocol.FrameEnvelope, []byte("VGE1 envelope"))
	f.Add(env, uint32(protocol.MaxFrameSize))
	f.Add(frame(protocol.FramePing, nil), uint32(1))
	f.Add(append(frame(protocol.FrameReceipt, []byte("r")), frame(protocol.FramePong, nil)...), uint32(16))
	f.Add(frame(protocol.FrameReject, protocol.Reject{Code: "busy"}.Marshal()), uint32(0))
	f.Add([]byte{0, 0, 0, 0}, uint32(protocol.MaxFrameSize))
	f.Add([]byte{0, 0, 0, 0, 1}, uint32(protocol.MaxFrameSize))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1}, uint32(protocol.MaxFrameSize))
	f.Add([]byte{0, 0x10, 0, 1, 1}, uint32(protocol.MaxFrameSize)) // exactly max+1
	f.Add([]byte{0, 0x10, 0, 0, 1}, uint32(protocol.MaxFrameSize)) // exactly max, body missing
	f.Add([]byte{0, 0, 0, 9, 1, 2}, uint32(100))
	f.Add([]byte{0, 0}, uint32(100))
	f.Add(env[:len(env)-1], uint32(protocol.MaxFrameSize))

	f.Fuzz(func(t *testing.T, data []byte, max uint32) {
		// Keep limits to at most 2 MiB so a forged length cannot make the
		// harness itself allocate gigabytes.
		limit := int(max % (2*protocol.MaxFrameSize + 1))
		r := bytes.NewReader(data)
		for {
			start := int(r.Size()) - r.Len()
			typ, body, err := protocol.ReadFrame(r, limit)
			if err != nil {
				if len(data)-start >= 4 {
					n := binary.BigEndian.Uint32(data[start:])
					switch {
					case n == 0 && !errors.Is(err, protocol.ErrMalformed):
						t.Fatalf("empty frame: err = %v, want ErrMalformed", err)
					case int64(n) > int64(limit):
						if !errors.Is(err, protocol.ErrFrameTooLarge) {
							t.Fatalf("frame of %d over limit %d: err = %v, want ErrFrameTooLarge", n, limit, err)
						}
						if read := int(r.Size()) - r.Len() - start; read != 4 {
							t.Fatalf("oversize frame: read %d bytes, want 4", read)
						}
					}
				} else if start == len(data) && err != io.EOF {
					t.Fatalf("clean end of stream: err = %v, want io.EOF", err)
				}
				return
			}
			if len(body)+1 > limit {
				t.Fatalf("body of %d bytes returned under limit %d", len(body), limit)
			}
			// What was read is exactly one canonical frame.
			var re bytes.Buffer
			if err := protocol.WriteFrame(&re, typ, body); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			end := int(r.Size()) - r.Len()
			if !bytes.Equal(re.Bytes(), data[start:end]) {
				t.Fatalf("frame at %d does not re-encode to its input", start)
			}
		}
	})
}

var openErrors = []error{
	protocol.ErrMalformed, protocol.ErrUnknownSender, protocol.ErrBadSignature,
	protocol.ErrWrongRecipient, protocol.ErrDecrypt, protocol.ErrClockSkew,
}

func FuzzOpenEnvelope(f *testing.F) {
	alice, bob, carol := newNode(f, "FR"), newNode(f, "DE"), newNode(f, "NL")
	roster := newRoster(alice.member, bob.member, carol.member)

	// Every envelope bob can legitimately open, with its payload.
	valid := map[string][]byte{}
	add := func(env *protocol.Envelope, payload []byte) {
		valid[string(env.Raw)] = payload
		f.Add(env.Raw)
		for _, m := range mutations(env.Raw) {
			f.Add(m)
		}
	}
	request := []byte(`{"kind":"preservation","to":"DE"}`)
	first := seal(f, alice, bob, testNow.Add(-time.Minute), request)
	add(first, request)
	add(seal(f, carol, bob, testNow, nil), nil)
	add(seal(f, alice, bob, testNow.Add(-time.Hour), bytes.Repeat([]byte{0}, 300)), bytes.Repeat([]byte{0}, 300))

	// Envelopes that are well formed but must not open for bob.
	f.Add(seal(f, alice, carol, testNow, request).Raw)                                  // another recipient
	f.Add(seal(f, alice, bob, testNow.Add(time.Hour), request).Raw)                     // from the future
	f.Add(seal(f, alice, bob, testNow.Add(-30*24*time.Hour), nil).Raw)                  // too old
	f.Add(seal(f, newNode(f, "XX"), bob, testNow, request).Raw)                         // not a member
	f.Add(seal(f, newNodeWith(f, "FR", alice.key, bob.enc), bob, testNow, request).Raw) // wrong sender key
	f.Add(padSignatureLength(f, first.Raw))
	f.Add([]byte("VGE1"))
	f.Add([]byte("VGE1\x01"))
	f.Add([]byte("VGR1"))

	f.Fuzz(func(t *testing.T, data []byte) {
		opened, err := bob.sealer.Open(data, roster, testNow, protocol.DefaultClockPolicy)
		if err != nil {
			if opened != nil {
				t.Fatal("Open returned a value with an error")
			}
			if !slices.ContainsFunc(openErrors, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("untyped error from Open: %v", err)
			}
			return
		}
		payload, ok := valid[string(data)]
		if !ok {
			t.Fatalf("Open accepted bytes that Seal did not produce: %x", data)
		}
		if !bytes.Equal(opened.Payload, payload) {
			t.Fatalf("payload = %q, want %q", opened.Payload, payload)
		}
		if !bytes.Equal(opened.Raw, data) {
			t.Fatal("opened Raw is not the input")
		}
	})
}

func FuzzVerifyRoster(f *testing.F) {
	pub, priv := authorityKey(f)
	_, otherPriv := authorityKey(f)
	fr, de := newNode(f, "FR"), newNode(f, "DE")
	r := newRoster(fr.member, de.member)
	doc, err := protocol.SignRoster(r, priv)
	if err != nil {
		f.Fatal(err)
	}
	want := rosterJSON(f, r)

	f.Add(doc)
	for _, m := range mutations(doc) {
		f.Add(m)
	}
	f.Add(bytes.Replace(doc, []byte(`"serial": 7`), []byte(`"serial": 8`), 1))
	f.Add(bytes.Replace(doc, []byte(`"signature"`), []byte(`"x":1,"signature"`), 1))
	otherDoc, err := protocol.SignRoster(r, otherPriv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(otherDoc)
	dupBody, _ := json.Marshal(newRoster(fr.member, fr.member))
	f.Add(signRaw(f, dupBody, priv)) // signed, but invalid content
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"roster":null,"signature":""}`))
	f.Add([]byte(`{"roster":{},"signature":"AAAA"}`))
	f.Add([]byte(`[]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := protocol.VerifyRoster(data, pub)
		if err != nil {
			if got != nil {
				t.Fatal("VerifyRoster returned a roster with an error")
			}
			return
		}
		// The outer document may vary (whitespace, field order), but the
		// roster itself must be exactly the one the authority signed.
		if s := rosterJSON(t, got); s != want {
			t.Fatalf("VerifyRoster accepted a roster the authority never signed:\n%s", s)
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	alice, bob, carol := newNode(f, "FR"), newNode(f, "DE"), newNode(f, "NL")
	env := seal(f, alice, bob, testNow, []byte("payload"))
	good, err := protocol.SignReceipt(bob.key, env, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Raw)
	for _, m := range mutations(good.Raw) {
		f.Add(m)
	}
	f.Add(padSignatureLength(f, good.Raw))
	byCarol, err := protocol.SignReceipt(carol.key, env, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byCarol.Raw)
	f.Add(env.Raw)
	f.Add([]byte("VGR1"))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := protocol.ParseReceipt(data)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("parse error not ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Raw, data) {
			t.Fatal("parsed Raw is not the input")
		}
		if err := r.Verify(env); err == nil && !bytes.Equal(data, good.Raw) {
			t.Fatalf("Verify accepted a receipt bob never signed: %x", data)
		} else if err != nil && !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("Verify error not ErrBadSignature: %v", err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	example := readExample(f)
	f.Add(example)
	f.Add(mutateExample(f, func(doc map[string]any) {
		delete(doc, "facts_summary")
		delete(firstIdentifier(doc), "from")
	}))
	f.Add(mutateExample(f, func(doc map[string]any) { firstIdentifier(doc)["from"] = "2026-11-22T00:40:00+01:00" }))
	f.Add(mutateExample(f, func(doc map[string]any) { doc["identifiers"] = "203.0.113.47" }))
	f.Add(mutateExample(f, func(doc map[string]any) { doc["unknown"] = true }))
	f.Add(mutateExample(f, func(doc map[string]any) { doc["prosecutor_or_court"] = nil }))
	f.Add(example[:len(example)/2])
	f.Add(append(bytes.Clone(example), '}'))
	f.Add([]byte(`{"kind":"preservation"}`))
	f.Add([]byte(`{"kind":"other"}`))
	f.Add([]byte(`{"kind":"preservation","identifiers":[{"from":"x"}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`"preservation"`))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := protocol.ParseRequest(data)
		if err != nil {
			var ve *protocol.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("error is not a non-empty *ValidationError: %v", err)
			}
			for _, fe := range ve.Fields {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("unnamed or unexplained field error %+v", fe)
				}
			}
			if req != nil {
				_ = req.Validate() // an incomplete request must still be usable
			}
			return
		}
		if req == nil {
			t.Fatal("no request and no error")
		}
		// A valid request survives re-encoding unchanged.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal valid request: %v", err)
		}
		again, err := protocol.ParseRequest(b)
		if err != nil {
			t.Fatalf("re-encoded valid request is invalid: %v\n%s", err, b)
		}
		b2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("request changed on re-encoding:\n%s\n%s", b, b2)
		}
	})
}
