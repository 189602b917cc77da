// Package journal is the store's write-ahead log: an append-only sequence
// of records, each made durable with one fdatasync before Append returns.
// The store appends one record per group commit and applies the same
// writes to Badger without Badger's own sync; Badger is the index the node
// reads, the journal is what makes an acknowledged write survive a crash.
//
// A journal is a directory of segment files. Each segment starts with a
// header block (magic, first sequence number, a random nonce) and holds
// records back to back; a record never spans two segments:
//
//	length u32 | crc32c u32 | seq u64 | nonce u64 | payload
//
// The CRC covers seq, nonce and payload. Replay reads segments in order of
// their first sequence number and stops at the first record that is short,
// fails its CRC, carries another segment's nonce or is out of sequence: a
// torn tail left by a crash in the middle of an append is cut off there.
// Records left in a recycled segment by its previous use carry that use's
// nonce, so they are never taken for new ones.
//
// With Preallocate, segments are zero-filled once and recycled: an append
// then overwrites blocks the file already owns, so fdatasync has no
// metadata (file size, extents) to write. That is the cheapest durable
// write the disk offers (BENCHMARKS.md measures it against a plain append
// + fsync). Without it segments grow by appending, which suits many small
// nodes on one machine.
//
// The owner checkpoints: once the writes of a full (sealed) segment are
// durable elsewhere, Release drops it. Releases go oldest first, so what
// remains is always a suffix of the history, and replaying a suffix over a
// state that already holds it gives the same state.
package journal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	magic      = "VGLJRNL1"
	headerSize = 4096 // the header owns the first block; records start after it
	recordHead = 24   // length, crc, seq, nonce
	segExt     = ".wal"
	sparePre   = "spare-"
	maxSpares  = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Append for a record that cannot fit in a
// segment.
var ErrTooLarge = errors.New("journal record larger than a segment")

// Options configures Open.
type Options struct {
	// Dir holds the segment files; it is created if missing.
	Dir string
	// SegmentSize is the size of a segment file, header included.
	SegmentSize int64
	// Preallocate zero-fills segments and recycles released ones.
	Preallocate bool
	// Key, if set, seals every payload with AES-256-GCM under a key
	// derived from it (the store's encryption-at-rest key), so the journal
	// holds nothing in clear that Badger encrypts.
	Key []byte
}

// Journal is an open journal. Append, Write and Sync are for one goroutine
// (the store's committer); Release and Sealed may be called from another.
type Journal struct {
	o    Options
	aead cipher.AEAD // nil without Key

	mu     sync.Mutex
	sealed []*segment // full, oldest first
	spares []string   // paths of zero-filled files ready for reuse
	active *segment
	closed bool

	nextSeq  uint64
	buf      []byte   // the record being written; reused
	unsynced *segment // holds a Write that no Sync has covered yet
	syncs    atomic.Uint64

	prep     sync.WaitGroup // a background spare preparation
	prepping bool

	// Tests replace these to fail writes and syncs (nil: the real ones).
	writeFile func(f *os.File, b []byte, off int64) (int, error)
	syncFile  func(f *os.File) error
}

func (j *Journal) writeAt(f *os.File, b []byte, off int64) (int, error) {
	if j.writeFile != nil {
		return j.writeFile(f, b, off)
	}
	return f.WriteAt(b, off)
}

type segment struct {
	path     string
	f        *os.File
	firstSeq uint64
	nonce    uint64
	off      int64 // where the next record goes
}

// Open opens the journal in o.Dir, creating it if needed, and calls replay
// with every durable record's payload, oldest first. A torn record at the
// end of the last segment is discarded; anything else that does not read
// back (a gap between segments) is an error, because what follows it
// cannot be applied safely.
func Open(o Options, replay func(payload []byte) error) (*Journal, error) {
	if o.SegmentSize < 2*headerSize {
		return nil, fmt.Errorf("journal %s: segment size %d is too small", o.Dir, o.SegmentSize)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w", o.Dir, err)
	}
	j := &Journal{o: o, nextSeq: 1}
	if len(o.Key) > 0 {
		k, err := hkdf.Key(sha256.New, o.Key, nil, "vigil store journal v1", 32)
		if err != nil {
			return nil, fmt.Errorf("journal key: %w", err)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("journal key: %w", err)
		}
		if j.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("journal key: %w", err)
		}
	}
	segs, err := j.scan()
	if err != nil {
		return nil, err
	}
	for i, s := range segs {
		if i > 0 && s.firstSeq != j.nextSeq {
			closeAll(segs)
			return nil, fmt.Errorf("journal %s: segment %s starts at record %d, want %d: records are missing", o.Dir, filepath.Base(s.path), s.firstSeq, j.nextSeq)
		}
		j.nextSeq = s.firstSeq
		if err := j.replaySegment(s, replay); err != nil {
			closeAll(segs)
			return nil, err
		}
	}
	if n := len(segs); n > 0 {
		j.sealed, j.active = segs[:n-1], segs[n-1]
		if !o.Preallocate {
			// Cut a torn tail, so the file holds only records.
			if err := j.active.f.Truncate(j.active.off); err != nil {
				closeAll(segs)
				return nil, fmt.Errorf("journal %s: truncate torn tail: %w", j.active.path, err)
			}
		}
	} else if j.active, err = j.newSegment(); err != nil {
		return nil, err
	}
	if o.Preallocate && len(j.spares) == 0 {
		j.prepareSpare()
	}
	return j, nil
}

