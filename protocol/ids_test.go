package protocol_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// Issue 12: invalid UTF-8 in a request is refused with a field error that
// names the field, not silently replaced and forwarded.
func TestInvalidUTF8Refused(t *testing.T) {
	for _, c := range []struct{ doc, field string }{
		{"{\"kind\":\"preservation\",\"subject\":{\"identifiers\":[\"a\xffb\"]}}", "subject.identifiers"},
		{"{\"kind\":\"preservation\",\"reference\":\"ref-\xc3\"}", "reference"},
		{"{\"kind\":\"preservation\",\"ref\xfe\":1}", "ref\ufffd"},
	} {
		_, err := protocol.ParseRequest([]byte(c.doc))
		var ve *protocol.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != c.field || !strings.Contains(ve.Fields[0].Message, "UTF-8") {
			t.Errorf("%q: %v, want one UTF-8 error on %s", c.doc, err, c.field)
		}
	}
}

// Issue 12: IDs are canonical lower-case hex; the upper-case spelling is
// refused, with a message saying how to write it.
func TestIDsCanonical(t *testing.T) {
	id := protocol.NewID(time.Now())
	if !protocol.ValidID(id) || protocol.IDProblem(id) != "" {
		t.Fatalf("NewID %q not valid", id)
	}
	up := strings.ToUpper(id)
	if protocol.ValidID(up) || !strings.Contains(protocol.IDProblem(up), id) {
		t.Fatalf("upper-case %q: valid %v, problem %q", up, protocol.ValidID(up), protocol.IDProblem(up))
	}
	for _, bad := range []string{"", id[:31], id + "0", id[:31] + "g"} {
		if protocol.ValidID(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}

// TestIDFrom: a derived ID is a valid, time-ordered ID (NewID's prefix for
// the same millisecond), the same for the same bits, another for others.
func TestIDFrom(t *testing.T) {
	at := time.Date(2026, 12, 3, 3, 12, 0, 0, time.UTC)
	var bits [10]byte
	copy(bits[:], "0123456789")
	a, b := protocol.IDFrom(at, bits), protocol.IDFrom(at, bits)
	if a != b || !protocol.ValidID(a) || a[:12] != protocol.NewID(at)[:12] || a[12] != '7' {
		t.Fatalf("IDFrom = %s, %s", a, b)
	}
	bits[9] ^= 1
	if protocol.IDFrom(at, bits) == a {
		t.Fatal("other bits gave the same ID")
	}
}
