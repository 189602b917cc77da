// Package node is the Vigil daemon: it loads a node's keys and config,
// runs the libp2p host that talks only to roster members, delivers sealed
// envelopes from the durable outbox with retries, receives and receipts
// incoming ones, keeps the roster current, and serves the HTTP API.
package node