// scan lists the segments (sorted by first record) and the spares.
func (j *Journal) scan() ([]*segment, error) {
	ents, err := os.ReadDir(j.o.Dir)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.o.Dir, err)
	}
	var segs []*segment
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(j.o.Dir, name)
		switch {
		case strings.HasPrefix(name, sparePre) && strings.HasSuffix(name, segExt):
			if len(j.spares) < maxSpares && j.o.Preallocate {
				j.spares = append(j.spares, path)
			} else if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("journal: remove spare: %w", err)
			}
		case strings.HasSuffix(name, segExt):
			s, err := openSegment(path)
			if err != nil {
				closeAll(segs)
				return nil, err
			}
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmpUint(a.firstSeq, b.firstSeq) })
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func openSegment(path string) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(f, h[:28]); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %s has no header: %w", path, err)
	}
	if string(h[:8]) != magic || crc32.Checksum(h[:24], castagnoli) != binary.LittleEndian.Uint32(h[24:28]) {
		f.Close()
		return nil, fmt.Errorf("journal: %s has a damaged header", path)
	}
	return &segment{path: path, f: f, firstSeq: binary.LittleEndian.Uint64(h[8:16]),
		nonce: binary.LittleEndian.Uint64(h[16:24]), off: headerSize}, nil
}

// replaySegment reads s's records from the start, hands each to fn and
// leaves s.off after the last good one; j.nextSeq follows.
func (j *Journal) replaySegment(s *segment, fn func([]byte) error) error {
	size, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", s.path, err)
	}
	r := io.NewSectionReader(s.f, headerSize, size-headerSize)
	var head [recordHead]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil // end of file, or a torn header
		}
		n := int64(binary.LittleEndian.Uint32(head[0:4]))
		seq := binary.LittleEndian.Uint64(head[8:16])
		nonce := binary.LittleEndian.Uint64(head[16:24])
		if n == 0 || seq != j.nextSeq || nonce != s.nonce || s.off+recordHead+n > size {
			return nil // zeros, a stale record from the file's previous use, or torn
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil
		}
		c := crc32.Update(crc32.Checksum(head[8:24], castagnoli), castagnoli, buf)
		if c != binary.LittleEndian.Uint32(head[4:8]) {
			return nil // torn: part of the record reached the disk
		}
		payload, err := j.open(seq, buf)
		if err != nil {
			return fmt.Errorf("journal: %s record %d: %w", s.path, seq, err)
		}
		if err := fn(payload); err != nil {
			return fmt.Errorf("journal: replay record %d: %w", seq, err)
		}
		s.off += recordHead + n
		j.nextSeq++
	}
}

// Append writes payload as the next record and returns once it is on
// disk (Write, then Sync). On error nothing was acknowledged and the
// record is not replayed unless it fully reached the disk; the caller must
// treat the write as failed and apply nothing.
func (j *Journal) Append(payload []byte) error {
	if err := j.Write(payload); err != nil {
		return err
	}
	return j.Sync()
}

