package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
)

// Roster exchange: the opener sends the serial it holds; the other side
// answers with its signed roster if that is newer, or with its own serial.
// If the opener's serial is the newer one, the answering side pulls it with
// an exchange of its own. Running this on every new connection and after
// every roster change spreads a roster to the whole network, each node
// downloading it once.

func serialBytes(s uint64) []byte { return binary.AppendUvarint(nil, s) }

func parseSerial(b []byte) (uint64, error) {
	s, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return 0, fmt.Errorf("%w: bad roster serial", protocol.ErrMalformed)
	}
	return s, nil
}

// exchangeRoster compares rosters with p and pulls p's if newer.
func (n *Node) exchangeRoster(ctx context.Context, p peer.ID) {
	log := n.log.Named("roster").With(zap.Stringer("peer", p))
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	s, err := n.host.NewStream(cctx, p, ProtoRoster)
	if err != nil {
		log.Debug("roster exchange: open stream", zap.Error(err))
		return
	}
	defer s.Close()
	if err := s.Scope().SetService(serviceName); err != nil {
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(ioTimeout))
	if err := protocol.WriteFrame(s, protocol.FrameRosterSerial, serialBytes(n.roster.serial())); err != nil {
		s.Reset()
		return
	}
	t, body, release, err := readFrame(s, protocol.MaxFrameSize)
	if err != nil {
		log.Debug("roster exchange: read", zap.Error(err))
		s.Reset()
		return
	}
	defer release()
	if t == protocol.FrameRoster {
		n.applyRoster(body, "peer:"+p.String())
	} else if theirs, err := parseSerial(body); err == nil {
		n.mesh.noteSerial(p, theirs)
	}
}

func (n *Node) handleRoster(s network.Stream) {
	if !n.handlers.enter() {
		s.Reset()
		return
	}
	defer n.handlers.leave()
	if err := s.Scope().SetService(serviceName); err != nil {
		s.Reset()
		return
	}
	defer s.Close()
	remote := s.Conn().RemotePeer()
	if !n.admitStream(remote, false) { // per-member rate (admission_glue.go)
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(ioTimeout))
	t, body, release, err := readFrame(s, 16)
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
	r, doc := n.roster.current()
	if r.Serial > theirs {
		err = protocol.WriteFrame(s, protocol.FrameRoster, doc)
	} else {
		err = protocol.WriteFrame(s, protocol.FrameRosterSerial, serialBytes(r.Serial))
	}
	if err != nil {
		s.Reset()
		return
	}
	n.mesh.noteSerial(remote, theirs)
	if theirs > r.Serial {
		n.pullRoster(remote, theirs) // one pull at a time per serial (mesh.go)
	}
}

// ApplyRoster installs a newer signed roster (from the API or a file) and
// propagates it. It returns the error when the roster is refused.
func (n *Node) ApplyRoster(doc []byte, source string) error {
	return n.applyRoster(doc, source)
}

func (n *Node) applyRoster(doc []byte, source string) error {
	log := n.log.Named("roster")
	n.applying.Lock()
	defer n.applying.Unlock()
	old, r, err := n.roster.apply(doc, n.now())
	if err != nil {
		if errors.Is(err, protocol.ErrRosterStale) {
			log.Debug("ignored roster that is not newer", zap.String("source", source), zap.Error(err))
		} else {
			log.Warn("refused roster", zap.String("source", source), zap.Error(err))
		}
		return err
	}
	log.Info("applied new roster", zap.String("source", source), zap.Uint64("serial", r.Serial),
		zap.Uint64("previous_serial", old.Serial), zap.Int("members", len(r.Members)))
	n.applyMembership(old)
	// Tell connected members; those behind will pull. A roster learnt
	// from a peer goes on to a few of them only (mesh.go pushTargets).
	for _, p := range n.pushTargets(source, r.Serial) {
		n.goRun("roster-push", func(ctx context.Context) { n.exchangeRoster(ctx, p) })
	}
	return nil
}
