package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

func rec(i int) []byte { return fmt.Appendf(nil, "record %04d %s", i, strings.Repeat("x", i%50)) }

func open(t *testing.T, o Options) (*Journal, [][]byte) {
	t.Helper()
	var got [][]byte
	j, err := Open(o, func(p []byte) error { got = append(got, bytes.Clone(p)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return j, got
}

func appendN(t *testing.T, j *Journal, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func wantRecords(t *testing.T, got [][]byte, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("replayed %d records, want %d", len(got), to-from)
	}
	for i, p := range got {
		if !bytes.Equal(p, rec(from+i)) {
			t.Fatalf("record %d replayed as %q, want %q", i, p, rec(from+i))
		}
	}
}

func modes(t *testing.T, fn func(t *testing.T, o Options)) {
	for _, pre := range []bool{true, false} {
		for _, key := range [][]byte{nil, bytes.Repeat([]byte{7}, 32)} {
			name := fmt.Sprintf("prealloc=%v/sealed=%v", pre, key != nil)
			t.Run(name, func(t *testing.T) {
				fn(t, Options{Dir: t.TempDir(), SegmentSize: 16 << 10, Preallocate: pre, Key: key})
			})
		}
	}
}

// Everything appended is replayed after a reopen, in order, across
// segment rotations; appends then continue where the log ended.
func TestReplayAfterRestart(t *testing.T) {
	modes(t, func(t *testing.T, o Options) {
		j, got := open(t, o)
		wantRecords(t, got, 0, 0)
		appendN(t, j, 0, 500) // ~20 KiB of records per 16 KiB segment: several rotations
		if j.Sealed() < 2 {
			t.Fatalf("%d sealed segments after 500 records, want rotations", j.Sealed())
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j, got = open(t, o)
		wantRecords(t, got, 0, 500)
		appendN(t, j, 500, 600)
		j.Close()
		j, got = open(t, o)
		defer j.Close()
		wantRecords(t, got, 0, 600)
	})
}

// A crash in the middle of an append leaves part of a record: replay stops
// before it, and the next append overwrites it.
func TestTornTailIsCutOff(t *testing.T) {
	modes(t, func(t *testing.T, o Options) {
		j, _ := open(t, o)
		appendN(t, j, 0, 10)
		s := j.active
		end := s.off
		j.Close()
		// The 11th record reached the disk only in part: its header and
		// half its payload.
		full := recordBytes(t, o, 10, s.nonce, rec(10))
		torn := full[:recordHead+(len(full)-recordHead)/2]
		writeAt(t, s.path, torn, end)

		j, got := open(t, o)
		wantRecords(t, got, 0, 10)
		appendN(t, j, 10, 20)
		j.Close()
		j, got = open(t, o)
		defer j.Close()
		wantRecords(t, got, 0, 20)
	})
}

// A record whose bytes were damaged after it was written (one flipped bit)
// ends replay there: its CRC fails.
func TestDamagedRecordEndsReplay(t *testing.T) {
	modes(t, func(t *testing.T, o Options) {
		j, _ := open(t, o)
		appendN(t, j, 0, 5)
		off := j.active.off
		appendN(t, j, 5, 6)
		path := j.active.path
		j.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[off+recordHead+3] ^= 0x40
		writeAt(t, path, b[off:off+recordHead+8], off)
		j, got := open(t, o)
		defer j.Close()
		wantRecords(t, got, 0, 5)
	})
}

// A recycled segment still holds its previous records; they carry the old
// nonce and are never replayed as new ones.
func TestRecycledSegmentKeepsNoStaleRecords(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 16 << 10, Preallocate: true}
	j, _ := open(t, o)
	next := 0
	for j.Sealed() < 2 { // two full segments of old records
		appendN(t, j, next, next+1)
		next++
	}
	j.prep.Wait()
	// Release both: the first becomes the spare (the one prepared at
	// Open is already spare, so one of them is deleted).
	j.mu.Lock()
	j.spares = nil
	j.mu.Unlock()
	if err := j.Release(2); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	recycled := j.spares[0]
	j.mu.Unlock()
	// Fill the active segment until the rotation takes the recycled file,
	// then write only a few records into it: the rest of it still holds
	// the old records.
	for j.Sealed() == 0 {
		appendN(t, j, next, next+1)
		next++
	}
	if _, err := os.Stat(recycled); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rotation did not take the spare %s (%v)", recycled, err)
	}
	appendN(t, j, next, next+3)
	next += 3
	j.Close()
	j, got := open(t, o)
	defer j.Close()
	if len(got) == 0 || !bytes.Equal(got[len(got)-1], rec(next-1)) {
		t.Fatalf("last replayed record %q, want %q", got[len(got)-1], rec(next-1))
	}
	for i := 1; i < len(got); i++ {
		var a, b int
		fmt.Sscanf(string(got[i-1]), "record %d", &a)
		fmt.Sscanf(string(got[i]), "record %d", &b)
		if b != a+1 {
			t.Fatalf("replay jumps from record %d to %d", a, b)
		}
	}
}

// Released segments are gone after a reopen; Reset leaves nothing to replay.
func TestReleaseAndReset(t *testing.T) {
	modes(t, func(t *testing.T, o Options) {
		j, _ := open(t, o)
		appendN(t, j, 0, 300)
		sealed := j.Sealed()
		first := firstSeqOfActive(j)
		if err := j.Release(sealed); err != nil {
			t.Fatal(err)
		}
		if j.Sealed() != 0 {
			t.Fatalf("%d sealed after Release", j.Sealed())
		}
		j.Close()
		j, got := open(t, o)
		wantRecords(t, got, int(first-1), 300)
		if err := j.Reset(); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j, got = open(t, o)
		wantRecords(t, got, 0, 0)
		appendN(t, j, 0, 3)
		j.Close()
		j, got = open(t, o)
		defer j.Close()
		wantRecords(t, got, 0, 3)
		if o.Preallocate {
			spares, _ := filepath.Glob(filepath.Join(o.Dir, sparePre+"*"))
			if len(spares) > maxSpares {
				t.Errorf("%d spare files kept, want at most %d", len(spares), maxSpares)
			}
		}
	})
}

// A missing segment in the middle is an error, not a silent skip: the
// records after it depend on the ones lost.
func TestGapBetweenSegmentsIsAnError(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 16 << 10}
	j, _ := open(t, o)
	appendN(t, j, 0, 600)
	if j.Sealed() < 2 {
		t.Fatal("want 3 segments")
	}
	middle := j.sealed[1].path
	j.Close()
	if err := os.Remove(middle); err != nil {
		t.Fatal(err)
	}
	_, err := Open(o, func([]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "records are missing") {
		t.Fatalf("Open with a missing segment: %v", err)
	}
}

// A sealed record does not open under another key: a wrong store key is
// a clear error, never garbage replayed.
func TestWrongKeyIsAnError(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 16 << 10, Key: bytes.Repeat([]byte{1}, 32)}
	j, _ := open(t, o)
	appendN(t, j, 0, 3)
	j.Close()
	raw, _ := os.ReadFile(filepath.Join(o.Dir, fmt.Sprintf("%016x%s", 1, segExt)))
	if bytes.Contains(raw, []byte("record 0001")) {
		t.Fatal("sealed journal holds a record in clear")
	}
	o.Key = bytes.Repeat([]byte{2}, 32)
	_, err := Open(o, func([]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "wrong store key") {
		t.Fatalf("Open with the wrong key: %v", err)
	}
}

// A full disk refuses the append that needs a new segment, with ENOSPC in
// the chain; nothing half-written is replayed, and appends resume once
// there is room.
func TestDiskFull(t *testing.T) {
	for _, pre := range []bool{true, false} {
		t.Run(fmt.Sprintf("prealloc=%v", pre), func(t *testing.T) {
			o := Options{Dir: t.TempDir(), SegmentSize: 16 << 10, Preallocate: pre}
			j, _ := open(t, o)
			j.prep.Wait()        // the spare prepared at Open, if any
			var full atomic.Bool // read by a background spare preparation
			full.Store(true)
			j.writeFile = func(f *os.File, b []byte, off int64) (int, error) {
				if full.Load() {
					return 0, syscall.ENOSPC
				}
				return f.WriteAt(b, off)
			}
			j.mu.Lock()
			j.spares = nil // no spare: the next rotation must create a file
			j.mu.Unlock()
			var failedAt = -1
			for i := 0; i < 400; i++ {
				err := j.Append(rec(i))
				if err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("append %d: %v, want ENOSPC", i, err)
					}
					failedAt = i
					break
				}
			}
			if failedAt < 0 {
				t.Fatal("no append failed on a full disk")
			}
			full.Store(false)
			appendN(t, j, failedAt, failedAt+20)
			j.Close()
			j, got := open(t, o)
			defer j.Close()
			wantRecords(t, got, 0, failedAt+20)
		})
	}
}

