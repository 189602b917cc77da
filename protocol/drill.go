package protocol

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Reachability drills: a node sends every roster member a signed Ping and
// expects a signed Pong that echoes the ping's nonce. Both use the same
// canonical encoding and domain-separated Ed25519 signatures as receipts,
// so a pong proves that the member's own key answered, now.

const (
	pingMagic  = "VGP1"
	pingDomain = "vigil/drill-ping/v1\x00"
	pongMagic  = "VGQ1"
	pongDomain = "vigil/drill-pong/v1\x00"

	// DrillNonceSize is the length of a ping's random nonce.
	DrillNonceSize = 16
	// MaxDrillFrame bounds a ping or pong on the wire: magic, nonce, an
	// Ed25519 peer ID, a timestamp and a 64-byte signature with their
	// length prefixes come to well under this.
	MaxDrillFrame = 512
)

// ErrPongMismatch means a pong does not answer the ping it was read for
// (another nonce): a stale or replayed answer.
var ErrPongMismatch = errors.New("pong does not answer this ping")

// Ping is a drill probe, signed by its sender.
type Ping struct {
	Nonce     [DrillNonceSize]byte
	Sender    peer.ID
	SentAt    time.Time
	Signature []byte
	Raw       []byte
	signedLen int
}

// Pong is the answer to a Ping, signed by the responder.
type Pong struct {
	Nonce      [DrillNonceSize]byte
	Responder  peer.ID
	ReceivedAt time.Time
	Signature  []byte
	Raw        []byte
	signedLen  int
}

func writePingBody(w *canonicalWriter, p *Ping) {
	w.raw([]byte(pingMagic))
	w.raw(p.Nonce[:])
	w.str(string(p.Sender))
	w.i64(p.SentAt.UnixNano())
}

func writePongBody(w *canonicalWriter, p *Pong) {
	w.raw([]byte(pongMagic))
	w.raw(p.Nonce[:])
	w.str(string(p.Responder))
	w.i64(p.ReceivedAt.UnixNano())
}

// NewPing signs a ping with a fresh random nonce.
func NewPing(key crypto.PrivKey, sentAt time.Time) (*Ping, error) {
	var nonce [DrillNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("ping nonce: %w", err)
	}
	return SignPing(key, nonce, sentAt)
}

// SignPing signs a ping with the given nonce.
func SignPing(key crypto.PrivKey, nonce [DrillNonceSize]byte, sentAt time.Time) (*Ping, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("sign ping: %w", err)
	}
	p := &Ping{Nonce: nonce, Sender: id, SentAt: sentAt.UTC()}
	var w canonicalWriter
	writePingBody(&w, p)
	sig, err := key.Sign(append([]byte(pingDomain), w.b...))
	if err != nil {
		return nil, fmt.Errorf("sign ping: %w", err)
	}
	p.signedLen = len(w.b)
	w.bytes(sig)
	p.Signature, p.Raw = sig, w.b
	return p, nil
}

// ParsePing decodes ping wire bytes; Verify checks them. Errors wrap
// ErrMalformed.
func ParsePing(raw []byte) (*Ping, error) {
	rd := canonicalReader{b: raw}
	if string(rd.fixed("magic", 4)) != pingMagic {
		return nil, fmt.Errorf("%w: not a vigil ping", ErrMalformed)
	}
	p := &Ping{}
	copy(p.Nonce[:], rd.fixed("nonce", DrillNonceSize))
	p.Sender = peer.ID(rd.str("sender"))
	p.SentAt = time.Unix(0, rd.i64("sent at")).UTC()
	if rd.err != nil {
		return nil, rd.err
	}
	p.signedLen = len(raw) - len(rd.b)
	p.Signature = rd.bytes("signature")
	if err := rd.end(); err != nil {
		return nil, err
	}
	p.Raw = raw
	return p, nil
}

// Verify checks that the ping was signed by from, the peer it came from.
// Errors wrap ErrBadSignature.
func (p *Ping) Verify(from peer.ID) error {
	if p.Sender != from {
		return fmt.Errorf("%w: ping signed by %s, not the sending peer %s", ErrBadSignature, p.Sender, from)
	}
	return verifyDrillSig(p.Sender, pingDomain, p.Raw[:p.signedLen], p.Signature)
}

// SignPong answers ping with the responder's identity key.
func SignPong(key crypto.PrivKey, ping *Ping, receivedAt time.Time) (*Pong, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("sign pong: %w", err)
	}
	p := &Pong{Nonce: ping.Nonce, Responder: id, ReceivedAt: receivedAt.UTC()}
	var w canonicalWriter
	writePongBody(&w, p)
	sig, err := key.Sign(append([]byte(pongDomain), w.b...))
	if err != nil {
		return nil, fmt.Errorf("sign pong: %w", err)
	}
	p.signedLen = len(w.b)
	w.bytes(sig)
	p.Signature, p.Raw = sig, w.b
	return p, nil
}

// ParsePong decodes pong wire bytes; Verify checks them. Errors wrap
// ErrMalformed.
func ParsePong(raw []byte) (*Pong, error) {
	rd := canonicalReader{b: raw}
	if string(rd.fixed("magic", 4)) != pongMagic {
		return nil, fmt.Errorf("%w: not a vigil pong", ErrMalformed)
	}
	p := &Pong{}
	copy(p.Nonce[:], rd.fixed("nonce", DrillNonceSize))
	p.Responder = peer.ID(rd.str("responder"))
	p.ReceivedAt = time.Unix(0, rd.i64("received at")).UTC()
	if rd.err != nil {
		return nil, rd.err
	}
	p.signedLen = len(raw) - len(rd.b)
	p.Signature = rd.bytes("signature")
	if err := rd.end(); err != nil {
		return nil, err
	}
	p.Raw = raw
	return p, nil
}

// Verify checks that the pong answers ping (ErrPongMismatch otherwise) and
// carries a valid signature of responder, the member that was pinged
// (ErrBadSignature otherwise).
func (p *Pong) Verify(ping *Ping, responder peer.ID) error {
	if !bytes.Equal(p.Nonce[:], ping.Nonce[:]) {
		return ErrPongMismatch
	}
	if p.Responder != responder {
		return fmt.Errorf("%w: pong signed by %s, not the pinged member %s", ErrBadSignature, p.Responder, responder)
	}
	return verifyDrillSig(p.Responder, pongDomain, p.Raw[:p.signedLen], p.Signature)
}

func verifyDrillSig(signer peer.ID, domain string, signed, sig []byte) error {
	pub, err := signer.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: signer key: %v", ErrBadSignature, err)
	}
	ok, err := pub.Verify(append([]byte(domain), signed...), sig)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}
