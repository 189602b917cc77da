// Package protocol defines what Vigil nodes say to each other: message
// envelopes, signed receipts, the network roster, request schemas and the
// frame codec that carries them. It is pure: no network, disk or clock access
// of its own, so every rule here can be tested and fuzzed in isolation.
//
// It is one package (about 2,200 lines) because it is one contract: what
// every node must agree on with every other, versioned and fuzzed
// together.
package protocol
