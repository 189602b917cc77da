// Package mesh keeps a node's connections to every roster member warm.
//
// The connector (Mesh.Run) dials members that are not connected, with
// staggered first dials at boot and backoff after a loss, pings connected
// members to measure round trips for the network view, and prunes the
// duplicate connection two members that dialled each other at once end up
// with. The peer-event watcher (Mesh.Watch) tells its Observer when a
// member connects or a peer disconnects. Mesh.Open dials a member on demand
// and opens a stream to it, as a delivery worker needs.
package mesh
