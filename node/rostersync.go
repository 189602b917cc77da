package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
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
	cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
	defer cancel()
	s, err := n.host.NewStream(cctx, p, ProtoRoster)
	if err != nil {
		log.Debug("roster exchange: open stream", zap.Error(err))
		return
	}
	defer s.Close()
	if err := s.Scope().SetService(serviceRoster); err != nil {
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(transport.IOTimeout))
	if err := protocol.WriteFrame(s, protocol.FrameRosterSerial, serialBytes(n.roster.serial())); err != nil {
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
		n.applyRoster(body, "peer:"+p.String())
	} else if theirs, err := parseSerial(body); err == nil {
		n.mesh.noteSerial(p, theirs)
	}
}

func (n *Node) handleRoster(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	if !n.admitStream(remote, false) { // per-member rate (admission_glue.go)
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
// propagates it. It returns the error when the roster is refused. It never
// forces: see ApplyRosterForced.
func (n *Node) ApplyRoster(doc []byte, source string) error {
	return n.installRoster(doc, source, false)
}

// ApplyRosterForced installs a newer signed roster even if it drops this
// node or more than roster.max_drop_share of the members (an operator's
// explicit decision; a critical alert records it). Only the API calls it,
// for an admin; a roster from a peer can never be forced.
func (n *Node) ApplyRosterForced(doc []byte, source string) error {
	return n.installRoster(doc, source, true)
}

// applyRoster installs a roster learnt from a peer or the API without
// force. Gossip paths (exchangeRoster, mesh.go) only ever come here.
func (n *Node) applyRoster(doc []byte, source string) error {
	return n.installRoster(doc, source, false)
}

func (n *Node) installRoster(doc []byte, source string, force bool) error {
	log := n.log.Named("roster")
	n.applying.Lock()
	defer n.applying.Unlock()
	// The drop guard (issue 9 item 8): refuse a roster that drops this
	// node or too large a share of the members, unless forced. When forced
	// past it, remember what was forced so it is alerted and audited.
	var forced *rosterDrop
	guard := func(old, r *protocol.Roster) error {
		d := rosterDrops(old, r, n.self)
		if !d.exceeds(n.cfg.Roster.MaxDropShare) {
			return nil
		}
		if force {
			forced = &d
			return nil
		}
		return fmt.Errorf("%w: serial %d %s (roster.max_drop_share %.2f); an admin can force it", ErrRosterDrops,
			r.Serial, d, n.cfg.Roster.MaxDropShare)
	}
	fromPeer := strings.HasPrefix(source, "peer:")
	force = force && !fromPeer // a roster from a peer is never forced
	if force {
		n.roster.forgetRefused()
	}
	old, r, err := n.roster.apply(doc, n.now(), guard)
	if err != nil {
		switch {
		case errors.Is(err, protocol.ErrRosterStale):
			log.Debug("ignored roster that is not newer", zap.String("source", source), zap.Error(err))
		case errors.Is(err, errRefusedBefore) && fromPeer:
			// The same document again from another peer: alerted and
			// audited the first time; not again for every peer.
			log.Debug("ignored roster refused before", zap.String("source", source), zap.Error(err))
		case errors.Is(err, ErrRosterDrops):
			log.Error("refused roster that drops this node or too many members", zap.String("source", source),
				zap.Uint64("serial", r.Serial), zap.Int("members", len(r.Members)), zap.Error(err))
			d := rosterDrops(old, r, n.self)
			if aerr := n.rosterAlert(context.Background(), "roster_refused", "roster.refused", doc, r.Serial, source,
				fmt.Sprintf("roster serial %d from %s refused: %s", r.Serial, source, d), !fromPeer); aerr != nil {
				return errors.Join(err, aerr)
			}
		default:
			log.Warn("refused roster", zap.String("source", source), zap.Error(err))
		}
		return err
	}
	log.Info("applied new roster", zap.String("source", source), zap.Uint64("serial", r.Serial),
		zap.Uint64("previous_serial", old.Serial), zap.Int("members", len(r.Members)))
	var alertErr error
	if forced != nil {
		log.Error("applied roster by force although it drops this node or too many members", zap.String("source", source),
			zap.Uint64("serial", r.Serial), zap.Stringer("drop", *forced))
		alertErr = n.rosterAlert(context.Background(), "roster_forced", "roster.forced", doc, r.Serial, source,
			fmt.Sprintf("roster serial %d from %s applied by FORCE: %s", r.Serial, source, forced), true)
	}
	n.applyMembership(old)
	// Tell connected members; those behind will pull. A roster learnt
	// from a peer goes on to a few of them only (mesh.go pushTargets).
	for _, p := range n.pushTargets(source, r.Serial) {
		n.goRun("roster-push", func(ctx context.Context) { n.exchangeRoster(ctx, p) })
	}
	if alertErr != nil {
		return fmt.Errorf("%w: serial %d: %w", errRosterUnrecorded, r.Serial, alertErr)
	}
	return nil
}

// errRosterUnrecorded: the roster was applied (by force) but its alert or
// audit record could not be written.
var errRosterUnrecorded = errors.New("roster applied, but its alert or audit record could not be written")

// rosterAlert raises a critical node-wide alert for a refused or forced
// roster and audits it in the same transaction. A roster refused by gossip
// arrives from many peers; it is audited with the alert, once per serial,
// while one pushed through the API (alwaysAudit) is audited every time.
// The error, if any, is returned and logged, never dropped.
func (n *Node) rosterAlert(ctx context.Context, kind, action string, doc []byte, serial uint64, source, msg string, alwaysAudit bool) error {
	now := n.now().UTC()
	// One alert per document: two different rosters with one serial (a
	// re-signed draft) are two events.
	h := sha256.Sum256(doc)
	a := &store.Alert{ID: fmt.Sprintf("roster/%s/%d/%x", strings.TrimPrefix(kind, "roster_"), serial, h[:6]), Kind: store.AlertKind(kind),
		Severity: "critical", RaisedAt: now, Message: msg}
	var isNew bool
	err := n.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if isNew, err = tx.RaiseAlert(a); err != nil {
			return fmt.Errorf("raise %s alert: %w", kind, err)
		}
		if !isNew && !alwaysAudit {
			return nil
		}
		actor := "node"
		if strings.HasPrefix(source, "api:") {
			actor = strings.TrimPrefix(source, "api:")
		}
		if err := tx.Audit(store.AuditRecord{At: now, Actor: actor, Action: action, Detail: msg}); err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		return nil
	})
	if err != nil {
		n.log.Named("roster").Error("could not record roster alert and audit", zap.String("kind", kind),
			zap.Uint64("serial", serial), zap.Error(err))
		return err
	}
	if isNew {
		n.log.Named("alerts").Warn("alert raised", zap.String("kind", string(a.Kind)), zap.String("severity", string(a.Severity)))
		n.metrics.escalations.WithLabelValues(string(a.Kind)).Inc()
		n.publishAlert(a)
		n.dispatchAlert(a)
	}
	return nil
}
