package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
)

// FrameType says what a frame on a Vigil stream carries.
type FrameType byte

const (
	FrameEnvelope FrameType = 1 // sender → receiver: a sealed envelope
	FrameReceipt  FrameType = 2 // receiver → sender: a signed receipt
	FrameReject   FrameType = 3 // receiver → sender: a Reject, message refused
	FrameRoster   FrameType = 4 // a signed roster document
	FramePing     FrameType = 5
	FramePong     FrameType = 6
	// FrameRosterSerial carries a roster serial (uvarint): "I have this one".
	FrameRosterSerial FrameType = 7
)

// MaxFrameSize caps every frame. Requests are text; 1 MiB leaves room for
// attachments-by-reference without letting a peer exhaust memory.
const MaxFrameSize = 1 << 20

// FrameHeaderSize is the length prefix (4 bytes) plus the type byte.
const FrameHeaderSize = 5

// WriteFrame writes one frame: a 4-byte big-endian length of type+body, the
// type byte, then body.
func WriteFrame(w io.Writer, t FrameType, body []byte) error {
	if len(body)+1 > MaxFrameSize {
		return fmt.Errorf("write frame of %d bytes: %w", len(body), ErrFrameTooLarge)
	}
	buf := make([]byte, FrameHeaderSize, FrameHeaderSize+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)+1))
	buf[4] = byte(t)
	buf = append(buf, body...)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame, refusing any whose declared length exceeds max
// before allocating for it.
func ReadFrame(r io.Reader, max int) (FrameType, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if int64(n) > int64(max) {
		return 0, nil, fmt.Errorf("read frame of %d bytes (limit %d): %w", n, max, ErrFrameTooLarge)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fmt.Errorf("read frame body: %w", err)
	}
	return FrameType(buf[0]), buf[1:], nil
}

// Reject tells a sender why its envelope was refused. Permanent rejections
// (bad signature, wrong recipient) are not retried; others are.
type Reject struct {
	MessageID string
	Code      string
	Permanent bool
	Reason    string
}

// Marshal encodes the rejection for a FrameReject.
func (rj Reject) Marshal() []byte {
	var w canonicalWriter
	w.str(rj.MessageID)
	w.str(rj.Code)
	if rj.Permanent {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.str(rj.Reason)
	return w.b
}

// ParseReject decodes a FrameReject body.
func ParseReject(b []byte) (Reject, error) {
	r := canonicalReader{b: b}
	rj := Reject{MessageID: r.str("message id"), Code: r.str("code")}
	rj.Permanent = r.u8("permanent") == 1
	rj.Reason = r.str("reason")
	return rj, r.end()
}
