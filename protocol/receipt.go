package protocol

import (
	"bytes"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Receipt is the receiver's signed statement that it durably stored an
// envelope: non-repudiation of receipt, as in e-CODEX evidences.
type Receipt struct {
	MessageID   string
	MessageHash [32]byte
	Receiver    peer.ID
	ReceivedAt  time.Time
	Signature   []byte
	Raw         []byte
	signedLen   int
}

func writeReceiptBody(w *canonicalWriter, r *Receipt) {
	w.raw([]byte(receiptMagic))
	w.str(r.MessageID)
	w.raw(r.MessageHash[:])
	w.str(string(r.Receiver))
	w.i64(r.ReceivedAt.UnixNano())
}

// SignReceipt signs a receipt for env with the receiver's identity key.
func SignReceipt(key crypto.PrivKey, env *Envelope, receivedAt time.Time) (*Receipt, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	r := &Receipt{MessageID: env.MessageID, MessageHash: env.Hash(), Receiver: id, ReceivedAt: receivedAt.UTC()}
	var w canonicalWriter
	writeReceiptBody(&w, r)
	sig, err := key.Sign(append([]byte(receiptDomain), w.b...))
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	r.signedLen = len(w.b)
	w.bytes(sig)
	r.Signature, r.Raw = sig, w.b
	return r, nil
}

// ParseReceipt decodes receipt wire bytes; Verify checks them.
func ParseReceipt(raw []byte) (*Receipt, error) {
	rd := canonicalReader{b: raw}
	if string(rd.fixed("magic", 4)) != receiptMagic {
		return nil, fmt.Errorf("%w: not a vigil receipt", ErrMalformed)
	}
	r := &Receipt{MessageID: rd.str("message id")}
	copy(r.MessageHash[:], rd.fixed("hash", 32))
	r.Receiver = peer.ID(rd.str("receiver"))
	r.ReceivedAt = time.Unix(0, rd.i64("received at")).UTC()
	if rd.err != nil {
		return nil, rd.err
	}
	r.signedLen = len(raw) - len(rd.b)
	r.Signature = rd.bytes("signature")
	if err := rd.end(); err != nil {
		return nil, err
	}
	r.Raw = raw
	return r, nil
}

// Verify checks that the receipt is for env, comes from env's recipient and
// carries that recipient's valid signature.
func (r *Receipt) Verify(env *Envelope) error {
	h := env.Hash()
	if r.MessageID != env.MessageID || !bytes.Equal(r.MessageHash[:], h[:]) {
		return fmt.Errorf("%w: receipt is for another message", ErrBadSignature)
	}
	if r.Receiver != env.Recipient {
		return fmt.Errorf("%w: receipt signed by %s, not the recipient", ErrBadSignature, r.Receiver)
	}
	pub, err := r.Receiver.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: receiver key: %v", ErrBadSignature, err)
	}
	ok, err := pub.Verify(append([]byte(receiptDomain), r.Raw[:r.signedLen]...), r.Signature)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}
