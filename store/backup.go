package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// A backup file is Badger's own backup stream (DB.Backup's format: each
// batch a little-endian uint64 length and a protobuf KVList) framed so
// that a wrong, truncated or damaged file is refused before anything is
// restored. Badger's Load stops without an error at a batch boundary, so a
// backup cut off there would otherwise restore as a silently partial
// store. The file is:
//
//	"VIGIL-BACKUP 1\n"
//	one line of JSON (BackupHeader) and "\n"
//	the Badger backup stream
//	footer: stream length (uint64, big-endian), SHA-256 of every byte
//	before the hash, "VIGILEND"
const (
	backupMagic     = "VIGIL-BACKUP 1\n"
	backupEndMagic  = "VIGILEND"
	backupFooterLen = 8 + sha256.Size + 8 // length, hash, backupEndMagic
	// maxBackupHeader bounds the header line a restore reads.
	maxBackupHeader = 64 << 10
)

// ErrNotBackup is returned for a file that is not a Vigil backup.
var ErrNotBackup = errors.New("not a Vigil backup file")

// ErrBackupCorrupt is returned for a backup that is truncated or damaged.
var ErrBackupCorrupt = errors.New("backup file is incomplete or damaged")

// ErrRestoreTarget is returned when the restore target is not an empty
// directory.
var ErrRestoreTarget = errors.New("restore target must be an empty or new directory")

// BackupHeader describes a backup. The caller says whose it is and when;
// the store sets Format and StoreEncrypted.
type BackupHeader struct {
	Format  string    `json:"format"`
	TakenAt time.Time `json:"taken_at"`
	Country string    `json:"country,omitempty"`
	PeerID  string    `json:"peer_id,omitempty"`
	// StoreEncrypted says the store was encrypted at rest. The backup
	// itself holds the decrypted records either way.
	StoreEncrypted bool `json:"store_encrypted"`
}

const backupFormat = "vigil-backup/1"

// BackupInfo is what Backup wrote.
type BackupInfo struct {
	Header BackupHeader
	Bytes  int64 // the whole file
	// Version is the highest Badger version in the backup.
	Version uint64
}

// Backup writes a consistent backup of the whole store to w while the
// store keeps serving reads and writes. Every write whose Update returned
// before Backup was called is in it; writes committed meanwhile are not.
//
// The consistency comes from reading with one transaction: Badger's
// Stream opens one read transaction per producer goroutine, each at the
// timestamp current when it starts, so with several producers a write
// committed between their starts could appear in one key range and not
// another (an audit record without the head that chains it). One
// producer reads everything at one timestamp.
func (s *Store) Backup(ctx context.Context, w io.Writer, h BackupHeader) (BackupInfo, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return BackupInfo{}, ErrClosed
	}
	// Close waits for the backup (wg) after closing quit, which stops it.
	s.wg.Add(1)
	s.mu.RUnlock()
	defer s.wg.Done()

	h.Format = backupFormat
	h.StoreEncrypted = len(s.db.Opts().EncryptionKey) > 0
	if h.TakenAt.IsZero() {
		h.TakenAt = time.Now().UTC()
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup header: %w", err)
	}
	sum := sha256.New()
	cw := &backupWriter{ctx: ctx, quit: s.quit, w: io.MultiWriter(w, sum)}
	if _, err := cw.Write(append(append([]byte(backupMagic), hb...), '\n')); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	head := cw.n
	st := s.db.NewStream()
	st.NumGo = 1 // one read transaction: one snapshot (see above)
	st.LogPrefix = "store.Backup"
	version, err := st.Backup(cw, 0)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	var footer [backupFooterLen]byte
	binary.BigEndian.PutUint64(footer[:8], uint64(cw.n-head))
	sum.Write(footer[:8])
	copy(footer[8:], sum.Sum(nil))
	copy(footer[8+sha256.Size:], backupEndMagic)
	if _, err := w.Write(footer[:]); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	s.log.Debug("backup written", zap.Int64("bytes", cw.n+backupFooterLen), zap.Uint64("version", version))
	return BackupInfo{Header: h, Bytes: cw.n + backupFooterLen, Version: version}, nil
}

// backupWriter counts bytes and ends a backup when its request is
// cancelled or the store closes: Badger's Stream.Backup takes no context.
type backupWriter struct {
	ctx  context.Context
	quit <-chan struct{}
	w    io.Writer
	n    int64
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	select {
	case <-b.quit:
		return 0, ErrClosed
	default:
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}

// CheckBackup checks a backup file's framing and checksum and returns its
// header, reading the whole file once.
func CheckBackup(path string) (BackupHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return BackupHeader{}, fmt.Errorf("backup %s: %w", path, err)
	}
	defer f.Close()
	h, _, err := checkBackup(f)
	if err != nil {
		return BackupHeader{}, fmt.Errorf("backup %s: %w", path, err)
	}
	return h, nil
}

