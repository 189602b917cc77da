package node

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/node/actor"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// The node's side of node/api: the adapters that make the node's parts its
// Cases, Network, Auditor, Alerts and Faults.

// apiDeps is what the API is built from.
func (n *Node) apiDeps() api.Deps {
	d := api.Deps{Country: string(n.cfg.Country), TokenHash: n.token, Now: n.now, Log: n.log,
		Store: n.store, Accounts: n.accounts,
		Cases: apiCases{n}, Network: apiNetwork{n}, Auditor: apiAuditor{n}, Alerts: apiAlerts{n},
		Drills: n.drills, Events: &n.events, Context: n.ctx, Quarantines: n.admission,
		LoginFailed: func() { n.metrics.loginFailures.Inc() }, DraftKey: n.draftKey, IdentifierKey: n.identifierKey}
	if n.metrics != nil {
		d.Metrics, d.MetricsTokenHash = n.metrics.handler(), n.metricsToken
	}
	if n.cfg.Testing.FaultInjection {
		d.Faults = apiFaults{n}
	}
	return d
}

// onLockout is accounts.Options.OnLockout.
func (n *Node) onLockout(user, remote string) {
	api.Lockouts(n.store, apiAlerts{n}, n.now, n.log)(user, remote)
}

// classified keeps an error's message and makes it match an api sentinel
// too, so that the API answers it with the right status.
type classified struct{ err, kind error }

func (e classified) Error() string   { return e.err.Error() }
func (e classified) Unwrap() []error { return []error{e.err, e.kind} }

type apiCases struct{ n *Node }

func (c apiCases) Submit(ctx context.Context, by actor.Actor, doc []byte, idempotencyKey string) (types.Submission, error) {
	sub, err := c.n.cases.Submit(ctx, by.String(), doc, cases.WithIdempotencyKey(idempotencyKey))
	switch {
	case errors.Is(err, cases.ErrIdempotencyMismatch):
		return types.Submission{}, classified{err, api.ErrIdempotencyMismatch}
	case err != nil:
		return types.Submission{}, err
	}
	return types.Submission{CaseID: sub.CaseID, MessageID: sub.MessageID, Replayed: sub.Replayed}, nil
}

func (c apiCases) Validate(doc []byte) error { return c.n.cases.Validate(doc) }

func (c apiCases) Act(ctx context.Context, by actor.Actor, caseID string, doc []byte) (types.ActResult, error) {
	res, err := c.n.cases.Act(ctx, by.String(), caseID, doc)
	switch {
	case errors.Is(err, cases.ErrNoCase):
		return types.ActResult{}, classified{err, api.ErrNoCase}
	case err != nil:
		return types.ActResult{}, err
	}
	return types.ActResult{MessageID: res.MessageID, State: res.State}, nil
}

func (c apiCases) InFlight(messageID string) bool {
	return c.n.engine != nil && c.n.engine.InFlight(messageID) // no engine before Start
}

func (c apiCases) Open(env *protocol.Envelope) ([]byte, error) { return c.n.sealer.Decrypt(env) }

func (c apiCases) Events(cs *store.Case, msgs []*store.Message) []protocol.Event {
	return c.n.cases.Events(cs, msgs)
}

func (c apiCases) Changed(caseID string) { c.n.events.Case(caseID) }

type apiNetwork struct{ n *Node }

func (a apiNetwork) Self() peer.ID                      { return a.n.self }
func (a apiNetwork) Roster() (*protocol.Roster, []byte) { return a.n.roster.Current() }
func (a apiNetwork) IsMember(id peer.ID) bool           { return a.n.roster.IsMember(id) }
func (a apiNetwork) ConnectedPeers() []peer.ID          { return a.n.host.Network().Peers() }

func (a apiNetwork) MemberByCountry(cc protocol.CountryCode) (peer.ID, bool) {
	id, _, ok := a.n.roster.ByCountry(cc)
	return id, ok
}

func (a apiNetwork) Connected(id peer.ID) bool {
	return a.n.host.Network().Connectedness(id) == network.Connected
}

func (a apiNetwork) LastSeen(id peer.ID) (seen time.Time, rtt time.Duration) {
	return a.n.peers.Get(id)
}

func (a apiNetwork) ApplyRoster(doc []byte, source string, force bool) error {
	// Only the API may force a roster, for an admin (api checks the role);
	// a roster from a peer never is.
	err := a.n.gossip.Apply(context.Background(), doc, roster.Source(source), force)
	switch {
	case errors.Is(err, roster.ErrDrops):
		return classified{err, api.ErrRosterDrops}
	case errors.Is(err, roster.ErrUnrecorded):
		return classified{err, api.ErrRosterUnrecorded}
	}
	return err
}

type apiAuditor struct{ n *Node }

func (a apiAuditor) Checkpoint(ctx context.Context) error {
	_, err := a.n.SignAuditCheckpoint(ctx)
	return err
}

func (a apiAuditor) Verify(ctx context.Context) (*store.AuditReport, error) {
	return a.n.VerifyAudit(ctx)
}

type apiAlerts struct{ n *Node }

func (a apiAlerts) Announce(al *store.Alert) {
	a.n.metrics.escalations.WithLabelValues(string(al.Kind)).Inc()
	a.n.events.Alert(al.ID)
	a.n.dispatchAlert(al)
}

type apiFaults struct{ n *Node }

func (f apiFaults) Partition(ids ...peer.ID)     { f.n.Partition(ids...) }
func (f apiFaults) SetClockSkew(d time.Duration) { f.n.SetClockSkew(d) }

func (f apiFaults) Partitioned() []string {
	ids := f.n.gater.Partitioned()
	out := make([]string, len(ids))
	for i, p := range ids {
		out[i] = p.String()
	}
	return out
}

func (f apiFaults) Heal() int {
	n := f.n
	healed := n.heal()
	// Reconnect at once rather than after the connector's backoff, which
	// grew while the partition refused every dial.
	for _, p := range healed {
		n.peers.ResetBackoff(p)
		if n.roster.IsMember(p) {
			n.goRun("heal-dial", func(ctx context.Context) {
				cctx, cancel := context.WithTimeout(ctx, transport.IOTimeout)
				defer cancel()
				// A failed dial is retried by the connector.
				_ = n.host.Connect(cctx, peer.AddrInfo{ID: p})
			})
		}
	}
	return len(healed)
}
