package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// Records are stored as CBOR (RFC 8949) behind the self-described CBOR
// tag (RFC 8949 §3.4.6: the three bytes d9 d9 f7), which no JSON document
// can start with. Records written before this codec are JSON and are still
// read (decodeRecord); a record is rewritten in CBOR the next time it is
// stored. The fields and their names are the structs' json tags, so a
// record means the same in both encodings.
//
// Why CBOR (issue 13): every write is staged by the store's one
// committer, so encoding is on every request's path. Encoding and decoding
// a case and a message record takes about a third of encoding/json's time
// (BenchmarkRecordCodec), byte strings are stored as bytes, not base64,
// and fxamacker/cbor is a maintained, fuzzed implementation, so no codec
// of our own is needed. Audit records stay JSON: their bytes are what the
// hash chain and the Merkle tree cover, and auditors verify them as such.
var cborMagic = []byte{0xd9, 0xd9, 0xf7}

var (
	recordEnc cbor.EncMode
	recordDec cbor.DecMode
)

func init() {
	var err error
	// RFC 3339 with nanoseconds keeps a time's zone offset, as
	// encoding/json does: a record decodes to the same value in both.
	recordEnc, err = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, Sort: cbor.SortNone}.EncMode()
	if err != nil {
		panic(fmt.Sprintf("record encoder: %v", err))
	}
	// A record must always decode once written: no size limits below
	// what the store itself allows, and strings kept byte for byte even
	// if not valid UTF-8 (a peer's rejection reason is stored in a
	// message's last error), as Go strings and encoding/json allow.
	recordDec, err = cbor.DecOptions{MaxArrayElements: math.MaxInt32, MaxMapPairs: math.MaxInt32,
		MaxNestedLevels: 256, UTF8: cbor.UTF8DecodeInvalid}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("record decoder: %v", err))
	}
}

// encodeRecord encodes v as a stored record: the CBOR tag, then v.
func encodeRecord(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(cborMagic)
	if err := recordEnc.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeRecord decodes a stored record into v: CBOR after the tag, or
// JSON as written by versions before the codec.
func decodeRecord(b []byte, v any) error {
	if rest, ok := bytes.CutPrefix(b, cborMagic); ok {
		return recordDec.Unmarshal(rest, v)
	}
	return json.Unmarshal(b, v)
}
