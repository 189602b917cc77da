// Package transport is the libp2p side of a node: the host, its resource
// limits and connection gater, the length-prefixed frames every Vigil
// stream protocol speaks, and the preamble every stream handler shares
// (goroutine tracking, resource-manager service name).
//
// It knows nothing of the node's config file: NewHost and NewGater take
// plain options, and the gater asks a Members interface, which the roster
// in force implements, who may connect.
package transport
