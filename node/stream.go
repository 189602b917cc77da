package node

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/protocol"
)

// Stream protocols. The version is part of the ID so a node can speak two
// versions during an upgrade.
const (
	ProtoDeliver = "/vigil/deliver/1.0.0"
	ProtoRoster  = "/vigil/roster/1.0.0"

	serviceName = "vigil"
	// ioTimeout bounds every single frame read or write on a busy stream.
	ioTimeout = 15 * time.Second
	// streamIdle is how long a delivery stream stays open with nothing to do.
	streamIdle = 2 * time.Minute
)

// readFrame reads one frame from a libp2p stream, reserving its size from
// the stream's resource scope first so a peer cannot make the node allocate
// more than the resource manager allows. The caller must call release.
func readFrame(s network.Stream, max int) (t protocol.FrameType, body []byte, release func(), err error) {
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

// writeFrame writes one frame under a write deadline.
func writeFrame(s network.Stream, t protocol.FrameType, body []byte) error {
	if err := s.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	return protocol.WriteFrame(s, t, body)
}

// tracker owns goroutines started by libp2p stream handlers, so Close can
// wait for them after it stops accepting new ones.
type tracker struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) leave() { t.wg.Done() }

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.wg.Wait()
}
