// Package node is the Vigil daemon's composition root. New loads the keys,
// config, roster and store and builds the parts in order; Start registers
// the stream protocols and starts the parts' goroutines, all owned by the
// node; Close stops them in reverse. The work is done in the parts, each a
// package with one job that receives what it needs as small interfaces
// (the wire_*.go files hold the adapters between them):
//
//	node/transport  libp2p host, resource limits, gater, frames, handler preamble
//	node/roster     the roster in force, its file, /vigil/roster exchange and gossip
//	node/mesh       warm connections: staggered dials, pings, pruning
//	node/cases      submit, validate, act, accept an incoming message
//	node/deliver    both ends of /vigil/deliver: outbox workers and inbox handler
//	node/alerts     alert kinds, conditions and moot states, webhook and command hooks
//	node/schedule   deadline alerts, retention purge and periodic steps
//	node/drills     /vigil/drill pings, reachability and response drills
//	node/events     change notices by ID for the console stream
//	node/api        HTTP API, console stream, auth and users, its response types
//	node/admission  what each member may make this node do
//	node/accounts   console users, sessions, tokens
//	node/config     configuration, key files, vigil init
//	node/authority  offline roster drafting and signing
//
// node/testnet and node/bench sit above the node: they build federations
// of nodes and measure them. Imports point down (TestLayering).
package node
