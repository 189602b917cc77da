package protocol

import (
	"encoding/binary"
	"fmt"
)

// canonicalWriter builds the exact bytes that get signed: fixed field order,
// length-prefixed strings and big-endian integers. There is one encoding for
// any value, so signatures never depend on a re-marshalling library.
type canonicalWriter struct{ b []byte }

func (w *canonicalWriter) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}
func (w *canonicalWriter) str(s string) { w.bytes([]byte(s)) }
func (w *canonicalWriter) i64(v int64)  { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *canonicalWriter) u8(v byte)    { w.b = append(w.b, v) }
func (w *canonicalWriter) raw(p []byte) { w.b = append(w.b, p...) }

type canonicalReader struct {
	b   []byte
	err error
}

const maxField = 8 << 20

func (r *canonicalReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or invalid %s", ErrMalformed, what)
	}
}

func (r *canonicalReader) bytes(what string) []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	// k must be the minimal length for n: binary.Uvarint also accepts padded
	// encodings, which would give one value several wire forms. The signature
	// length prefix sits outside the signed bytes, so padding it would change
	// an envelope's or receipt's Raw (and hash) without breaking its signature.
	if k <= 0 || k != uvarintLen(n) || n > maxField || n > uint64(len(r.b)-k) {
		r.fail(what)
		return nil
	}
	out := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return out
}

func uvarintLen(n uint64) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

func (r *canonicalReader) str(what string) string { return string(r.bytes(what)) }

func (r *canonicalReader) i64(what string) int64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail(what)
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *canonicalReader) u8(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *canonicalReader) fixed(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *canonicalReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return r.err
}
