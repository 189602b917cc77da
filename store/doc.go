// Package store is a node's durable memory: cases, messages (the outbox and
// inbox), receipts and the append-only audit log, kept in Badger v4.
//
// Every write goes through one committer goroutine that folds all writes
// queued since the last commit into a single synced Badger transaction
// (group commit). Update returns only after that sync, so anything a caller
// acknowledges to a user or a peer is on disk first.
//
// It is one package (about 3,400 lines) because every record kind, index
// and the audit log are written in the committer's shared transactions;
// split apart, each would need the transaction type exported and a way
// into the committer. Online backup and restore (backup.go) read and load
// the Badger database underneath, which nothing outside may reach.
package store
