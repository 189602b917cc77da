// Package actor names who did something, the way the audit log records it:
// a console user ("user:alice"), a roster member ("peer:DE") or the node
// itself ("node"). The names are stored in audit records and shown to
// auditors, so their spelling is part of the log's format: build them with
// the constructors here, never by concatenating prefixes.
package actor

import "strings"

// Actor is who did something, as an audit record names it.
type Actor string

const (
	// Node is the node acting on its own: the scheduler, drills, delivery,
	// a lockout after repeated failed logins.
	Node Actor = "node"
	// Unknown is a caller the API could not identify. Authenticated
	// routes never see it; it marks a record made without a principal.
	Unknown Actor = "unknown"
)

// Kind says what sort of actor an Actor is.
type Kind string

// The kinds of actor.
const (
	KindNode    Kind = "node"
	KindUser    Kind = "user"
	KindPeer    Kind = "peer"
	KindUnknown Kind = "unknown"
)

const (
	userPrefix = "user:"
	peerPrefix = "peer:"
)

// User is a console user, or the built-in "node-admin" that the node's
// bootstrap token acts as; API tokens act as the user who owns them.
func User(name string) Actor { return Actor(userPrefix + name) }

// Peer is a roster member, by country code ("peer:DE") in the audit log,
// or by peer ID where the member is not yet known by country (a roster
// learnt from a peer).
func Peer(member string) Actor { return Actor(peerPrefix + member) }

// Kind is the sort of actor a is.
func (a Actor) Kind() Kind {
	switch {
	case a == Node:
		return KindNode
	case strings.HasPrefix(string(a), userPrefix):
		return KindUser
	case strings.HasPrefix(string(a), peerPrefix):
		return KindPeer
	}
	return KindUnknown
}

// Name is the user name or member for a user or peer; empty otherwise.
func (a Actor) Name() string {
	switch a.Kind() {
	case KindUser:
		return strings.TrimPrefix(string(a), userPrefix)
	case KindPeer:
		return strings.TrimPrefix(string(a), peerPrefix)
	}
	return ""
}

// String is the actor as the audit log spells it.
func (a Actor) String() string { return string(a) }