// Write puts payload as the next record in the page cache: it survives a
// crash of the process, not yet one of the machine. Sync must follow
// before the next Write; the caller may do other work in between (the
// store applies the same writes to Badger while Sync waits for the disk).
func (j *Journal) Write(payload []byte) error {
	n := recordHead + int64(len(payload))
	if j.aead != nil {
		n += int64(j.aead.NonceSize() + j.aead.Overhead())
	}
	if n > j.o.SegmentSize-headerSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return errors.New("journal is closed")
	}
	s := j.active
	if s.off+n > j.o.SegmentSize {
		var err error
		if s, err = j.rotate(); err != nil {
			j.mu.Unlock()
			return err
		}
	}
	j.mu.Unlock()

	rec := j.buf[:0]
	rec = binary.LittleEndian.AppendUint32(rec, 0) // length, below
	rec = binary.LittleEndian.AppendUint32(rec, 0) // crc, below
	rec = binary.LittleEndian.AppendUint64(rec, j.nextSeq)
	rec = binary.LittleEndian.AppendUint64(rec, s.nonce)
	rec, err := j.seal(rec, j.nextSeq, payload)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(rec)-recordHead))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(rec[8:], castagnoli))
	if len(rec) <= 1<<20 {
		j.buf = rec // keep the buffer unless one huge record grew it
	}
	if _, err := j.writeAt(s.f, rec, s.off); err != nil {
		return fmt.Errorf("journal: write %s: %w", s.path, err)
	}
	s.off += int64(len(rec))
	j.nextSeq++
	j.unsynced = s
	return nil
}

// Sync makes the last Write durable.
func (j *Journal) Sync() error {
	s := j.unsynced
	if s == nil {
		return nil
	}
	j.unsynced = nil
	if err := j.sync(s.f); err != nil {
		// The page cache may hold the record or not; the disk's state is
		// unknown (after a failed fsync, Linux may drop the dirty pages).
		// Nothing may be appended after this record as if it were on
		// disk: the journal refuses further writes.
		j.mu.Lock()
		j.closed = true
		j.mu.Unlock()
		return fmt.Errorf("journal: sync %s: %w", s.path, err)
	}
	return nil
}

// sync makes f's data durable. fdatasync also writes the file size when
// it grew (without Preallocate), which is all fsync would add for a log.
func (j *Journal) sync(f *os.File) error {
	j.syncs.Add(1)
	if j.syncFile != nil {
		return j.syncFile(f)
	}
	return unix.Fdatasync(int(f.Fd()))
}

// seal appends payload (sealed under Key, if any) to rec.
func (j *Journal) seal(rec []byte, seq uint64, payload []byte) ([]byte, error) {
	if j.aead == nil {
		return append(rec, payload...), nil
	}
	ns := j.aead.NonceSize()
	start := len(rec)
	rec = append(rec, make([]byte, ns)...)
	if _, err := rand.Read(rec[start:]); err != nil {
		return nil, fmt.Errorf("journal nonce: %w", err)
	}
	var ad [8]byte
	binary.LittleEndian.PutUint64(ad[:], seq)
	return j.aead.Seal(rec, rec[start:start+ns], payload, ad[:]), nil
}

// open reverses seal.
func (j *Journal) open(seq uint64, body []byte) ([]byte, error) {
	if j.aead == nil {
		return body, nil
	}
	ns := j.aead.NonceSize()
	if len(body) < ns {
		return nil, errors.New("sealed record too short")
	}
	var ad [8]byte
	binary.LittleEndian.PutUint64(ad[:], seq)
	p, err := j.aead.Open(nil, body[:ns], body[ns:], ad[:])
	if err != nil {
		return nil, fmt.Errorf("sealed record does not open (wrong store key?): %w", err)
	}
	return p, nil
}

// rotate seals the active segment and starts the next; j.mu is held.
func (j *Journal) rotate() (*segment, error) {
	s, err := j.newSegment()
	if err != nil {
		return nil, err
	}
	j.sealed = append(j.sealed, j.active)
	j.active = s
	if j.o.Preallocate && len(j.spares) == 0 {
		j.prepareSpare()
	}
	return s, nil
}

// newSegment makes the segment that starts at j.nextSeq: from a spare if
// one is ready, else a new file. Its header is durable, and so is its
// name, before any record goes in.
func (j *Journal) newSegment() (*segment, error) {
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return nil, fmt.Errorf("journal nonce: %w", err)
	}
	s := &segment{path: filepath.Join(j.o.Dir, fmt.Sprintf("%016x%s", j.nextSeq, segExt)),
		firstSeq: j.nextSeq, nonce: binary.LittleEndian.Uint64(nb[:]), off: headerSize}
	var src string
	if n := len(j.spares); n > 0 {
		src, j.spares = j.spares[n-1], j.spares[:n-1]
	} else {
		var err error
		if src, err = j.createFile(); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(src, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", src, err)
	}
	var h [headerSize]byte
	copy(h[:8], magic)
	binary.LittleEndian.PutUint64(h[8:16], s.firstSeq)
	binary.LittleEndian.PutUint64(h[16:24], s.nonce)
	binary.LittleEndian.PutUint32(h[24:28], crc32.Checksum(h[:24], castagnoli))
	if _, err := j.writeAt(f, h[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: write header %s: %w", src, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: sync header %s: %w", src, err)
	}
	if err := os.Rename(src, s.path); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.o.Dir); err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

