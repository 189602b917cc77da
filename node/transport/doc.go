// Package transport is the libp2p side of a node: the host, its resource
// limits and connection gater, the length-prefixed frames every Vigil
// stream protocol speaks, and the preamble every stream handler shares
// (goroutine tracking, resource-manager service name).
package transport
