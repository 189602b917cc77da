package roster

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
)

// The roster exchange: the opener sends the serial it holds; the other
// side answers with its signed roster if that is newer, or with its own
// serial. If the opener's serial is the newer one, the answering side
// pulls it with an exchange of its own. Running this on every new
// connection and after every roster change spreads a roster to the whole
// network, each node downloading it once.
const (
	// ProtocolID is the stream protocol; the version is part of the ID so
	// a node can speak two versions during an upgrade.
	ProtocolID libp2pprotocol.ID = "/vigil/roster/1.0.0"
	// ServiceName is the resource-manager service the exchange's streams
	// are accounted to.
	ServiceName = "vigil.roster"
)

func serialBytes(s uint64) []byte { return binary.AppendUvarint(nil, s) }

func parseSerial(b []byte) (uint64, error) {
	s, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return 0, fmt.Errorf("%w: bad roster serial", protocol.ErrMalformed)
	}
	return s, nil
}

// Register serves the exchange on the host, behind the handler preamble
// every Vigil protocol shares.
func (g *Gossip) Register(hs *transport.Handlers) {
	hs.Handle(g.host, ProtocolID, ServiceName, g.handle)
}

// Exchange compares rosters with p and installs p's if newer.
func (g *Gossip) Exchange(ctx context.Context, p peer.ID) {
	log := g.log.With(zap.Stringer("peer", p))
	cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
	defer cancel()
	s, err := g.host.NewStream(cctx, p, ProtocolID)
	if err != nil {
		log.Debug("roster exchange: open stream", zap.Error(err))
		return
	}
	defer s.Close()
	if err := s.Scope().SetService(ServiceName); err != nil {
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(transport.IOTimeout))
	if err := protocol.WriteFrame(s, protocol.FrameRosterSerial, serialBytes(g.state.Serial())); err != nil {
		s.Reset()
		return
	}
	t, body, release, err := transport.ReadFrame(s, protocol.MaxFrameSize)
	if err != nil {
		log.Debug("roster exchange: read", zap.Error(err))
		s.Reset()
		return
	}
	defer release()
	if t == protocol.FrameRoster {
		if err := g.Apply(ctx, body, FromPeer(p), false); err != nil {
			log.Debug("roster exchange: offered roster not installed", zap.Error(err)) // Apply logged why
		}
	} else if theirs, err := parseSerial(body); err == nil {
		g.claims.note(p, theirs)
	}
}

// handle is the answering end of the exchange.
func (g *Gossip) handle(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	if !g.admit(remote) { // per-member rate
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(transport.IOTimeout))
	t, body, release, err := transport.ReadFrame(s, 16)
	if err != nil || t != protocol.FrameRosterSerial {
		s.Reset()
		return
	}
	theirs, err := parseSerial(body)
	release()
	if err != nil {
		s.Reset()
		return
	}
	r, doc := g.state.Current()
	if r.Serial > theirs {
		err = protocol.WriteFrame(s, protocol.FrameRoster, doc)
	} else {
		err = protocol.WriteFrame(s, protocol.FrameRosterSerial, serialBytes(r.Serial))
	}
	if err != nil {
		s.Reset()
		return
	}
	g.claims.note(remote, theirs)
	if theirs > r.Serial {
		g.pull(remote, theirs) // one pull at a time per serial
	}
}