// checkBackup verifies f and returns its header and the section holding
// the Badger stream.
func checkBackup(f *os.File) (BackupHeader, *io.SectionReader, error) {
	var h BackupHeader
	fi, err := f.Stat()
	if err != nil {
		return h, nil, err
	}
	size := fi.Size()
	br := bufio.NewReader(io.LimitReader(f, maxBackupHeader))
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return h, nil, fmt.Errorf("%w (it does not start with %q; make one with vigil backup)", ErrNotBackup, backupMagic[:len(backupMagic)-1])
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return h, nil, fmt.Errorf("%w: header line unreadable", ErrBackupCorrupt)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrBackupCorrupt, err)
	}
	if h.Format != backupFormat {
		return h, nil, fmt.Errorf("%w: format %q, this vigil reads %q", ErrNotBackup, h.Format, backupFormat)
	}
	head := int64(len(backupMagic) + len(line))
	if size < head+backupFooterLen {
		return h, nil, fmt.Errorf("%w: %d bytes, too short to be complete", ErrBackupCorrupt, size)
	}
	var footer [backupFooterLen]byte
	if _, err := f.ReadAt(footer[:], size-backupFooterLen); err != nil {
		return h, nil, fmt.Errorf("read footer: %w", err)
	}
	if string(footer[8+sha256.Size:]) != backupEndMagic {
		return h, nil, fmt.Errorf("%w: no end marker (the backup was cut off)", ErrBackupCorrupt)
	}
	streamLen := int64(binary.BigEndian.Uint64(footer[:8]))
	if streamLen != size-head-backupFooterLen {
		return h, nil, fmt.Errorf("%w: the footer says %d bytes of data, the file holds %d", ErrBackupCorrupt, streamLen, size-head-backupFooterLen)
	}
	sum := sha256.New()
	if err := hashSection(sum, f, size-backupFooterLen+8); err != nil {
		return h, nil, err
	}
	if !bytes.Equal(sum.Sum(nil), footer[8:8+sha256.Size]) {
		return h, nil, fmt.Errorf("%w: checksum mismatch", ErrBackupCorrupt)
	}
	return h, io.NewSectionReader(f, head, streamLen), nil
}

func hashSection(h hash.Hash, f *os.File, n int64) error {
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return fmt.Errorf("read backup: %w", err)
	}
	return nil
}

// RestoreResult is what Restore loaded.
type RestoreResult struct {
	Header       BackupHeader
	Cases        int
	Queued       int // outbox messages awaiting delivery
	AuditRecords uint64
}

// Restore loads the backup at path into opts.Dir, which must not exist or
// be empty; the store must not be running. It checks the file first, and
// after loading opens the restored store and checks its audit hash chain
// (checkpoint signatures need the node's key: vigil audit verify on the
// restored node checks those). On failure it removes what it wrote.
func Restore(path string, opts Options) (res RestoreResult, err error) {
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h, stream, err := checkBackup(f)
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", path, err)
	}
	res.Header = h
	created, err := emptyTarget(opts.Dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			clearTarget(opts.Dir, created)
		}
	}()
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	db, err := badger.Open(badgerOptions(opts.Dir, opts.Profile, opts.EncryptionKey, opts.Logger.Named("badger")))
	if err != nil {
		return res, fmt.Errorf("restore: open %s: %w", opts.Dir, err)
	}
	if err := db.Load(stream, 16); err != nil {
		db.Close()
		return res, fmt.Errorf("restore: load %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return res, fmt.Errorf("restore: close %s: %w", opts.Dir, err)
	}
	st, err := Open(opts)
	if err != nil {
		return res, fmt.Errorf("restore: open restored store: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("restore: close restored store: %w", cerr)
		}
	}()
	err = st.View(func(tx *ReadTx) error {
		cs, err := tx.Cases(0)
		if err != nil {
			return fmt.Errorf("restore: read cases: %w", err)
		}
		res.Cases = len(cs)
		depths, err := tx.OutboxDepths()
		if err != nil {
			return fmt.Errorf("restore: read outbox: %w", err)
		}
		for _, n := range depths {
			res.Queued += n
		}
		if res.AuditRecords, err = tx.VerifyAudit(); err != nil {
			return fmt.Errorf("restore: audit log of the restored store: %w", err)
		}
		return nil
	})
	return res, err
}

// emptyTarget makes sure dir is a new or empty directory, creating it
// (mode 0700) if needed; created says it did.
func emptyTarget(dir string) (created bool, err error) {
	if dir == "" {
		return false, fmt.Errorf("%w: no directory given", ErrRestoreTarget)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("restore: %w", err)
	case len(ents) > 0:
		return false, fmt.Errorf("%w: %s holds %d entries (%s, ...); restore never overwrites a store",
			ErrRestoreTarget, dir, len(ents), ents[0].Name())
	}
	return false, nil
}

// clearTarget undoes a failed restore: the directory was empty before.
func clearTarget(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
