package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// MessageType names what an envelope's payload is. The case lifecycle adds
// more; the transport treats them all alike.
type MessageType string

const (
	TypeRequest MessageType = "request"
)

const (
	envelopeMagic   = "VGE1"
	envelopeVersion = 1
	envelopeDomain  = "vigil/envelope/v1\x00"
	receiptMagic    = "VGR1"
	receiptDomain   = "vigil/receipt/v1\x00"
)

// Header is the cleartext, signed part of an envelope. It carries routing and
// correlation data only; request contents live in the encrypted payload.
type Header struct {
	MessageID string
	CaseID    string
	Type      MessageType
	Sender    peer.ID
	Recipient peer.ID
	CreatedAt time.Time
	// SenderEncKey and RecipientEncKey are the X25519 public keys the payload
	// was sealed between. Either party can open it with its own private key
	// and the other's public key, which is what lets the sender read its own
	// stored outbox after a key rotation.
	SenderEncKey    [32]byte
	RecipientEncKey [32]byte
}

// Envelope is a sealed, signed message. Raw holds the exact bytes that were
// signed and sent; it is what gets stored and hashed, never a re-encoding.
type Envelope struct {
	Header
	Nonce      [24]byte
	Ciphertext []byte
	Signature  []byte
	Raw        []byte
	signedLen  int
}

// Hash is the SHA-256 of the envelope's wire bytes, the value receipts sign.
func (e *Envelope) Hash() [32]byte { return sha256.Sum256(e.Raw) }

// EncryptionKey is a node's X25519 key pair for payload encryption. It is
// separate from the Ed25519 identity so either can rotate alone.
type EncryptionKey struct {
	Public  [32]byte
	Private [32]byte
}

// GenerateEncryptionKey makes a fresh X25519 key pair.
func GenerateEncryptionKey() (EncryptionKey, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return EncryptionKey{}, fmt.Errorf("generate encryption key: %w", err)
	}
	return EncryptionKey{Public: *pub, Private: *priv}, nil
}

// EncryptionKeyFromPrivate rebuilds a key pair from its private half.
func EncryptionKeyFromPrivate(priv []byte) (EncryptionKey, error) {
	if len(priv) != 32 {
		return EncryptionKey{}, fmt.Errorf("encryption key: want 32 bytes, got %d", len(priv))
	}
	var k EncryptionKey
	copy(k.Private[:], priv)
	pub, err := curve25519.X25519(k.Private[:], curve25519.Basepoint)
	if err != nil {
		return EncryptionKey{}, fmt.Errorf("encryption key: %w", err)
	}
	copy(k.Public[:], pub)
	return k, nil
}

// Directory answers who a peer is. The node's current roster implements it.
type Directory interface {
	// MemberByPeer returns the roster entry for a peer, if it is a member.
	MemberByPeer(id peer.ID) (Member, bool)
}

// ClockPolicy bounds the created-at times a receiver accepts. A message may
// wait in an outbox for days while a peer is down, so only the future side
// is tight.
type ClockPolicy struct {
	MaxFutureSkew time.Duration
	MaxAge        time.Duration
}

// DefaultClockPolicy tolerates five minutes of clock error and a fortnight in
// a queue.
var DefaultClockPolicy = ClockPolicy{MaxFutureSkew: 5 * time.Minute, MaxAge: 14 * 24 * time.Hour}

// Sealer seals and opens envelopes for one node. It caches the per-peer
// shared secret, so sealing after the first message costs one symmetric
// encryption plus a signature. It is safe for concurrent use.
type Sealer struct {
	self    peer.ID
	signKey crypto.PrivKey
	keys    map[[32]byte]EncryptionKey // own keys by public half; more than one during rotation
	current EncryptionKey

	mu     sync.Mutex
	shared map[[64]byte]*[32]byte // (own pub, peer pub) → precomputed key

	decryptions atomic.Uint64 // payloads opened, so tests can prove a path decrypts nothing
}

// NewSealer builds a sealer from the node's identity and encryption keys.
// The first encryption key is used for new messages; the rest only open.
func NewSealer(signKey crypto.PrivKey, enc ...EncryptionKey) (*Sealer, error) {
	if len(enc) == 0 {
		return nil, fmt.Errorf("new sealer: no encryption key")
	}
	id, err := peer.IDFromPrivateKey(signKey)
	if err != nil {
		return nil, fmt.Errorf("new sealer: peer id: %w", err)
	}
	s := &Sealer{self: id, signKey: signKey, current: enc[0],
		keys: map[[32]byte]EncryptionKey{}, shared: map[[64]byte]*[32]byte{}}
	for _, k := range enc {
		s.keys[k.Public] = k
	}
	return s, nil
}

