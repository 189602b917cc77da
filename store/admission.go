package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Storage the node's per-peer admission control needs (issue 9): a reserve
// of free space for local work, counters kept in the same transaction as
// the writes they count, and a per-country count of open incoming cases
// maintained by PutCase, so a quota check never scans the cases.

// ErrLocalReserve is returned by UpdatePeer when the free space left is the
// reserve kept for the node's own operators (Options.PeerReserveBytes).
var ErrLocalReserve = errors.New("free disk space is reserved for local work")

// UpdatePeer is Update for a write made on behalf of a remote member. It
// fails with ErrLocalReserve, without running fn, when the filesystem has
// less than MinFreeBytes+PeerReserveBytes free.
func (s *Store) UpdatePeer(ctx context.Context, fn func(*Tx) error) error {
	return s.update(ctx, &writeReq{fn: fn, done: make(chan error, 1), peer: true})
}

// peerSpace reports whether a peer write still has room above the local
// reserve.
func (s *Store) peerSpace() bool {
	if s.peerRes <= 0 || s.minFree < 0 || s.freeBytes == nil {
		return true
	}
	free, err := s.freeBytes()
	if err != nil {
		return true // cannot tell: checkSpace still guards the commit
	}
	return free >= uint64(s.minFree)+uint64(s.peerRes)
}

func counterKey(name string) string { return "counter/" + name }

// Counter reads a named counter (0 if never set), through pending writes.
func (t *Tx) Counter(name string) (int64, error) {
	b, err := t.get(counterKey(name))
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("counter %s is corrupt", name)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// SetCounter sets a named counter; 0 deletes it.
func (t *Tx) SetCounter(name string, v int64) {
	if v == 0 {
		t.del(counterKey(name))
		return
	}
	t.set(counterKey(name), binary.BigEndian.AppendUint64(nil, uint64(v)))
}

// AddCounter adds delta to a named counter and returns the new value.
func (t *Tx) AddCounter(name string, delta int64) (int64, error) {
	v, err := t.Counter(name)
	if err != nil {
		return 0, err
	}
	v += delta
	t.SetCounter(name, v)
	return v, nil
}

// HasCase reports whether a case exists, without decoding it.
func (t *Tx) HasCase(id string) (bool, error) {
	if v, ok := t.pending[caseKey(id)]; ok {
		return v != nil, nil
	}
	_, err := t.txn.Get([]byte(caseKey(id)))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get %s: %w", caseKey(id), err)
	}
	return true, nil
}

// The open-case index: openidx/case/<id> holds the country an open
// incoming case counts against, counter openidx/<country> their number.
const openIndexVersion = "1"

func openCaseKey(id string) string   { return "openidx/case/" + id }
func openCountName(cc string) string { return "openidx/" + cc }

// OpenCases is how many cases opened by country's node are open.
func (t *Tx) OpenCases(country string) (int64, error) { return t.Counter(openCountName(country)) }

// indexOpenCase updates the open-case index for a case about to be stored:
// one small read per PutCase.
func (t *Tx) indexOpenCase(c *Case) error {
	if t.openCase == nil {
		return nil
	}
	want := ""
	if t.openCase(c) {
		want = c.Country
	}
	had := ""
	b, err := t.get(openCaseKey(c.ID))
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		had = string(b)
	}
	if had == want {
		return nil
	}
	if had != "" {
		if _, err := t.AddCounter(openCountName(had), -1); err != nil {
			return err
		}
		t.del(openCaseKey(c.ID))
	}
	if want != "" {
		if _, err := t.AddCounter(openCountName(want), 1); err != nil {
			return err
		}
		t.set(openCaseKey(c.ID), []byte(want))
	}
	return nil
}

// buildOpenIndex derives the open-case index from the cases once, for a
// store written before the index existed (or by an older definition). It
// runs in Open, before any write.
func (s *Store) buildOpenIndex() error {
	if s.openCase == nil {
		return nil
	}
	const marker = "meta/openidx-version"
	done := false
	if err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(marker))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { done = string(v) == openIndexVersion; return nil })
	}); err != nil {
		return fmt.Errorf("open-case index: %w", err)
	}
	if done {
		return nil
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	// Drop an index of an older definition before rebuilding.
	if err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		for _, prefix := range []string{"openidx/", counterKey("openidx/")} {
			opts.Prefix = []byte(prefix)
			it := txn.NewIterator(opts)
			for it.Rewind(); it.Valid(); it.Next() {
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	}); err != nil {
		return fmt.Errorf("open-case index: %w", err)
	}
	counts := map[string]int64{}
	if err := s.View(func(r *ReadTx) error {
		return r.scan("case/", false, func(_ string, v []byte) (bool, error) {
			var c Case
			if err := decodeRecord(v, &c); err != nil {
				return false, fmt.Errorf("decode case: %w", err)
			}
			if s.openCase(&c) {
				counts[c.Country]++
				return true, wb.Set([]byte(openCaseKey(c.ID)), []byte(c.Country))
			}
			return true, nil
		})
	}); err != nil {
		return fmt.Errorf("open-case index: %w", err)
	}
	for cc, n := range counts {
		if err := wb.Set([]byte(counterKey(openCountName(cc))), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return fmt.Errorf("open-case index: %w", err)
		}
	}
	if err := wb.Set([]byte(marker), []byte(openIndexVersion)); err != nil {
		return fmt.Errorf("open-case index: %w", err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("open-case index: %w", err)
	}
	if s.journal != nil {
		// Written past the journal, once: make it durable in Badger
		// before the marker could outlive part of the index.
		if err := s.badgerDurable(); err != nil {
			return fmt.Errorf("open-case index: %w", err)
		}
	}
	return nil
}

// Quarantine records that an admin stopped accepting from a member. What
// was accepted before stays; the record survives restarts.
type Quarantine struct {
	Country string    `json:"country"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

func quarantineKey(cc string) string { return "quarantine/" + cc }

// PutQuarantine stores (or replaces) a member's quarantine.
func (t *Tx) PutQuarantine(q *Quarantine) error { return t.setRecord(quarantineKey(q.Country), q) }

// DeleteQuarantine lifts a member's quarantine; it reports whether there
// was one.
func (t *Tx) DeleteQuarantine(cc string) (bool, error) {
	_, err := t.get(quarantineKey(cc))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	t.del(quarantineKey(cc))
	return true, nil
}

// Quarantines lists the quarantined members.
func (r *ReadTx) Quarantines() ([]*Quarantine, error) {
	var out []*Quarantine
	err := r.scan("quarantine/", false, func(_ string, v []byte) (bool, error) {
		var q Quarantine
		if err := decodeRecord(v, &q); err != nil {
			return false, fmt.Errorf("decode quarantine: %w", err)
		}
		out = append(out, &q)
		return true, nil
	})
	return out, err
}

// UpsertAlert stores an alert, replacing one with the same ID (an
// aggregated alert whose count grows, or one raised again after it was
// cleared). It reports whether the alert is new or was cleared before.
func (t *Tx) UpsertAlert(a *Alert) (bool, error) {
	var old Alert
	err := t.getRecord(alertKey(a.ID), &old)
	fresh := errors.Is(err, ErrNotFound) || (err == nil && old.Cleared)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	return fresh, t.setRecord(alertKey(a.ID), a)
}
