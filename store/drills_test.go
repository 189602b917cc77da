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
	id := func(i int) string {
		return fmt.Sprintf("%016x%016x", start.Add(time.Duration(i)*time.Minute).UnixMilli(), i)
	}
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
		run, err := tx.DrillRun(DrillReachability, id(20))
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
		runs, err = tx.DrillRuns(DrillReachability)
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
	// Runs of the other kind are kept apart: an old response drill is not
	// pushed out by newer reachability drills.
	resp := &DrillRun{ID: id(1), Kind: DrillResponse, Results: []DrillResult{{Country: "DE", CaseID: "c"}}}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDrillRun(resp) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		return tx.PutDrillRun(&DrillRun{ID: id(500), Kind: DrillReachability})
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *ReadTx) error {
		all, err := tx.DrillRuns("")
		if err != nil || len(all) != KeepDrillRuns+1 || all[0].ID != id(1) || all[0].Kind != DrillResponse {
			t.Errorf("all runs: %d, first %+v, %v", len(all), all[0], err)
		}
		latest, err := tx.LatestDrillRun(DrillReachability)
		if err != nil || latest.ID != id(500) {
			t.Errorf("latest reachability run %+v, %v", latest, err)
		}
		if latest, err := tx.LatestDrillRun(DrillResponse); err != nil || latest.ID != id(1) || !latest.Results[0].Pending() {
			t.Errorf("latest response run %+v, %v", latest, err)
		}
		return nil
	})
	for _, bad := range []*DrillRun{{ID: "a/b", Kind: DrillResponse}, {ID: "x", Kind: "fire"}} {
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutDrillRun(bad) }); err == nil {
			t.Fatalf("invalid run %+v accepted", bad)
		}
	}
	var first, second uint64
	s.Update(ctx, func(tx *Tx) (err error) { first, err = tx.NextDrillNumber(); return })
	s.Update(ctx, func(tx *Tx) (err error) { second, err = tx.NextDrillNumber(); return })
	if first != 1 || second != 2 {
		t.Fatalf("drill numbers %d, %d; want 1, 2", first, second)
	}
}
