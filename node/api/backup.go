package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/store"
)

// Backupper is a store that backs itself up online (*store.Store).
type Backupper interface {
	Backup(ctx context.Context, w io.Writer, h store.BackupHeader) (store.BackupInfo, error)
}

// handleBackup streams an online, consistent backup of the whole store
// (store.Backup: Badger's backup stream, framed and checksummed). It is
// mounted for PermManageUsers, which only admins hold: the backup holds
// every record, request contents, users' password hashes and second-factor
// secrets included (in clear unless the store is encrypted at rest; then
// the backup is encrypted with the store key). The node's keys are files
// and are not in it.
//
// The backup is recorded in the audit log and a checkpoint signed before
// the snapshot is read, so a restored node's log ends with the record of
// the backup it came from.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	b, ok := s.d.Store.(Backupper)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node's store cannot be backed up online", nil)
		return
	}
	at := s.d.Now().UTC()
	if err := s.audit(r.Context(), store.AuditRecord{At: at, Actor: ActorOf(r).String(), Action: "store.backup"}); err != nil {
		unaudited(w, "record the backup in the audit log", err)
		return
	}
	if err := s.d.Auditor.Checkpoint(r.Context()); err != nil {
		WriteError(w, http.StatusInternalServerError, "checkpoint audit log: "+err.Error(), nil)
		return
	}
	// A backup takes as long as the store is big: the server's write
	// deadline, if it has one, must not cut it off.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("backup: clear write deadline", zap.Error(err))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="vigil-%s-%s.backup"`, s.d.Country, at.Format("20060102T150405Z")))
	h := store.BackupHeader{TakenAt: at, Country: s.d.Country}
	if s.d.Network != nil {
		h.PeerID = s.d.Network.Self().String()
	}
	info, err := b.Backup(r.Context(), w, h)
	if err != nil {
		// The status is sent; the file lacks its footer, which vigil
		// backup and vigil restore refuse.
		s.log.Error("backup failed", zap.String("actor", ActorOf(r).String()), zap.Error(err))
		return
	}
	s.log.Info("backup taken", zap.String("actor", ActorOf(r).String()), zap.Int64("bytes", info.Bytes))
}
