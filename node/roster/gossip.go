package roster

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Store is where roster changes leave their audit records and alerts, one
// transaction per change (*store.Store).
type Store interface {
	Update(ctx context.Context, fn func(*store.Tx) error) error
}

// Alerts announces an alert once the transaction that raised it has
// committed: the node logs, counts, publishes and dispatches it.
type Alerts interface {
	Raised(a *store.Alert)
}

// Source says where a roster came from, as alerts and logs show it:
// "api:<actor>" for an operator's push, "peer:<peer ID>" for gossip.
type Source string

// FromAPI is the source of a roster an operator pushed through the API.
func FromAPI(actor string) Source { return Source("api:" + actor) }

// FromPeer is the source of a roster learnt from peer p.
func FromPeer(p peer.ID) Source { return Source("peer:" + p.String()) }

func (s Source) fromPeer() bool { return strings.HasPrefix(string(s), "peer:") }

// actor is who the audit log names for a change from s: the API user, or
// the node itself for gossip.
func (s Source) actor() string {
	if a, ok := strings.CutPrefix(string(s), "api:"); ok {
		return a
	}
	return "node"
}

// GossipOptions are Gossip's settings and dependencies.
type GossipOptions struct {
	// Self is this node's peer ID: the drop guard refuses a roster that
	// leaves it out.
	Self peer.ID
	// MaxDropShare is roster.max_drop_share: the largest share of the
	// members a roster may drop without being forced.
	MaxDropShare float64
	Now          func() time.Time
	Logger       *zap.Logger
	Store        Store
	Alerts       Alerts
	// Admit applies the per-member rate to an incoming exchange; nil
	// admits every member.
	Admit func(peer.ID) bool
	// Go runs fn on a goroutine its owner (the node) stops with ctx and
	// waits for on close: pushes, pulls and exchanges run there.
	Go func(name string, fn func(ctx context.Context))
}

// Gossip installs the rosters the API and peers offer, and spreads them.
type Gossip struct {
	state        *State
	host         host.Host
	self         peer.ID
	maxDropShare float64
	now          func() time.Time
	log          *zap.Logger
	store        Store
	alerts       Alerts
	admit        func(peer.ID) bool
	goRun        func(name string, fn func(ctx context.Context))

	claims claims
}

// NewGossip returns the gossip for state over h. Register hands its
// stream handler to the node.
func NewGossip(state *State, h host.Host, o GossipOptions) *Gossip {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Admit == nil {
		o.Admit = func(peer.ID) bool { return true }
	}
	return &Gossip{state: state, host: h, self: o.Self, maxDropShare: o.MaxDropShare, now: o.Now, log: o.Logger,
		store: o.Store, alerts: o.Alerts, admit: o.Admit, goRun: o.Go}
}

// Apply installs a newer signed roster from src and spreads it: to every
// connected member if it came from the API, to a few of them if from a
// peer. It returns why a roster was not installed.
//
// The drop guard refuses a roster that drops this node or more than
// MaxDropShare of the members (ErrDrops), with a critical alert and an
// audit record. With force (an admin's explicit decision, honoured only
// from the API) such a roster is installed all the same, with a critical
// alert. A roster from the API is audited (roster.applied, and
// roster.forced when forced) before it takes effect: if that record cannot
// be written the roster is not installed and Apply returns ErrUnrecorded,
// so no operator's change to who the node trusts goes unrecorded, and
// nothing is half done. A roster learnt from a peer is the network's, not
// an operator's act, and is not audited unless refused.
func (g *Gossip) Apply(ctx context.Context, doc []byte, src Source, force bool) error {
	fromPeer := src.fromPeer()
	force = force && !fromPeer // a roster from a peer is never forced
	if force {
		g.state.forgetRefused()
	}
	// When forced past the guard, remember what was forced so it is
	// alerted and audited.
	var forced *drop
	guard := func(old, r *protocol.Roster) error {
		d := drops(old, r, g.self)
		if !d.exceeds(g.maxDropShare) {
			return nil
		}
		if force {
			forced = &d
			return nil
		}
		return fmt.Errorf("%w: serial %d %s (roster.max_drop_share %.2f); an admin can force it", ErrDrops,
			r.Serial, d, g.maxDropShare)
	}
	var record func(old, r *protocol.Roster) error
	var raised *store.Alert
	if !fromPeer {
		record = func(_, r *protocol.Roster) (err error) {
			raised, err = g.recordApplied(ctx, doc, r, src, forced)
			return err
		}
	}
	log := g.log.With(zap.String("source", string(src)))
	installed := func(old, r *protocol.Roster) {
		var prev uint64
		if old != nil {
			prev = old.Serial
		}
		log.Info("applied new roster", zap.Uint64("serial", r.Serial), zap.Uint64("previous_serial", prev),
			zap.Int("members", len(r.Members)))
		if forced != nil {
			log.Error("applied roster by force although it drops this node or too many members",
				zap.Uint64("serial", r.Serial), zap.Stringer("drop", *forced))
		}
	}
	old, r, err := g.state.apply(doc, g.now(), applyHooks{guard: guard, record: record, installed: installed})
	if raised != nil {
		g.alerts.Raised(raised)
	}
	if err != nil {
		return g.refusal(ctx, log, err, doc, old, r, src)
	}
	// Tell connected members; those behind will pull. A roster learnt
	// from a peer goes on to a few of them only (pushTargets).
	for _, p := range g.pushTargets(src, r.Serial) {
		g.goRun("roster-push", func(ctx context.Context) { g.Exchange(ctx, p) })
	}
	return nil
}

