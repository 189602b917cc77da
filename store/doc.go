// Package store is a node's durable memory: cases, messages (the outbox and
// inbox), receipts and the append-only audit log, kept in Badger v4.
//
// One commit runs at a time. An Update that finds the store idle commits
// on its own goroutine; one that finds a commit running queues, and the
// committer goroutine folds everything queued meanwhile into a single
// Badger transaction (group commit). Update returns only once the commit
// holding its writes is durable, so anything a caller acknowledges to a
// user or a peer is on disk first. By default (DurabilityJournal,
// durability.go) the commit is one record in the store's own journal
// (package store/journal), synced with one fdatasync, and Badger applies
// it unsynced behind it; the journal is replayed on
// Open and checkpointed as Badger flushes. DurabilityBadger has Badger
// sync every commit itself instead.
//
// It is one package (about 3,400 lines) because every record kind, index
// and the audit log are written in the committer's shared transactions;
// split apart, each would need the transaction type exported and a way
// into the committer. Online backup and restore (backup.go) read and load
// the Badger database underneath, which nothing outside may reach.
package store
