package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/store"
)

// notInBackup is what an operator must keep besides the backup file; both
// commands print it, because a restore without it is a node that cannot
// open its own envelopes or prove its audit checkpoints.
const notInBackup = `Not in the backup: the node's directory, that is vigil.yaml, all of keys/
(identity.key, encryption.key, api.token, any previous_encryption_keys), the
store key file if store.encryption_key_file is set, and roster.json. Back it
up separately, encrypted, and keep it apart from the backup files.`

func newBackupCmd() *cobra.Command {
	var (
		f   clientFlags
		out string
	)
	c := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Take an online, consistent backup of a running node's store",
		Long: `backup asks the running node (GET /api/v1/backup, admins only) for a consistent
snapshot of its whole store while it keeps working, and writes it to FILE
(created with mode 0600, never overwritten). If FILE is a directory, the file
goes in it as vigil-CC-YYYYMMDDTHHMMSSZ.backup. The file is checked (length and
SHA-256) before it gets its name, so FILE is only ever a complete backup.

Without store encryption, the backup holds every record in clear, request
contents, password hashes and second-factor secrets included: protect it like
the node's keys (encrypt it when it leaves the host). With store encryption
(store.encryption_key_file) it is encrypted with that key, and only restores
with it.

` + notInBackup + `

Restore with 'vigil restore'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return takeBackup(cmd, &f, out)
		},
	}
	f.register(c)
	c.Flags().StringVar(&out, "out", "", "file (or existing directory) to write the backup to (required)")
	_ = c.MarkFlagRequired("out")
	return c
}

// takeBackup streams the node's backup into a temporary file next to out,
// checks it and links it into place.
func takeBackup(cmd *cobra.Command, f *clientFlags, out string) error {
	dir, name := out, ""
	if fi, err := os.Stat(out); err != nil || !fi.IsDir() {
		switch {
		case err == nil:
			return fmt.Errorf("backup: %s already exists; backups are never overwritten", out)
		case strings.HasSuffix(out, string(filepath.Separator)):
			return fmt.Errorf("backup: directory %s: %w", out, err)
		}
		dir, name = filepath.Dir(out), filepath.Base(out)
	}
	// A backup takes as long as the store is big: no timeout but Ctrl-C.
	cl, err := f.client(client.WithTimeout(0))
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".vigil-backup-*.partial") // mode 0600
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the link below, only the name goes
	defer tmp.Close()
	body, err := cl.Stream(cmd.Context(), "/api/v1/backup")
	if err != nil {
		return backupRefused(cl.Base(), err)
	}
	n, err := io.Copy(tmp, body)
	body.Close()
	if err != nil {
		return fmt.Errorf("backup: transfer from the node broke off after %d bytes: %w", n, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	h, err := store.CheckBackup(tmp.Name())
	if err != nil {
		// The node failed mid-stream (its log says why): the answer has
		// no footer.
		return fmt.Errorf("the node sent an incomplete backup (see its log), nothing written to %s: %w", out, err)
	}
	if name == "" {
		name = fmt.Sprintf("vigil-%s-%s.backup", h.Country, h.TakenAt.UTC().Format("20060102T150405Z"))
	}
	final := filepath.Join(dir, name)
	// Link, unlike rename, refuses to replace an existing file.
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("backup: %s already exists; backups are never overwritten", final)
		}
		return fmt.Errorf("backup: %w", err)
	}
	syncDir(dir)
	w := cmd.OutOrStdout()
	if f.json {
		return json.NewEncoder(w).Encode(struct {
			File    string    `json:"file"`
			Bytes   int64     `json:"bytes"`
			Country string    `json:"country"`
			PeerID  string    `json:"peer_id"`
			TakenAt time.Time `json:"taken_at"`
		}{final, n, h.Country, h.PeerID, h.TakenAt})
	}
	how := "records in clear: encrypt it when it leaves the host"
	if h.StoreEncrypted {
		how = "encrypted with the store key " + h.KeyID + ", which a restore needs"
	}
	fmt.Fprintf(w, "backup of %s (peer %s) taken %s\n%d bytes written to %s (mode 0600, %s)\n%s\n",
		h.Country, h.PeerID, h.TakenAt.UTC().Format("2006-01-02 15:04:05 UTC"), n, final, how, notInBackup)
	return nil
}

// backupRefused names the fix for the errors an operator meets.
func backupRefused(base string, err error) error {
	var e *client.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusForbidden:
		return fmt.Errorf("backup refused: %s; a backup holds every record and needs an admin's token (or the node token, keys/api.token)", e.Text())
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return fmt.Errorf("backup refused: %s (check --token or the config's api.token_file)", e.Text())
	case errors.As(err, &e):
		return fmt.Errorf("backup refused: HTTP %d: %s", e.Status, e.Text())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the node's API at %s: is the node running? (%w)", base, err)
	}
	return fmt.Errorf("backup: %w", err)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func newRestoreCmd() *cobra.Command {
	var in, dataDir, storeKey, profile string
	c := &cobra.Command{
		Use:   "restore --in FILE --data-dir DIR",
		Short: "Restore a backup into a new, empty data directory (offline)",
		Long: `restore checks FILE (a 'vigil backup' file: its length and SHA-256) and loads
it into DIR, which must not exist or be empty: it never overwrites a store.
The node must not be running on DIR. Afterwards it opens the restored store
and checks the audit log's hash chain; on any failure it removes what it wrote.

To bring the node up on this host: restore the node's directory (vigil.yaml,
keys/, roster.json) from its separate backup, point data_dir in vigil.yaml at
DIR, then 'vigil run' and 'vigil audit verify'. The node resumes delivering
what was queued in its outbox at backup time; receivers recognise messages
they already hold by ID, so nothing arrives twice. Cases created after the
backup are not in it.

Never run the restored node while the original still runs: they are the same
member of the network (one identity key).

` + notInBackup,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p := store.Profile(profile); p != store.ProfileDefault && p != store.ProfileSmall {
				return fmt.Errorf("restore: --profile %q: want default or small", profile)
			}
			opts := store.Options{Dir: dataDir, Profile: store.Profile(profile)}
			if storeKey != "" {
				k, err := store.LoadEncryptionKey(storeKey)
				if err != nil {
					return fmt.Errorf("restore: %w", err)
				}
				opts.EncryptionKey = k
			}
			res, err := store.Restore(in, opts)
			if err != nil {
				return err
			}
			h := res.Header
			fmt.Fprintf(cmd.OutOrStdout(), "restored the backup of %s (peer %s) taken %s into %s\n"+
				"%d cases, %d messages queued for delivery, audit log of %d records (hash chain intact)\n"+
				"next: point data_dir at %s, start the node, run 'vigil audit verify'\n",
				h.Country, h.PeerID, h.TakenAt.UTC().Format("2006-01-02 15:04:05 UTC"), dataDir,
				res.Cases, res.Queued, res.AuditRecords, dataDir)
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "backup file to restore (required)")
	c.Flags().StringVar(&dataDir, "data-dir", "", "new or empty directory for the restored store (required)")
	c.Flags().StringVar(&storeKey, "store-key", "", "the config's store.encryption_key_file, if set: decrypts the backup and encrypts the restored store at rest")
	c.Flags().StringVar(&profile, "profile", string(store.ProfileDefault), "store profile: default or small (the config's store.profile)")
	_ = c.MarkFlagRequired("in")
	_ = c.MarkFlagRequired("data-dir")
	return c
}
