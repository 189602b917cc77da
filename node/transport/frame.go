package transport

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/protocol"
)

const (
	// IOTimeout bounds every single frame read or write on a busy stream,
	// and the opening of a stream.
	IOTimeout = 15 * time.Second
	// StreamIdle is how long a delivery stream stays open with nothing to do.
	StreamIdle = 2 * time.Minute
)

// ReadFrame reads one frame from a libp2p stream, reserving its size from
// the stream's resource scope first so a peer cannot make the node allocate
// more than the resource manager allows. The caller must call release.
func ReadFrame(s network.Stream, max int) (t protocol.FrameType, body []byte, release func(), err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return 0, nil, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n == 0 {
		return 0, nil, nil, fmt.Errorf("%w: empty frame", protocol.ErrMalformed)
	}
	if n > max {
		return 0, nil, nil, fmt.Errorf("frame of %d bytes (limit %d): %w", n, max, protocol.ErrFrameTooLarge)
	}
	if err := s.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
		return 0, nil, nil, fmt.Errorf("reserve %d bytes for frame: %w", n, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { s.Scope().ReleaseMemory(n) }) }
	buf := make([]byte, n)
	if _, err := io.ReadFull(s, buf); err != nil {
		release()
		return 0, nil, nil, fmt.Errorf("read frame body: %w", err)
	}
	return protocol.FrameType(buf[0]), buf[1:], release, nil
}

// WriteFrame writes one frame under a write deadline.
func WriteFrame(s network.Stream, t protocol.FrameType, body []byte) error {
	if err := s.SetWriteDeadline(time.Now().Add(IOTimeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return protocol.WriteFrame(s, t, body)
}
