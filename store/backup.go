package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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

// ErrBackupKey is returned when an encrypted backup is restored without
// its store key.
var ErrBackupKey = errors.New("backup is encrypted with the node's store key")

// ErrRestoreTarget is returned when the restore target is not an empty
// directory.
var ErrRestoreTarget = errors.New("restore target must be an empty or new directory")

// BackupHeader describes a backup. The caller says whose it is and when;
// the store sets the rest.
type BackupHeader struct {
	Format  string    `json:"format"`
	TakenAt time.Time `json:"taken_at"`
	Country string    `json:"country,omitempty"`
	PeerID  string    `json:"peer_id,omitempty"`
	// StoreEncrypted says the store was encrypted at rest; its backup
	// is then encrypted with the same key (backupSealer), and KeyID and
	// Salt say with which.
	StoreEncrypted bool   `json:"store_encrypted"`
	KeyID          string `json:"key_id,omitempty"`
	Salt           []byte `json:"salt,omitempty"`
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
	storeKey := s.db.Opts().EncryptionKey
	var sealer *backupSealer
	h.StoreEncrypted, h.KeyID, h.Salt = false, "", nil
	if len(storeKey) > 0 {
		h.StoreEncrypted, h.KeyID, h.Salt = true, backupKeyID(storeKey), make([]byte, 32)
		if _, err := rand.Read(h.Salt); err != nil {
			return BackupInfo{}, fmt.Errorf("backup salt: %w", err)
		}
		var err error
		if sealer, err = newBackupSealer(storeKey, h.Salt); err != nil {
			return BackupInfo{}, err
		}
	}
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
	var out io.Writer = cw
	if sealer != nil {
		sealer.w = cw
		out = sealer
	}
	version, err := st.Backup(out, 0)
	if err == nil && sealer != nil {
		err = sealer.close()
	}
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
	var data io.Reader = stream
	if h.StoreEncrypted {
		if data, err = openBackup(h, stream, opts.EncryptionKey); err != nil {
			db.Close()
			return res, fmt.Errorf("restore %s: %w", path, err)
		}
	}
	if err := db.Load(data, 16); err != nil {
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

// An encrypted store's backup is encrypted too, with a key derived from the
// store key and a random per-backup salt (HKDF-SHA256), so that no two
// backups share an AES-GCM key and a counter nonce never repeats. The
// Badger stream is cut into chunks of up to backupChunk bytes, each
// stored as its sealed length (uint32, big-endian) and AES-256-GCM
// ciphertext; the additional data is the chunk's number and whether it is
// the last, so chunks cannot be reordered, and a backup cut at a chunk
// boundary lacks its last chunk. The footer's SHA-256 is over the
// ciphertext: a backup can be checked without the key.
const backupChunk = 64 << 10

// backupKeyID names a store key without revealing it.
func backupKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("vigil backup key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

func backupAEAD(key, salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, salt, "vigil backup v1", 32)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	return cipher.NewGCM(block)
}

// backupAD is a chunk's additional data: its number and the last flag.
func backupAD(n uint64, last bool) []byte {
	ad := make([]byte, 9)
	binary.BigEndian.PutUint64(ad, n)
	if last {
		ad[8] = 1
	}
	return ad
}

func backupNonce(aead cipher.AEAD, n uint64) []byte {
	nonce := make([]byte, aead.NonceSize())
	binary.BigEndian.PutUint64(nonce[len(nonce)-8:], n)
	return nonce
}

// backupSealer encrypts the stream written to it in chunks; close seals
// the last one.
type backupSealer struct {
	aead cipher.AEAD
	w    io.Writer
	buf  []byte
	n    uint64
}

func newBackupSealer(key, salt []byte) (*backupSealer, error) {
	aead, err := backupAEAD(key, salt)
	if err != nil {
		return nil, err
	}
	return &backupSealer{aead: aead, buf: make([]byte, 0, backupChunk)}, nil
}

func (b *backupSealer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if len(b.buf) == backupChunk {
			// Sealed only once more follows, so the last chunk is the
			// one close seals.
			if err := b.seal(false); err != nil {
				return written, err
			}
		}
		k := min(len(p), backupChunk-len(b.buf))
		b.buf = append(b.buf, p[:k]...)
		p, written = p[k:], written+k
	}
	return written, nil
}

func (b *backupSealer) close() error { return b.seal(true) }

func (b *backupSealer) seal(last bool) error {
	ct := b.aead.Seal(nil, backupNonce(b.aead, b.n), b.buf, backupAD(b.n, last))
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(ct)))
	if _, err := b.w.Write(l[:]); err != nil {
		return err
	}
	if _, err := b.w.Write(ct); err != nil {
		return err
	}
	b.buf, b.n = b.buf[:0], b.n+1
	return nil
}

// openBackup returns the decrypted stream of an encrypted backup.
func openBackup(h BackupHeader, r io.Reader, key []byte) (io.Reader, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w (key id %s): give it with --store-key", ErrBackupKey, h.KeyID)
	}
	if id := backupKeyID(key); id != h.KeyID {
		return nil, fmt.Errorf("%w with id %s; the key given has id %s", ErrBackupKey, h.KeyID, id)
	}
	aead, err := backupAEAD(key, h.Salt)
	if err != nil {
		return nil, err
	}
	return &backupOpener{aead: aead, r: r}, nil
}

type backupOpener struct {
	aead cipher.AEAD
	r    io.Reader
	buf  []byte // decrypted, not yet read
	n    uint64
	last bool
}

func (o *backupOpener) Read(p []byte) (int, error) {
	for len(o.buf) == 0 {
		if o.last {
			if _, err := o.r.Read(make([]byte, 1)); err != io.EOF {
				return 0, fmt.Errorf("%w: data after the last chunk", ErrBackupCorrupt)
			}
			return 0, io.EOF
		}
		var l [4]byte
		if _, err := io.ReadFull(o.r, l[:]); err != nil {
			return 0, fmt.Errorf("%w: chunk %d: %v", ErrBackupCorrupt, o.n, err)
		}
		size := binary.BigEndian.Uint32(l[:])
		if size > backupChunk+uint32(o.aead.Overhead()) {
			return 0, fmt.Errorf("%w: chunk %d of %d bytes", ErrBackupCorrupt, o.n, size)
		}
		ct := make([]byte, size)
		if _, err := io.ReadFull(o.r, ct); err != nil {
			return 0, fmt.Errorf("%w: chunk %d: %v", ErrBackupCorrupt, o.n, err)
		}
		pt, err := o.aead.Open(nil, backupNonce(o.aead, o.n), ct, backupAD(o.n, false))
		if err != nil {
			if pt, err = o.aead.Open(nil, backupNonce(o.aead, o.n), ct, backupAD(o.n, true)); err != nil {
				return 0, fmt.Errorf("%w: chunk %d does not decrypt", ErrBackupCorrupt, o.n)
			}
			o.last = true
		}
		o.buf, o.n = pt, o.n+1
	}
	k := copy(p, o.buf)
	o.buf = o.buf[k:]
	return k, nil
}
