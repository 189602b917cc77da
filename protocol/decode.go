package protocol

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// strictDecode decodes one JSON object into v, refusing unknown fields,
// duplicate names and trailing data, with the problem named as a field
// error.
//
// It decodes with encoding/json/v2 (the go-json-experiment mirror, which
// Go 1.27 ships as the standard library's): it parses a request in about
// half the time of encoding/json's Decoder, on both the sender and the
// receiver of every request (BENCHMARKS.md). It is also stricter where
// strictness matters for signed documents: a duplicated name ({"to":"DE",
// "to":"NL"}) is refused instead of the last one silently winning, and
// names match exactly, not case-insensitively, so one document cannot
// read two ways.
func strictDecode(doc []byte, v any) error {
	// Refused by the decoder too, but without naming the field.
	if !utf8.Valid(doc) {
		return &ValidationError{Fields: []FieldError{invalidUTF8Field(doc)}}
	}
	if err := jsonv2.Unmarshal(doc, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return &ValidationError{Fields: []FieldError{jsonFieldError(err)}}
	}
	return nil
}

// jsonFieldError names the field a decoding error is about: the JSON
// path in dotted form without array indexes (identifiers.from), as
// operators read it in the console.
func jsonFieldError(err error) FieldError {
	var te *time.ParseError
	if errors.As(err, &te) || strings.Contains(err.Error(), "parsing time") {
		return FieldError{Field: "(time)", Message: "times must be RFC 3339 in UTC, e.g. 2026-11-27T03:12:00Z: " + err.Error()}
	}
	var se *jsonv2.SemanticError
	if errors.As(err, &se) {
		if errors.Is(se.Err, jsonv2.ErrUnknownName) {
			name := se.JSONPointer.LastToken()
			if name == "" {
				name = `""` // an empty key is still a field and must be named
			}
			return FieldError{Field: name, Message: "is not a field of this request kind"}
		}
		if field := dottedPath(se.JSONPointer); field != "" {
			if se.JSONKind != 0 && se.GoType != nil {
				return FieldError{Field: field, Message: fmt.Sprintf("must be a JSON %s, not a JSON %s", goKindName(se.GoType), kindName(se.JSONKind))}
			}
			return FieldError{Field: field, Message: se.Error()}
		}
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
			return FieldError{Field: dottedPath(syn.JSONPointer), Message: "appears twice; each field may be given once"}
		}
		return FieldError{Field: "(body)", Message: "is not one valid JSON object: " + syn.Error()}
	}
	return FieldError{Field: "(body)", Message: err.Error()}
}

// dottedPath turns a JSON pointer (/identifiers/0/from) into the dotted
// field path of error messages (identifiers.from).
func dottedPath(p jsontext.Pointer) string {
	var keys []string
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			continue // an array index
		}
		keys = append(keys, tok)
	}
	return strings.Join(keys, ".")
}

// goKindName is the JSON kind a Go type decodes from.
func goKindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}

// kindName is a JSON kind as people say it.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return k.String()
}
