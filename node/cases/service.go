// Package cases is the write path of a case: submit a request, take an
// action, accept a message a member delivered. Each is one store
// transaction; nothing heavy (sealing, decrypting, hashing) runs inside it.
// The package publishes the IDs of the cases it changes and never renders
// them: the write path does not call up into the API.
package cases

import (
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/admission"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Directory answers who a member is: the roster in force.
type Directory interface {
	MemberByPeer(id peer.ID) (protocol.Member, bool)
	ByCountry(cc protocol.CountryCode) (peer.ID, protocol.Member, bool)
	// Serial is the roster's serial, recorded with a case's terms.
	Serial() uint64
}

// Outbox is told of a message made durable in the outbox, so the peer's
// delivery worker sends it without rereading the store.
type Outbox interface {
	Notify(p peer.ID, m *store.Message)
}

// Publisher is told which case changed; subscribers render it themselves.
type Publisher interface {
	Case(id string)
}

// Alerts clears, inside the transaction that changed a case, the alerts the
// case's new state makes moot.
type Alerts interface {
	ClearFor(tx *store.Tx, c *store.Case, now time.Time) error
}

// Quota charges an incoming message to its sender's quotas, inside the
// transaction that stores it; it returns an *admission.Refusal when over.
type Quota interface {
	ChargeStore(tx admission.QuotaTx, in admission.Incoming) error
}

// Sealer seals outgoing payloads and decrypts stored ones (legacy cases).
type Sealer interface {
	Seal(h protocol.Header, recipientEnc [32]byte, payload []byte) (*protocol.Envelope, error)
	SealWithNonce(h protocol.Header, recipientEnc [32]byte, payload []byte, nonce [24]byte) (*protocol.Envelope, error)
	Decrypt(env *protocol.Envelope) ([]byte, error)
}

// Options are a Service's dependencies and settings.
type Options struct {
	Store     *store.Store
	Sealer    Sealer
	Directory Directory
	Outbox    Outbox
	Publisher Publisher
	Alerts    Alerts
	Quota     Quota
	// Now is the node's clock.
	Now func() time.Time
	// Country is this node's own country: it cannot send to itself.
	Country string
	// Deadlines set a new case's acknowledgement deadline.
	Deadlines config.DeadlineConfig
	// MaxPayload is the network's cap per message type (admission.max_payload).
	MaxPayload map[string]int
	// IdentifierKey keys the identifier index of cases
	// (protocol.IdentifierTag); nil keeps none.
	IdentifierKey []byte
	Logger        *zap.Logger
}

// Service submits, acts on and accepts cases.
type Service struct {
	o Options
}

// New builds a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Service{o: o}
}

var (
	// ErrNoCase means the case does not exist on this node.
	ErrNoCase = errors.New("no such case")
	// ErrIDConflict means an incoming message reuses the ID of a different
	// message.
	ErrIDConflict = errors.New("message id conflict")

	// errCaseMoved means the case changed between reading it and acting on it.
	errCaseMoved = errors.New("case changed while acting")
	// errLegacyCase means a case written before action metadata was stored
	// needs its old actions decoded (outside the committer) first.
	errLegacyCase = errors.New("case needs its stored actions decoded first")
)
