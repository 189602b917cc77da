package transport

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"
)

// Handlers owns the goroutines libp2p starts for stream handlers, so a
// node's Close can wait for them after it stops accepting new ones.
type Handlers struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// Handle registers fn for proto on h behind the preamble every Vigil
// protocol shares: once closing, new streams are reset; each stream's
// resource scope is tagged with service (e.g. "vigil.deliver") so the
// resource manager accounts each protocol apart.
func (t *Handlers) Handle(h host.Host, proto libp2pprotocol.ID, service string, fn func(network.Stream)) {
	h.SetStreamHandler(proto, func(s network.Stream) {
		if !t.enter() {
			s.Reset()
			return
		}
		defer t.leave()
		if err := s.Scope().SetService(service); err != nil {
			s.Reset()
			return
		}
		fn(s)
	})
}

func (t *Handlers) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *Handlers) leave() { t.wg.Done() }

// CloseAndWait refuses new streams and waits for running handlers.
func (t *Handlers) CloseAndWait() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.wg.Wait()
}
