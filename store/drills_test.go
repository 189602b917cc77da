package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDrillRunsKeepLast(t *testing.T) {
	s, _ := openStore(t, t.TempDir())
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("%016x%016x", start.Add(time.Duration(i)*time.Minute).UnixMilli(), i) }
	for i := 0; i < KeepDrillRuns+15; i++ {
		run := &DrillRun{ID: id(i), Kind: DrillReachability, StartedAt: start.Add(time.Duration(i) * time.Minute),
			Results: []DrillResult{{Country: "DE", Reachable: true, RTTMillis: 1.5}}}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDrillRun(run) }); err != nil {
			t.Fatal(err)
		}
	}
	// Rewriting an existing run (a response drill being resolved) keeps
	// the count and does not push anything out.
	err := s.Update(ctx, func(tx *Tx) error {
		run, err := tx.DrillRun(id(20))
		if err != nil {
			return err
		}
		run.Results[0].Error = "updated"
		return tx.PutDrillRun(run)
	})
	if err != nil {
		t.Fatal(err)
	}
	var runs []*DrillRun
	if err := s.View(func(tx *ReadTx) error {
		var err error
		runs, err = tx.DrillRuns()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(runs) != KeepDrillRuns {
		t.Fatalf("%d runs kept, want %d", len(runs), KeepDrillRuns)
	}
	if runs[0].ID != id(15) || runs[len(runs)-1].ID != id(KeepDrillRuns+14) {
		t.Fatalf("kept %s … %s, want the newest, oldest first", runs[0].ID, runs[len(runs)-1].ID)
	}
	if runs[5].Results[0].Error != "updated" {
		t.Fatalf("rewritten run not stored: %+v", runs[5])
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDrillRun(&DrillRun{ID: "a/b"}) }); err == nil {
		t.Fatal("run id with a slash accepted")
	}
	var first, second uint64
	s.Update(ctx, func(tx *Tx) (err error) { first, err = tx.NextDrillNumber(); return })
	s.Update(ctx, func(tx *Tx) (err error) { second, err = tx.NextDrillNumber(); return })
	if first != 1 || second != 2 {
		t.Fatalf("drill numbers %d, %d; want 1, 2", first, second)
	}
}
