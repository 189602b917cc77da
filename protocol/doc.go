// Package protocol defines what Vigil nodes say to each other and what the
// law lets them say: message envelopes, signed receipts, the network roster
// with each member's treaty basis, request schemas, the frame codec, and the
// legal case model (terms, grounds, the transition table, replay). It is
// pure: no network, disk or clock access of its own, so every rule here can
// be tested, fuzzed and model-checked in isolation. The one read it makes
// is the IANA time-zone database (time.LoadLocation, with time/tzdata
// embedded for hosts that lack one).
//
// It is one package (about 3,500 lines) because it is one contract: what
// every node must agree on with every other, versioned and fuzzed together.
// Both nodes of a case must compute the same legal answer from the same
// inputs, so the rules live beside the formats they read. The legal model
// is documented article by article in docs/legal-model.md.
package protocol
