package roster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// TestStateOnChangeInOrder: subscribers hear of every install in the order
// they subscribed, one install at a time and in install order, even when
// rosters arrive concurrently; a stale roster changes nothing; the roster
// in force is the one on disk.
func TestStateOnChangeInOrder(t *testing.T) {
	a := newAuthority(t)
	ms, ids := testMembers(t, 3)
	ms = complete(ms)
	st := loadState(t, a, a.sign(t, 1, ms...))
	var events []string
	last := uint64(1)
	var mu sync.Mutex // OnChange serialises calls; mu only lets the test read events
	st.OnChange(func(old, cur *protocol.Roster) {
		mu.Lock()
		defer mu.Unlock()
		if old.Serial != last || cur.Serial <= old.Serial {
			t.Errorf("first subscriber got %d → %d after %d", old.Serial, cur.Serial, last)
		}
		if got, _ := st.Current(); got != cur {
			t.Errorf("subscriber told of serial %d while %d is in force", cur.Serial, got.Serial)
		}
		events = append(events, fmt.Sprintf("first %d→%d", old.Serial, cur.Serial))
	})
	st.OnChange(func(old, cur *protocol.Roster) {
		mu.Lock()
		defer mu.Unlock()
		last = cur.Serial
		events = append(events, fmt.Sprintf("second %d→%d", old.Serial, cur.Serial))
	})
	for _, serial := range []uint64{2, 3} {
		if _, _, err := st.apply(a.sign(t, serial, ms...), time.Now(), applyHooks{}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"first 1→2", "second 1→2", "first 2→3", "second 2→3"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	if _, _, err := st.apply(a.sign(t, 2, ms...), time.Now(), applyHooks{}); !errors.Is(err, protocol.ErrRosterStale) {
		t.Fatalf("older roster: %v, want ErrRosterStale", err)
	}
	if len(events) != 4 {
		t.Fatalf("a stale roster told subscribers: %q", events)
	}

	// Concurrent installs: each subscriber call follows the previous one.
	docs := make([][]byte, 0, 16)
	for serial := uint64(4); serial < 20; serial++ {
		docs = append(docs, a.sign(t, serial, ms...))
	}
	var wg sync.WaitGroup
	for _, doc := range docs {
		wg.Go(func() {
			if _, _, err := st.apply(doc, time.Now(), applyHooks{}); err != nil && !errors.Is(err, protocol.ErrRosterStale) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st.Serial() != 19 || last != 19 {
		t.Fatalf("serial %d, subscribers last saw %d; want 19", st.Serial(), last)
	}
	if len(events)%2 != 0 {
		t.Fatalf("subscribers called unevenly: %q", events)
	}

	// The file holds the roster in force; the lookups answer from it.
	again := NewState(st.path, a.pub)
	if err := again.Load(); err != nil || again.Serial() != 19 {
		t.Fatalf("reloaded: serial %d, %v; want 19", again.Serial(), err)
	}
	if !st.IsMember(ids[1]) || st.IsMember("stranger") {
		t.Fatal("IsMember wrong")
	}
	if id, m, ok := st.ByCountry(ms[2].Country); !ok || id != ids[2] || m.PeerID != ms[2].PeerID {
		t.Fatalf("ByCountry(%s) = %s, %+v, %v", ms[2].Country, id, m, ok)
	}
	if m, ok := st.MemberByPeer(ids[0]); !ok || m.Country != ms[0].Country {
		t.Fatalf("MemberByPeer = %+v, %v", m, ok)
	}
}

// TestStateGuardRefusalRemembered: a roster the guard refuses is not
// installed, and the same document offered again is refused without
// judging it again, until forgetRefused (an admin's forced push).
func TestStateGuardRefusalRemembered(t *testing.T) {
	a := newAuthority(t)
	ms, _ := testMembers(t, 3)
	ms = complete(ms)
	st := loadState(t, a, a.sign(t, 1, ms...))
	changes := 0
	st.OnChange(func(_, _ *protocol.Roster) { changes++ })
	calls := 0
	guard := func(old, r *protocol.Roster) error {
		calls++
		return fmt.Errorf("%w: %s", ErrDrops, drops(old, r, ""))
	}
	doc := a.sign(t, 2, ms[:1]...)
	if _, _, err := st.apply(doc, time.Now(), applyHooks{guard: guard}); !errors.Is(err, ErrDrops) {
		t.Fatalf("apply = %v, want ErrDrops", err)
	}
	old, r, err := st.apply(doc, time.Now(), applyHooks{guard: guard})
	if !errors.Is(err, errRefusedBefore) || !errors.Is(err, ErrDrops) || calls != 1 {
		t.Fatalf("offered again: %v after %d guard calls; want the remembered refusal, 1 call", err, calls)
	}
	if old.Serial != 1 || r.Serial != 2 {
		t.Fatalf("remembered refusal names serials %d → %d, want 1 → 2", old.Serial, r.Serial)
	}
	st.forgetRefused()
	if _, _, err := st.apply(doc, time.Now(), applyHooks{guard: guard}); !errors.Is(err, ErrDrops) || errors.Is(err, errRefusedBefore) || calls != 2 {
		t.Fatalf("after forgetRefused: %v, %d calls; want judged afresh", err, calls)
	}
	if st.Serial() != 1 || changes != 0 {
		t.Fatalf("serial %d after %d changes: a refused roster was installed", st.Serial(), changes)
	}
	st.forgetRefused()
	if _, _, err := st.apply(doc, time.Now(), applyHooks{guard: func(_, _ *protocol.Roster) error { return nil }}); err != nil || st.Serial() != 2 || changes != 1 {
		t.Fatalf("guard allowing it: %v, serial %d, %d changes", err, st.Serial(), changes)
	}
}

// TestStateUnrecordedLeavesNothing: a roster whose record cannot be
// written is refused with ErrUnrecorded and changes neither the roster in
// force, nor its file, nor any subscriber; nothing is left beside the file.
func TestStateUnrecordedLeavesNothing(t *testing.T) {
	a := newAuthority(t)
	ms, _ := testMembers(t, 2)
	ms = complete(ms)
	first := a.sign(t, 1, ms...)
	st := loadState(t, a, first)
	changes := 0
	st.OnChange(func(_, _ *protocol.Roster) { changes++ })
	diskFull := errors.New("no space left on device")
	failing := func(_, _ *protocol.Roster) error {
		if st.Serial() != 1 {
			t.Error("record ran after the roster took effect")
		}
		return diskFull
	}
	_, _, err := st.apply(a.sign(t, 2, ms...), time.Now(), applyHooks{record: failing})
	if !errors.Is(err, ErrUnrecorded) || !errors.Is(err, diskFull) {
		t.Fatalf("apply = %v, want ErrUnrecorded wrapping the store's error", err)
	}
	if st.Serial() != 1 || changes != 0 {
		t.Fatalf("serial %d after %d changes: an unrecorded roster took effect", st.Serial(), changes)
	}
	if onDisk, _ := os.ReadFile(st.path); !bytes.Equal(onDisk, first) {
		t.Fatal("an unrecorded roster reached the roster file")
	}
	entries, _ := os.ReadDir(filepath.Dir(st.path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want the roster file alone", len(entries))
	}
	recorded := 0
	if _, _, err := st.apply(a.sign(t, 2, ms...), time.Now(), applyHooks{record: func(_, _ *protocol.Roster) error { recorded++; return nil }}); err != nil {
		t.Fatal(err)
	}
	if st.Serial() != 2 || changes != 1 || recorded != 1 {
		t.Fatalf("recorded install: serial %d, %d changes, %d records", st.Serial(), changes, recorded)
	}
}
