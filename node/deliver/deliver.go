// Package deliver keeps both ends of the /vigil/deliver protocol, as
// go-libp2p's p2p/protocol/ping keeps both ends of its own: the outbox
// (outbox.go) runs one worker per member that streams its queued envelopes
// and records the receipts; the inbox (inbox.go) answers each envelope a
// member streams in with a receipt once it is durable, or a rejection.
package deliver

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
	"go.uber.org/zap"
)

const (
	// ID is the stream protocol. The version is part of the ID so a node
	// can speak two versions during an upgrade.
	ID = "/vigil/deliver/1.0.0"
	// ServiceName is the protocol's resource-manager service, so limits
	// and metrics tell it apart from the other protocols.
	ServiceName = "vigil.deliver"
)

// RejectCode says why a receiver refused an envelope (protocol.Reject.Code).
// The admission codes (node/admission) travel in the same field.
type RejectCode string

// Rejection codes the inbox sends itself.
const (
	CodeUnknownSender  RejectCode = "unknown-sender"  // retryable: the receiver's roster may lag
	CodeTooOld         RejectCode = "too-old"         // permanent
	CodeClockSkew      RejectCode = "clock-skew"      // retryable: an operator can fix it
	CodeBadSignature   RejectCode = "bad-signature"   // permanent
	CodeWrongRecipient RejectCode = "wrong-recipient" // permanent
	CodeDecryptFailed  RejectCode = "decrypt-failed"  // permanent
	CodeMalformed      RejectCode = "malformed"       // permanent
	CodeSenderMismatch RejectCode = "sender-mismatch" // permanent: relayed by another peer
	CodeDuplicateID    RejectCode = "duplicate-id"    // permanent: the ID names other content
	CodeInternal       RejectCode = "internal"        // retryable: the receiver cannot sign
	CodeStoreFailure   RejectCode = "store-failure"   // retryable: the receiver cannot store
)

// Publisher is told which case changed; subscribers render it themselves.
type Publisher interface {
	Case(id string)
}

// Members says who is in the roster in force.
type Members interface {
	IsMember(p peer.ID) bool
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// peerFields name a peer in log lines by its country as well as its peer
// ID: an operator reads "DE", not "12D3KooW...". members, if it is the
// roster (a protocol.Directory), gives the country.
func peerFields(members any, p peer.ID) []zap.Field {
	fields := []zap.Field{zap.Stringer("peer", p)}
	if d, ok := members.(protocol.Directory); ok {
		if m, ok := d.MemberByPeer(p); ok {
			fields = append(fields, zap.String("country", string(m.Country)))
		}
	}
	return fields
}

// caseFields are the metadata of a case that say how much a line matters:
// its kind and urgency (never its contents).
func caseFields(c *store.Case) []zap.Field {
	return []zap.Field{zap.String("kind", c.Kind), zap.String("urgency", c.Urgency)}
}