// Self is the peer ID envelopes are sealed from.
func (s *Sealer) Self() peer.ID { return s.self }

// EncryptionPublic is the public key new envelopes are sealed from.
func (s *Sealer) EncryptionPublic() [32]byte { return s.current.Public }

func (s *Sealer) sharedKey(own EncryptionKey, other [32]byte) *[32]byte {
	var k [64]byte
	copy(k[:32], own.Public[:])
	copy(k[32:], other[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk, ok := s.shared[k]; ok {
		return sk
	}
	sk := new([32]byte)
	box.Precompute(sk, &other, &own.Private)
	s.shared[k] = sk
	return sk
}

// Seal encrypts payload to the recipient's encryption key (and so to the
// sender), signs the result and returns the envelope with its wire bytes.
// Sender and SenderEncKey in h are filled in by Seal.
func (s *Sealer) Seal(h Header, recipientEnc [32]byte, payload []byte) (*Envelope, error) {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.SealWithNonce(h, recipientEnc, payload, nonce)
}

// SealWithNonce is Seal with the caller's nonce. With the same header,
// recipient key, payload and nonce it returns the same bytes (Ed25519
// signatures are deterministic), which is what lets a resubmission under
// an idempotency key land on the message a receiver already holds (issue
// 13). The caller must never use one nonce for two different payloads to
// the same recipient key: XSalsa20-Poly1305 loses both confidentiality and
// integrity then. Deriving the nonce from a keyed hash of the payload
// itself, as node/cases does, rules that out.
func (s *Sealer) SealWithNonce(h Header, recipientEnc [32]byte, payload []byte, nonce [24]byte) (*Envelope, error) {
	h.Sender = s.self
	h.SenderEncKey = s.current.Public
	h.RecipientEncKey = recipientEnc
	if !ValidID(h.MessageID) || !ValidID(h.CaseID) {
		return nil, fmt.Errorf("seal: message and case ids must be 32 hex characters")
	}
	if h.Recipient == "" || h.Type == "" {
		return nil, fmt.Errorf("seal: recipient and type are required")
	}
	env := &Envelope{Header: h, Nonce: nonce}
	env.Ciphertext = box.SealAfterPrecomputation(nil, payload, &env.Nonce, s.sharedKey(s.current, recipientEnc))

	var w canonicalWriter
	writeEnvelopeBody(&w, env)
	sig, err := s.signKey.Sign(append([]byte(envelopeDomain), w.b...))
	if err != nil {
		return nil, fmt.Errorf("seal: sign: %w", err)
	}
	env.signedLen = len(w.b)
	w.bytes(sig)
	env.Signature = sig
	env.Raw = w.b
	return env, nil
}

func writeEnvelopeBody(w *canonicalWriter, e *Envelope) {
	w.raw([]byte(envelopeMagic))
	w.u8(envelopeVersion)
	w.str(e.MessageID)
	w.str(e.CaseID)
	w.str(string(e.Type))
	w.str(string(e.Sender))
	w.str(string(e.Recipient))
	w.i64(e.CreatedAt.UnixNano())
	w.raw(e.SenderEncKey[:])
	w.raw(e.RecipientEncKey[:])
	w.raw(e.Nonce[:])
	w.bytes(e.Ciphertext)
}

// ParseEnvelope decodes wire bytes without checking signature or roster.
// Use Sealer.Open for anything received from the network.
func ParseEnvelope(raw []byte) (*Envelope, error) {
	r := canonicalReader{b: raw}
	if string(r.fixed("magic", 4)) != envelopeMagic {
		return nil, fmt.Errorf("%w: not a vigil envelope", ErrMalformed)
	}
	if v := r.u8("version"); r.err == nil && v != envelopeVersion {
		return nil, fmt.Errorf("%w: unsupported envelope version %d", ErrMalformed, v)
	}
	e := &Envelope{}
	e.MessageID = r.str("message id")
	e.CaseID = r.str("case id")
	e.Type = MessageType(r.str("type"))
	e.Sender = peer.ID(r.str("sender"))
	e.Recipient = peer.ID(r.str("recipient"))
	e.CreatedAt = time.Unix(0, r.i64("created at")).UTC()
	copy(e.SenderEncKey[:], r.fixed("sender key", 32))
	copy(e.RecipientEncKey[:], r.fixed("recipient key", 32))
	copy(e.Nonce[:], r.fixed("nonce", 24))
	e.Ciphertext = r.bytes("ciphertext")
	if r.err != nil {
		return nil, r.err
	}
	e.signedLen = len(raw) - len(r.b)
	e.Signature = r.bytes("signature")
	if err := r.end(); err != nil {
		return nil, err
	}
	if !ValidID(e.MessageID) || !ValidID(e.CaseID) || e.Type == "" {
		return nil, fmt.Errorf("%w: bad message id, case id or type", ErrMalformed)
	}
	if err := e.Sender.Validate(); err != nil {
		return nil, fmt.Errorf("%w: sender: %v", ErrMalformed, err)
	}
	if err := e.Recipient.Validate(); err != nil {
		return nil, fmt.Errorf("%w: recipient: %v", ErrMalformed, err)
	}
	e.Raw = raw
	return e, nil
}

// VerifySignature checks the envelope's signature against the public key
// embedded in the sender's peer ID.
func (e *Envelope) VerifySignature() error {
	pub, err := e.Sender.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: sender key: %v", ErrBadSignature, err)
	}
	ok, err := pub.Verify(append([]byte(envelopeDomain), e.Raw[:e.signedLen]...), e.Signature)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// Opened is an envelope that passed every check, with its decrypted payload.
type Opened struct {
	*Envelope
	Payload []byte
	Member  Member // the sender's roster entry
}

// Open verifies and decrypts an envelope received from the network. It
// checks, in order: encoding, sender membership, signature, recipient,
// clock, and decryption, returning the matching typed error.
func (s *Sealer) Open(raw []byte, dir Directory, now time.Time, clock ClockPolicy) (*Opened, error) {
	env, err := ParseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	m, ok := dir.MemberByPeer(env.Sender)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSender, env.Sender)
	}
	if err := env.VerifySignature(); err != nil {
		return nil, err
	}
	if env.Recipient != s.self {
		return nil, fmt.Errorf("%w: for %s", ErrWrongRecipient, env.Recipient)
	}
	if !s.acceptsRecipientKey(env.RecipientEncKey, dir, now) {
		return nil, fmt.Errorf("%w: sealed to an encryption key this node does not accept (not its current key, nor its previous one before previous_key_until)", ErrWrongRecipient)
	}
	if !m.HasEncryptionKey(env.SenderEncKey, now) {
		return nil, fmt.Errorf("%w: sender encryption key is not in the roster (or its rotation grace period ended)", ErrDecrypt)
	}
	if env.CreatedAt.After(now.Add(clock.MaxFutureSkew)) {
		return nil, fmt.Errorf("%w: created %s, now %s", ErrClockSkew, env.CreatedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if clock.MaxAge > 0 && env.CreatedAt.Before(now.Add(-clock.MaxAge)) {
		return nil, fmt.Errorf("%w: created %s, limit %s", ErrTooOld, env.CreatedAt.Format(time.RFC3339), clock.MaxAge)
	}
	payload, err := s.Decrypt(env)
	if err != nil {
		return nil, err
	}
	return &Opened{Envelope: env, Payload: payload, Member: m}, nil
}

// acceptsRecipientKey decides whether an incoming envelope may be sealed to
// k (issue 9 item 11). Holding the private key is not enough: keys kept
// only to read stored envelopes (config previous_encryption_keys) would
// otherwise stay open to senders for ever. Accepted are this node's
// current key; the key its own roster entry publishes as current (senders
// use it until the authority publishes the rotation); and the key that
// entry lists as previous, while now < previous_key_until.
func (s *Sealer) acceptsRecipientKey(k [32]byte, dir Directory, now time.Time) bool {
	if _, ok := s.keys[k]; !ok {
		return false
	}
	if k == s.current.Public {
		return true
	}
	self, ok := dir.MemberByPeer(s.self)
	if !ok {
		return false
	}
	if pk, err := self.EncryptionPublic(); err == nil && pk == k {
		return true
	}
	return self.InKeyGrace(k, now)
}

// Decryptions counts the payload decryptions this sealer attempted.
func (s *Sealer) Decryptions() uint64 { return s.decryptions.Load() }

// Decrypt opens the payload of an envelope this node sent or received.
// Unlike Open it accepts every key the sealer holds: it reads this node's
// own stored envelopes (inbox and outbox), whatever key they were sealed to.
func (s *Sealer) Decrypt(env *Envelope) ([]byte, error) {
	s.decryptions.Add(1)
	own, other := env.RecipientEncKey, env.SenderEncKey
	k, ok := s.keys[own]
	if !ok {
		own, other = env.SenderEncKey, env.RecipientEncKey
		if k, ok = s.keys[own]; !ok {
			return nil, fmt.Errorf("%w: no matching private key", ErrDecrypt)
		}
	}
	out, ok := box.OpenAfterPrecomputation(nil, env.Ciphertext, &env.Nonce, s.sharedKey(k, other))
	if !ok {
		return nil, ErrDecrypt
	}
	return out, nil
}
