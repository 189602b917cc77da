package protocol

import (
	"errors"
	"fmt"
)

// Errors returned when opening envelopes and receipts. Callers branch on them
// to decide between rejecting a peer's message and retrying later.
var (
	ErrMalformed       = errors.New("malformed message")
	ErrUnknownSender   = errors.New("sender is not a roster member")
	ErrBadSignature    = errors.New("signature does not verify")
	ErrWrongRecipient  = errors.New("message is addressed to another node")
	ErrDecrypt         = errors.New("payload does not decrypt (tampered or wrong key)")
	ErrClockSkew       = errors.New("message timestamp is implausible")
	ErrFrameTooLarge   = errors.New("frame exceeds size limit")
	ErrRosterSignature = errors.New("roster signature does not verify")
	ErrRosterStale     = errors.New("roster serial is not newer than the current one")
	ErrRosterExpired   = errors.New("roster is past its valid-until date")
	ErrRosterInvalid   = errors.New("roster content is invalid")
)

// ErrTooOld is the ErrClockSkew of a message older than the clock policy's
// MaxAge: unlike a sender clock running ahead, waiting will not fix it.
var ErrTooOld = fmt.Errorf("%w: message is older than the accepted age", ErrClockSkew)
