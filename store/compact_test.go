package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestSmallProfileCompactsLazily writes enough to flush several memtables
// into level 0 of a small-profile store (which runs no Badger compactors)
// and checks that the lazy compactor empties level 0 and nothing is lost.
func TestSmallProfileCompactsLazily(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	if n := badgerOptions("x", ProfileSmall, nil, testLogger(t)).NumCompactors; n != 0 {
		t.Fatalf("small profile runs %d Badger compactors, want 0", n)
	}
	const batches, perBatch, size = 48, 16, 32 << 10 // 24 MiB: six 4 MiB memtables
	sawL0 := 0
	for b := 0; b < batches; b++ {
		if err := s.db.Update(func(txn *badger.Txn) error {
			for i := 0; i < perBatch; i++ {
				k := fmt.Sprintf("k/%03d/%02d", b, i)
				if err := txn.Set([]byte(k), payload(k, size)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sawL0 = max(sawL0, s.db.Levels()[0].NumTables)
	}
	// Memtables flush in the background: wait until level 0 fills up.
	for wait := time.Now().Add(10 * time.Second); sawL0 < 2 && time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
		sawL0 = max(sawL0, s.db.Levels()[0].NumTables)
	}
	if sawL0 < 2 {
		t.Fatalf("level 0 never held 2 tables (peak %d): the test wrote too little", sawL0)
	}
	t.Logf("level 0 peak: %d tables", sawL0)
	deadline := time.Now().Add(4*compactEvery + 10*time.Second)
	for s.db.Levels()[0].NumTables >= 2 {
		if time.Now().After(deadline) {
			t.Fatalf("level 0 still holds %d tables (peak %d)", s.db.Levels()[0].NumTables, sawL0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.db.View(func(txn *badger.Txn) error {
		for b := 0; b < batches; b++ {
			for i := 0; i < perBatch; i++ {
				k := fmt.Sprintf("k/%03d/%02d", b, i)
				it, err := txn.Get([]byte(k))
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				v, err := it.ValueCopy(nil)
				if err != nil || !bytes.Equal(v, payload(k, size)) {
					return fmt.Errorf("%s: wrong value (%v)", k, err)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
