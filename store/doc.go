// Package store is a node's durable memory: cases, messages (the outbox and
// inbox), receipts and the append-only audit log, kept in Badger v4.
//
// Every write goes through one committer goroutine that folds all writes
// queued since the last commit into a single synced Badger transaction
// (group commit). Update returns only after that sync, so anything a caller
// acknowledges to a user or a peer is on disk first.
package store
