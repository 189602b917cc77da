package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// strictDecodeV1 is strictDecode as it was with encoding/json, kept here
// to show the switch to encoding/json/v2 reads every request the same.
func strictDecodeV1(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(doc[dec.InputOffset():])) != 0 {
		return errors.New("trailing data")
	}
	return nil
}

// requestCorpus is every example request, and for each a few hundred
// random mutations of its values (deleted, replaced by values of other
// JSON kinds, strings changed), decoded into the kind's type.
func requestCorpus(t *testing.T) (docs [][]byte, kinds []func() any) {
	t.Helper()
	paths, err := filepath.Glob("../configs/examples/*.json")
	if err != nil || len(paths) < 4 {
		t.Fatalf("examples: %v (%d)", err, len(paths))
	}
	newOf := map[string]func() any{
		"preservation":  func() any { return &PreservationRequest{} },
		"emergency":     func() any { return &EmergencyRequest{} },
		"emergency_mla": func() any { return &EmergencyMLARequest{} },
		"assistance":    func() any { return &AssistanceQuery{} },
	}
	rng := rand.New(rand.NewPCG(13, 2026))
	replacements := []any{nil, true, 0, 90, -1, 1.5, "", "x", "2026-11-27T03:12:00Z", "yesterday", []any{}, []any{"a"}, map[string]any{}, map[string]any{"telex": 1}}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimSuffix(filepath.Base(p), ".json")
		mk := newOf[kind]
		if mk == nil {
			t.Fatalf("no type for example %s", p)
		}
		docs, kinds = append(docs, b), append(kinds, mk)
		for i := 0; i < 300; i++ {
			var doc any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			mutate(rng, doc, replacements)
			m, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			docs, kinds = append(docs, m), append(kinds, mk)
		}
	}
	return docs, kinds
}

// mutate changes one value somewhere in doc, or deletes or adds a member.
func mutate(rng *rand.Rand, doc any, repl []any) {
	for {
		switch v := doc.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			if len(keys) == 0 || rng.IntN(8) == 0 {
				v["unexpected_"+string(rune('a'+rng.IntN(3)))] = repl[rng.IntN(len(repl))]
				return
			}
			k := keys[rng.IntN(len(keys))]
			switch child := v[k]; {
			case rng.IntN(3) == 0:
				if rng.IntN(2) == 0 {
					delete(v, k)
				} else {
					v[k] = repl[rng.IntN(len(repl))]
				}
				return
			case isContainer(child):
				doc = child
				continue
			default:
				v[k] = repl[rng.IntN(len(repl))]
				return
			}
		case []any:
			if len(v) == 0 {
				return
			}
			i := rng.IntN(len(v))
			if isContainer(v[i]) && rng.IntN(3) != 0 {
				doc = v[i]
				continue
			}
			v[i] = repl[rng.IntN(len(repl))]
			return
		default:
			return
		}
	}
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// TestStrictDecodeMatchesEncodingJSON: on ~1,200 example and mutated
// requests, encoding/json/v2 accepts exactly what encoding/json accepted
// and decodes it to the same value, so requests stored or sent by older
// versions read as they did.
func TestStrictDecodeMatchesEncodingJSON(t *testing.T) {
	docs, kinds := requestCorpus(t)
	accepted := 0
	for i, doc := range docs {
		v1, v2 := kinds[i](), kinds[i]()
		err1, err2 := strictDecodeV1(doc, v1), strictDecode(doc, v2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("doc %d: encoding/json error %v, v2 error %v\n%s", i, err1, err2, doc)
		}
		if err1 != nil {
			var ve *ValidationError
			if !errors.As(err2, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field == "" {
				t.Fatalf("doc %d: v2 error %v does not name one field", i, err2)
			}
			continue
		}
		accepted++
		if !reflect.DeepEqual(v1, v2) {
			t.Fatalf("doc %d decodes differently:\nencoding/json %+v\nv2            %+v", i, v1, v2)
		}
	}
	if accepted < 50 || accepted == len(docs) {
		t.Fatalf("%d of %d documents accepted: the corpus does not exercise both paths", accepted, len(docs))
	}
	t.Logf("%d documents, %d accepted by both, the rest refused by both", len(docs), accepted)
}

// TestStrictDecodeStricterWhereItMatters: what encoding/json let through
// and v2 refuses, on purpose. A signed request must read one way only.
func TestStrictDecodeStricterWhereItMatters(t *testing.T) {
	example, err := os.ReadFile("../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		doc   []byte
		field string
	}{
		// encoding/json kept the last "to".
		"duplicate name": {append([]byte(`{"to":"NL",`), example[1:]...), "to"},
		// encoding/json matched "TO" to "to".
		"name in other case": {bytes.Replace(example, []byte(`"to"`), []byte(`"TO"`), 1), "TO"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := strictDecodeV1(c.doc, &PreservationRequest{}); err != nil {
				t.Fatalf("encoding/json refused it too (%v): the case proves nothing", err)
			}
			err := strictDecode(c.doc, &PreservationRequest{})
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != c.field {
				t.Fatalf("v2: %v, want one error naming %q", err, c.field)
			}
		})
	}
}

// BenchmarkParseRequest is the cost of reading and validating the
// example preservation request, paid once at the sender and once at the
// receiver; the encoding/json decode it replaced runs beside it.
func BenchmarkParseRequest(b *testing.B) {
	doc, err := os.ReadFile("../configs/examples/preservation.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("v2", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := ParseRequest(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-only-v2", func(b *testing.B) {
		for b.Loop() {
			if err := strictDecode(doc, &PreservationRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-only-encoding-json", func(b *testing.B) {
		for b.Loop() {
			if err := strictDecodeV1(doc, &PreservationRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