// createFile makes a new spare-named file: zero-filled to SegmentSize and
// synced with Preallocate, empty otherwise.
func (j *Journal) createFile() (string, error) {
	var rb [8]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	path := filepath.Join(j.o.Dir, sparePre+strconv.FormatUint(binary.LittleEndian.Uint64(rb[:]), 16)+segExt)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("journal: create segment: %w", err)
	}
	defer f.Close()
	if j.o.Preallocate {
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < j.o.SegmentSize; off += int64(len(zeros)) {
			n := min(int64(len(zeros)), j.o.SegmentSize-off)
			if _, err := j.writeAt(f, zeros[:n], off); err != nil {
				os.Remove(path)
				return "", fmt.Errorf("journal: preallocate segment: %w", err)
			}
		}
	}
	if err := f.Sync(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("journal: sync new segment: %w", err)
	}
	return path, nil
}

// prepareSpare zero-fills a spare in the background, so the next rotation
// does not wait for it; j.mu is held.
func (j *Journal) prepareSpare() {
	if j.prepping || j.closed {
		return
	}
	j.prepping = true
	j.prep.Add(1)
	go func() {
		defer j.prep.Done()
		path, err := j.createFile()
		j.mu.Lock()
		defer j.mu.Unlock()
		j.prepping = false
		if err != nil {
			return // the next rotation creates one itself and reports the error
		}
		if j.closed || len(j.spares) >= maxSpares {
			os.Remove(path)
			return
		}
		j.spares = append(j.spares, path)
	}()
}

// Sealed is the number of full segments not yet released.
func (j *Journal) Sealed() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.sealed)
}

// Release drops the n oldest sealed segments: the caller has made every
// record in them durable elsewhere. With Preallocate a released segment
// becomes a spare.
func (j *Journal) Release(n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for ; n > 0 && len(j.sealed) > 0; n-- {
		s := j.sealed[0]
		if err := j.retire(s); err != nil {
			return err
		}
		j.sealed = j.sealed[1:]
	}
	return nil
}

// Reset drops every segment, the active one included, once the caller has
// made all of them durable elsewhere (the store after Badger closed
// cleanly): the next Open replays nothing. Oldest first, each step durable.
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.sealed) > 0 {
		if err := j.retire(j.sealed[0]); err != nil {
			return err
		}
		j.sealed = j.sealed[1:]
	}
	if j.active != nil {
		if err := j.retire(j.active); err != nil {
			return err
		}
		j.active = nil
	}
	j.closed = true
	return nil
}

// retire removes s, or renames it to a spare; j.mu is held.
func (j *Journal) retire(s *segment) error {
	s.f.Close()
	if j.o.Preallocate && len(j.spares) < maxSpares && !j.closed {
		var rb [8]byte
		if _, err := rand.Read(rb[:]); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		spare := filepath.Join(j.o.Dir, sparePre+strconv.FormatUint(binary.LittleEndian.Uint64(rb[:]), 16)+segExt)
		if err := os.Rename(s.path, spare); err != nil {
			return fmt.Errorf("journal: release %s: %w", s.path, err)
		}
		j.spares = append(j.spares, spare)
	} else if err := os.Remove(s.path); err != nil {
		return fmt.Errorf("journal: release %s: %w", s.path, err)
	}
	// Durable before the next, newer segment goes: what survives a crash
	// is always a suffix of the history.
	return syncDir(j.o.Dir)
}

// Syncs is the number of fdatasync calls Append has made.
func (j *Journal) Syncs() uint64 { return j.syncs.Load() }

// Close closes the files; the journal stays on disk for the next Open.
func (j *Journal) Close() error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.prep.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for _, s := range j.sealed {
		errs = append(errs, s.f.Close())
	}
	if j.active != nil {
		errs = append(errs, j.active.f.Close())
	}
	return errors.Join(errs...)
}

func closeAll(segs []*segment) {
	for _, s := range segs {
		s.f.Close()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync dir %s: %w", dir, err)
	}
	return nil
}
