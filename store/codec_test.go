package store

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// fill sets every exported field of the struct v points to (recursively)
// to a non-zero value, so a field added later is covered without editing
// the tests below.
func fill(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	// A zone that is neither UTC nor local: the offset must survive.
	at := time.Date(2026, 12, 3, 3, 12, 0, 123456789, time.FixedZone("", 5*3600+30*60))
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 4 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(at))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), depth+1)
			}
		}
	case reflect.String:
		v.SetString("x-" + v.Type().Name() + "-\u00e9\"\x01")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1<<40 + 3)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(2.5)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Type() == reflect.TypeFor[json.RawMessage]() {
				v.SetBytes([]byte(`{"a":[1,"b"]}`))
				return
			}
			v.SetBytes([]byte{0, 1, 2, 0xd9, 0xff})
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(t, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, depth+1)
		fill(t, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		t.Fatalf("fill: no rule for %s", v.Type())
	}
}

// storedRecordTypes are the types the store writes with setRecord.
func storedRecordTypes() []any {
	return []any{&Case{}, &Message{}, &Idempotency{}, &User{}, &Token{}, &Session{}, &Alert{}, &Quarantine{},
		&auditHead{}, &auditTree{}, &Checkpoint{}, &DrillRun{}, &Draft{}}
}

// TestRecordCodecRoundTrip: every stored record type, with every field
// set, decodes from its CBOR record to the same value as from the JSON
// that versions before the codec wrote. Both are compared as JSON, which
// is what the record means (the json tags name its fields).
func TestRecordCodecRoundTrip(t *testing.T) {
	for _, v := range storedRecordTypes() {
		typ := reflect.TypeOf(v).Elem()
		t.Run(typ.Name(), func(t *testing.T) {
			fill(t, reflect.ValueOf(v).Elem(), 0)
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := encodeRecord(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(rec, cborMagic) {
				t.Fatalf("record does not start with the CBOR tag: % x", rec[:8])
			}
			fromCBOR := reflect.New(typ).Interface()
			if err := decodeRecord(rec, fromCBOR); err != nil {
				t.Fatalf("decode CBOR record: %v", err)
			}
			fromJSON := reflect.New(typ).Interface()
			if err := decodeRecord(want, fromJSON); err != nil {
				t.Fatalf("decode JSON record: %v", err)
			}
			got, _ := json.Marshal(fromCBOR)
			old, _ := json.Marshal(fromJSON)
			if !bytes.Equal(got, want) || !bytes.Equal(old, want) {
				t.Fatalf("round trip changed the record:\nwant %s\ncbor %s\njson %s", want, got, old)
			}
		})
	}
}

// TestRecordsWrittenAsJSONStillRead: a store whose records an older
// version wrote as JSON reads them, lists them and, once one is updated,
// stores it as CBOR.
func TestRecordsWrittenAsJSONStillRead(t *testing.T) {
	s := openAccountsStore(t)
	at := time.Date(2026, 11, 1, 2, 3, 4, 0, time.UTC)
	c := &Case{ID: protocol.NewID(at), Direction: Incoming, Kind: "preservation", Country: "DE", State: "open",
		CreatedAt: at, UpdatedAt: at, MessageIDs: []string{"m1"}, Terms: &protocol.Terms{Kind: "preservation", RequestedAt: at}}
	m := &Message{ID: "m1", CaseID: c.ID, Direction: Incoming, Type: "request", State: StateReceived, CreatedAt: at, UpdatedAt: at,
		Receipt: []byte("signed receipt")}
	cj, _ := json.Marshal(c)
	mj, _ := json.Marshal(m)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		tx.set(caseKey(c.ID), cj) // as an older version wrote them
		tx.set(msgKey(m.ID), mj)
		tx.set(envKey(m.ID), []byte("envelope"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var gotCase *Case
	var listed []*Case
	var gotMsg *Message
	if err := s.View(func(tx *ReadTx) error {
		var err error
		if gotCase, err = tx.Case(c.ID); err != nil {
			return err
		}
		if listed, err = tx.Cases(10); err != nil {
			return err
		}
		gotMsg, err = tx.Message(m.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if gj, _ := json.Marshal(gotCase); !bytes.Equal(gj, cj) {
		t.Fatalf("legacy case read as\n%s\nwant\n%s", gj, cj)
	}
	if len(listed) != 1 || listed[0].ID != c.ID {
		t.Fatalf("legacy case not listed: %v", listed)
	}
	if gotMsg.CaseID != c.ID || string(gotMsg.Receipt) != "signed receipt" || string(gotMsg.Envelope) != "envelope" {
		t.Fatalf("legacy message read as %+v", gotMsg)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		c, err := tx.Case(c.ID)
		if err != nil {
			return err
		}
		c.State = "closed"
		return tx.PutCase(c)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *ReadTx) error {
		raw, err := tx.get(caseKey(c.ID))
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(raw, cborMagic) {
			t.Errorf("an updated legacy record is still stored as %q", raw[:1])
		}
		got, err := tx.Case(c.ID)
		if err == nil && got.State != "closed" {
			t.Errorf("updated case reads state %q", got.State)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRecordKeepsInvalidUTF8: a string that is not valid UTF-8 (a
// peer's rejection reason, say) must not make its record unreadable.
func TestRecordKeepsInvalidUTF8(t *testing.T) {
	m := &Message{ID: "m1", LastError: "peer said: \xff\xfe not utf-8"}
	rec, err := encodeRecord(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := decodeRecord(rec, &got); err != nil {
		t.Fatalf("record with invalid UTF-8 does not decode: %v", err)
	}
	if got.LastError != m.LastError {
		t.Fatalf("last error read back as %q", got.LastError)
	}
}

// TestRecordKeepsLongLists: a list longer than the CBOR decoder's default
// limit (131,072 elements) still decodes.
func TestRecordKeepsLongLists(t *testing.T) {
	c := &Case{ID: "c1", MessageIDs: make([]string, 200_000)}
	rec, err := encodeRecord(c)
	if err != nil {
		t.Fatal(err)
	}
	var got Case
	if err := decodeRecord(rec, &got); err != nil {
		t.Fatalf("long list does not decode: %v", err)
	}
	if len(got.MessageIDs) != len(c.MessageIDs) {
		t.Fatalf("read %d message IDs, want %d", len(got.MessageIDs), len(c.MessageIDs))
	}
}

// TestDecodeRecordRefusesGarbage: a record that is neither JSON nor CBOR
// after the tag is an error, not a zero value.
func TestDecodeRecordRefusesGarbage(t *testing.T) {
	var c Case
	for _, b := range [][]byte{[]byte("not json"), append(append([]byte(nil), cborMagic...), 0xff, 0x00), cborMagic, nil} {
		if err := decodeRecord(b, &c); err == nil {
			t.Errorf("decodeRecord(% x) = nil error", b)
		}
	}
}

// BenchmarkRecordCodec encodes and decodes a submitted case and its
// message: the records every request writes and reads in the committer.
func BenchmarkRecordCodec(b *testing.B) {
	now := time.Now().UTC()
	id := protocol.NewID(now)
	c := &Case{ID: id, Direction: Outgoing, Kind: "preservation", Country: "DE", Peer: "12D3KooWQ3nT5qXfjz4r1s3n3vQ7yJ9b1bq5Xz1g5bQm8Yk2sQ1",
		State: "open", CreatedAt: now, UpdatedAt: now, MessageIDs: []string{id}, RequestID: id, ActionsIndexed: true, Urgency: "urgent",
		AckDueAt: now.Add(time.Hour), ExpiresAt: now.Add(90 * 24 * time.Hour), Reference: "FR-2026-000123", RequesterTimeZone: "Europe/Paris",
		Terms: &protocol.Terms{Kind: "preservation", Treaty: "budapest", RequestedAt: now, RosterSerial: 7, ResponderZone: "Europe/Berlin",
			Traffic: true, Identifiers: 3},
		IdentifierTags: []string{string(bytes.Repeat([]byte("a"), 64)), string(bytes.Repeat([]byte("b"), 64))}}
	m := &Message{ID: id, CaseID: id, Direction: Outgoing, Type: "request", Peer: c.Peer, Country: "DE", State: StateDelivered,
		Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: now, Receipt: make([]byte, 260), OutboxSeq: 12345}
	codecs := []struct {
		name   string
		encode func(any) ([]byte, error)
	}{{"json", json.Marshal}, {"cbor", encodeRecord}}
	for _, codec := range codecs {
		b.Run(codec.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				cb, err := codec.encode(c)
				if err != nil {
					b.Fatal(err)
				}
				mb, _ := codec.encode(m)
				var c2 Case
				var m2 Message
				if err := decodeRecord(cb, &c2); err != nil {
					b.Fatal(err)
				}
				if err := decodeRecord(mb, &m2); err != nil {
					b.Fatal(err)
				}
				n = len(cb) + len(mb)
			}
			b.ReportMetric(float64(n), "bytes/op")
		})
	}
}
