package node

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/alerts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/cases"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/node/events"
	"github.com/vigil-network/vigil/node/mesh"
	"github.com/vigil-network/vigil/node/roster"
	"github.com/vigil-network/vigil/node/schedule"
	"github.com/vigil-network/vigil/node/transport"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Options carries what a caller injects into a node besides its config.
type Options struct {
	Logger *zap.Logger
	// Now is the node's clock; tests and drills may skew it.
	Now func() time.Time
	// OnDelivered, if set, is called after a receipt for an outgoing
	// message is verified and durably stored (benchmarks and drills).
	OnDelivered func(messageID string)
	// OnReceived, if set, is called after an incoming message is durably
	// stored and before its receipt is sent.
	OnReceived func(messageID string)
}

// Node is one running point of contact.
type Node struct {
	cfg    *config.Config
	opts   Options
	log    *zap.Logger
	now    func() time.Time
	key    crypto.PrivKey
	self   peer.ID
	sealer *protocol.Sealer
	roster *roster.State  // the roster in force
	gossip *roster.Gossip // installs and spreads rosters (node/roster)
	store  *store.Store
	host   host.Host
	cm     *connmgr.BasicConnMgr
	gater  *transport.Gater
	token  [32]byte // SHA-256 of the API token
	// metricsToken is the SHA-256 of the scrape token; nil: none.
	metricsToken *[32]byte
	// draftKey seals drafts at rest (api.DraftKeyFrom); identifierKey keys
	// the cases' identifier index (protocol.IdentifierTag).
	draftKey, identifierKey []byte
	clock                   protocol.ClockPolicy

	cases    *cases.Service     // submit, act, accept (wire_cases.go)
	engine   *deliver.Outbox    // delivery workers, built by Start (wire_deliver.go)
	peers    *mesh.Peers        // last seen, RTT and dial backoff per member
	handlers transport.Handlers // goroutines started by libp2p stream handlers
	events   events.Hub
	metrics  *metrics
	hooks    *alerts.Hooks       // webhook and command workers
	sched    *schedule.Scheduler // deadline alerts, purges, periodic steps
	accounts *accounts.Manager
	drills   *drills.Service
	faults   faultState // testing.fault_injection (faults.go)
	mesh     *mesh.Mesh // warm connections, pings, duplicate pruning (node/mesh)
	// admission decides what each member may make this node do;
	// refusalLog samples refusal log lines (admission_glue.go).
	admission  *admission.Controller
	refusalLog *admission.Sampler

	apiSrv *http.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// New loads keys, roster and store and builds the libp2p host. Nothing runs
// until Start.
func New(cfg *config.Config, opts Options) (n *Node, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n = &Node{cfg: cfg, opts: opts, log: opts.Logger, now: opts.Now,
		clock: protocol.ClockPolicy{MaxFutureSkew: cfg.Clock.MaxFutureSkew, MaxAge: cfg.Clock.MaxAge}}
	n.now = n.faults.skewed(opts.Now) // a fault-injected clock skew shifts everything the node dates
	if n.key, err = config.LoadIdentityKey(cfg.Path(cfg.IdentityKey)); err != nil {
		return nil, err
	}
	if n.self, err = peer.IDFromPrivateKey(n.key); err != nil {
		return nil, fmt.Errorf("peer id: %w", err)
	}
	enc, err := config.LoadEncryptionKey(cfg.Path(cfg.EncryptionKey))
	if err != nil {
		return nil, err
	}
	keys := []protocol.EncryptionKey{enc}
	for _, p := range cfg.PreviousEncryptionKeys {
		old, err := config.LoadEncryptionKey(cfg.Path(p))
		if err != nil {
			return nil, fmt.Errorf("previous encryption key: %w", err)
		}
		keys = append(keys, old)
	}
	if n.sealer, err = protocol.NewSealer(n.key, keys...); err != nil {
		return nil, err
	}
	tok, err := config.ReadSecret(cfg.Path(cfg.API.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("api token: %w", err)
	}
	n.token = sha256.Sum256(bytes.TrimRight(tok, "\r\n "))
	if cfg.Metrics.TokenFile != "" {
		mt, err := config.ReadSecret(cfg.Path(cfg.Metrics.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("metrics token: %w", err)
		}
		if mt = bytes.TrimRight(mt, "\r\n "); len(mt) < 16 {
			return nil, fmt.Errorf("metrics token %s: shorter than 16 characters", cfg.Metrics.TokenFile)
		}
		h := sha256.Sum256(mt)
		n.metricsToken = &h
	}
	authority, err := protocol.ParseAuthorityKey(cfg.Roster.AuthorityKey)
	if err != nil {
		return nil, err
	}
	n.roster = roster.NewState(cfg.Path(cfg.Roster.Path), authority)
	if err := n.roster.Load(); err != nil {
		return nil, err
	}
	r, _ := n.roster.Current()
	if m, ok := n.roster.MemberByPeer(n.self); !ok {
		n.log.Warn("this node is not in the roster; peers will refuse it until the authority adds it",
			zap.Stringer("peer", n.self), zap.Uint64("roster_serial", r.Serial))
	} else if m.Country != cfg.Country {
		return nil, fmt.Errorf("roster lists this node's peer ID as %s, config says %s", m.Country, cfg.Country)
	}
	if !r.ValidUntil.After(n.now()) {
		n.log.Error("roster has expired; still using it so the network keeps working. Ask the authority for a new one",
			zap.Time("valid_until", r.ValidUntil))
	}

	var storeKey []byte
	if cfg.Store.EncryptionKeyFile != "" {
		if storeKey, err = store.LoadEncryptionKey(cfg.Path(cfg.Store.EncryptionKeyFile)); err != nil {
			return nil, err
		}
	}
	if n.store, err = store.Open(store.Options{Dir: cfg.Path(cfg.DataDir), Profile: store.Profile(cfg.Store.Profile),
		Durability: store.Durability(cfg.Store.Durability), EncryptionKey: storeKey, Logger: n.log.Named("store"),
		PeerReserveBytes: cfg.Admission.PeerReserveBytes, OpenCase: openCaseForQuota}); err != nil {
		return nil, err
	}
	st := n.store // the named result n is nil after a failed return
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if n.gater, err = n.newGater(); err != nil { // wire_transport.go
		return nil, err
	}
	if err = n.newHost(len(r.Members)); err != nil {
		return nil, err
	}
	n.mesh = n.newMesh() // wire_mesh.go
	n.peers = n.mesh.Peers()
	n.gossip = n.newGossip() // wire_roster.go
	n.metrics = newMetrics(n)
	n.hooks = alerts.NewHooks(alerts.HookOptions{Webhook: cfg.Alerts.Webhook, Command: cfg.Alerts.Command, Queue: cfg.Alerts.HookQueue},
		n.log.Named("alerts"), n.metrics.hookDrops.Inc)
	n.sched = n.newScheduler()
	n.drills = n.newDrills()
	n.newAdmission()
	// TOTP secrets are sealed with a key derived from the identity key,
	// which stays when encryption keys rotate.
	rawID, err := n.key.Raw()
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	secretKey, err := accounts.SecretKeyFrom(rawID)
	if err != nil {
		return nil, fmt.Errorf("derive accounts secret key: %w", err)
	}
	// Drafts are sealed the same way: request contents an operator is
	// composing are not in clear in the store's files (issue 12).
	if n.draftKey, err = api.DraftKeyFrom(rawID); err != nil {
		return nil, fmt.Errorf("derive draft key: %w", err)
	}
	// The key of the identifier index: cases are found by an identifier of
	// their request without the identifier kept in clear.
	if n.identifierKey, err = hkdf.Key(sha256.New, rawID, nil, "vigil/cases/identifier-index/v1", 32); err != nil {
		return nil, fmt.Errorf("derive identifier index key: %w", err)
	}
	n.cases = n.newCases()
	n.accounts = accounts.New(n.store, accounts.Options{Now: n.now, OnLockout: n.onLockout, Logger: n.log, SecretKey: secretKey, // accounts names its logger
		// Names that are no account, per address (real accounts are slowed
		// per address and account instead): behind the loopback listener
		// or a proxy every console user shares one address, so mistyped
		// names of a whole shift fit.
		LoginsPerMinute: 30})
	return n, nil
}

// PeerID is this node's libp2p identity.
func (n *Node) PeerID() peer.ID { return n.self }

// Host exposes the libp2p host (tests and the bench harness dial with it).
func (n *Node) Host() host.Host { return n.host }

// Store exposes the node's store (read-only use by tests and tools).
func (n *Node) Store() *store.Store { return n.store }

// Start opens the API listener, registers protocol handlers and starts the
// delivery workers, connector and event loops. It returns once the node is
// serving. ctx bounds the node's life; Close also stops it.
func (n *Node) Start(ctx context.Context) error {
	n.ctx, n.cancel = context.WithCancel(ctx)
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		n.cancel()
		return fmt.Errorf("api listen %s: %w", n.cfg.API.Listen, err)
	}
	n.newInbox(n.ctx).Register(&n.handlers, n.host)
	n.gossip.Register(&n.handlers)
	n.drills.Register(&n.handlers)
	n.engine = n.newOutbox(n.ctx)
	// Membership changes follow rosters one at a time, in order (membership.go).
	n.roster.OnChange(func(old, _ *protocol.Roster) { n.applyMembership(old) })
	if err := n.startAdmission(); err != nil {
		ln.Close()
		n.cancel()
		return err
	}

	n.goRun("gater", n.gater.Run) // refusal log, handshake timeouts, member DNS (node/transport/gater.go)
	if err := n.mesh.Watch(); err != nil {
		ln.Close()
		n.cancel()
		return err
	}
	n.applyMembership(nil)
	n.goRun("connector", n.mesh.Run)
	if n.hooks.Enabled() {
		for range max(n.cfg.Alerts.HookWorkers, 1) {
			n.goRun("alert-hooks", n.hooks.Run)
		}
	}
	n.goRun("scheduler", n.sched.Run)
	n.goRun("drills", n.drills.Run)

	// Timeouts and connection caps: node/api/httpserver.go.
	var capped net.Listener
	n.apiSrv, capped = api.HTTPServer(n.ctx, n.apiHandler(), ln, api.ServerOptions{ReadTimeout: n.cfg.API.ReadTimeout,
		MaxConnections: n.cfg.API.MaxConnections, MaxConnectionsPerAddress: n.cfg.API.MaxConnectionsPerAddress}, n.log)
	n.goRun("api", func(ctx context.Context) {
		if err := n.apiSrv.Serve(capped); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server stopped", zap.Error(err))
		}
	})
	n.log.Info("node started", zap.Stringer("country", n.cfg.Country), zap.Stringer("peer", n.self),
		zap.Any("listen", n.host.Addrs()), zap.String("api", "http://"+ln.Addr().String()),
		zap.Uint64("roster_serial", n.roster.Serial()))
	return nil
}

// goRun runs fn on a goroutine owned by the node: it stops when the node's
// context ends and Close waits for it. The goroutine carries the pprof
// label part=name, so a CPU or goroutine profile of a busy node says which
// part the time or the goroutines belong to.
func (n *Node) goRun(name string, fn func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		pprof.Do(n.ctx, pprof.Labels("part", name), fn)
	}()
}

// Run starts the node and blocks until ctx ends, then shuts down.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	<-ctx.Done()
	return n.Close()
}

// Close stops every goroutine, then the host and the store. In-flight API
// requests get a few seconds to finish; anything they acknowledged is
// already durable.
func (n *Node) Close() error {
	var err error
	n.closed.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		if n.apiSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = n.apiSrv.Shutdown(sctx)
			cancel()
		}
		if n.engine != nil {
			n.engine.Wait()
		}
		herr := n.host.Close()
		n.handlers.CloseAndWait()
		n.wg.Wait()
		serr := n.store.Close()
		err = errors.Join(herr, serr)
		n.log.Info("node stopped")
	})
	return err
}