// refusal logs why Apply did not install r and records a drop-guard
// refusal; it returns Apply's error.
func (g *Gossip) refusal(ctx context.Context, log *zap.Logger, err error, doc []byte, old, r *protocol.Roster, src Source) error {
	switch {
	case errors.Is(err, protocol.ErrRosterStale):
		log.Debug("ignored roster that is not newer", zap.Error(err))
	case errors.Is(err, errRefusedBefore) && src.fromPeer():
		// The same document again from another peer: alerted and audited
		// the first time; not again for every peer.
		log.Debug("ignored roster refused before", zap.Error(err))
	case errors.Is(err, ErrDrops):
		log.Error("refused roster that drops this node or too many members",
			zap.Uint64("serial", r.Serial), zap.Int("members", len(r.Members)), zap.Error(err))
		if rerr := g.recordRefused(ctx, doc, old, r, src); rerr != nil {
			return errors.Join(err, rerr)
		}
	case errors.Is(err, ErrUnrecorded):
		log.Error("refused roster whose audit record could not be written", zap.Error(err))
	default:
		log.Warn("refused roster", zap.Error(err))
	}
	return err
}

// recordApplied audits an operator's roster change (roster.applied) and,
// if it was forced past the drop guard, raises its critical alert and
// audits that too (roster.forced), in one transaction. It returns the
// alert if newly raised.
func (g *Gossip) recordApplied(ctx context.Context, doc []byte, r *protocol.Roster, src Source, forced *drop) (*store.Alert, error) {
	now := g.now().UTC()
	var a *store.Alert
	var recs []store.AuditRecord
	if forced != nil {
		msg := fmt.Sprintf("roster serial %d from %s applied by FORCE: %s", r.Serial, src, forced)
		a = rosterAlert(alerts.RosterForced, doc, r.Serial, msg, now)
		recs = append(recs, store.AuditRecord{At: now, Actor: src.actor(), Action: "roster.forced", Detail: msg})
	}
	recs = append(recs, store.AuditRecord{At: now, Actor: src.actor(), Action: "roster.applied",
		Detail: "serial " + strconv.FormatUint(r.Serial, 10)})
	return g.record(ctx, a, false, recs...)
}

// recordRefused raises the critical alert of a roster the drop guard
// refused and audits it (roster.refused). A roster refused by gossip
// arrives from many peers; it is audited with the alert, once per
// document, while one pushed through the API is audited every time.
func (g *Gossip) recordRefused(ctx context.Context, doc []byte, old, r *protocol.Roster, src Source) error {
	now := g.now().UTC()
	msg := fmt.Sprintf("roster serial %d from %s refused: %s", r.Serial, src, drops(old, r, g.self))
	a := rosterAlert(alerts.RosterRefused, doc, r.Serial, msg, now)
	raised, err := g.record(ctx, a, src.fromPeer(), store.AuditRecord{At: now, Actor: src.actor(), Action: "roster.refused", Detail: msg})
	if raised != nil {
		g.alerts.Raised(raised)
	}
	return err
}

// rosterAlert is the critical node-wide alert for a refused or forced
// roster. Its ID names the document: two different rosters with one serial
// (a re-signed draft) are two events.
func rosterAlert(kind store.AlertKind, doc []byte, serial uint64, msg string, now time.Time) *store.Alert {
	h := sha256.Sum256(doc)
	return &store.Alert{ID: fmt.Sprintf("roster/%s/%d/%x", strings.TrimPrefix(string(kind), "roster_"), serial, h[:6]), Kind: kind,
		Severity: alerts.Critical, RaisedAt: now, Message: msg}
}

// record writes, in one transaction, alert a (if not nil) and the audit
// records; with onlyIfNew, the records only if a was not raised before. It
// returns a if it was newly raised, for the caller to announce. The error,
// if any, is logged and returned, never dropped.
func (g *Gossip) record(ctx context.Context, a *store.Alert, onlyIfNew bool, recs ...store.AuditRecord) (*store.Alert, error) {
	isNew := false
	err := g.store.Update(ctx, func(tx *store.Tx) error {
		if a != nil {
			var err error
			if isNew, err = tx.RaiseAlert(a); err != nil {
				return fmt.Errorf("raise %s alert: %w", a.Kind, err)
			}
			if !isNew && onlyIfNew {
				return nil
			}
		}
		for _, rec := range recs {
			if err := tx.Audit(rec); err != nil {
				return fmt.Errorf("audit %s: %w", rec.Action, err)
			}
		}
		return nil
	})
	if err != nil {
		actions := make([]string, len(recs))
		for i, rec := range recs {
			actions[i] = rec.Action
		}
		g.log.Error("could not record roster alert and audit", zap.Strings("actions", actions), zap.Error(err))
		return nil, err
	}
	if isNew {
		return a, nil
	}
	return nil, nil
}