// A failed fdatasync leaves the disk's state unknown: the journal refuses
// every later append instead of writing past a record that may be lost.
func TestFailedSyncStopsTheJournal(t *testing.T) {
	o := Options{Dir: t.TempDir(), SegmentSize: 16 << 10}
	j, _ := open(t, o)
	defer j.Close()
	appendN(t, j, 0, 2)
	j.syncFile = func(*os.File) error { return syscall.EIO }
	if err := j.Append(rec(2)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing sync: %v", err)
	}
	j.syncFile = nil
	if err := j.Append(rec(3)); err == nil {
		t.Fatal("append after a failed sync succeeded")
	}
}

func TestTooLargeRecord(t *testing.T) {
	j, _ := open(t, Options{Dir: t.TempDir(), SegmentSize: 16 << 10})
	defer j.Close()
	if err := j.Append(make([]byte, 16<<10)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("append of a segment-sized record: %v", err)
	}
	appendN(t, j, 0, 1) // and the journal still works
}

// recordBytes is what Append writes for payload p as record seq.
func recordBytes(t *testing.T, o Options, seq, nonce uint64, p []byte) []byte {
	t.Helper()
	j, _ := open(t, Options{Dir: t.TempDir(), SegmentSize: o.SegmentSize, Key: o.Key})
	defer j.Close()
	j.nextSeq = seq + 1
	j.active.nonce = nonce
	off := j.active.off
	if err := j.Append(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(j.active.path)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(b[off:j.active.off])
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func firstSeqOfActive(j *Journal) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.active.firstSeq
}
