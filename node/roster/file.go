package roster

import (
	"fmt"
	"os"
	"path/filepath"
)

// stagedFile is a roster document written and synced beside the roster
// file, not yet in its place. Installing a roster takes two steps so its
// audit record can be written between them: a full disk fails the first
// step, before anything is recorded, and a record that cannot be written
// leaves the file untouched (State.apply).
type stagedFile struct {
	tmp, path string
}

// stageFile writes doc to a temporary file in path's directory and syncs it.
func stageFile(path string, doc []byte) (*stagedFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new*")
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", path, err)
	}
	st := &stagedFile{tmp: f.Name(), path: path}
	_, err = f.Write(doc)
	if err == nil {
		err = f.Chmod(0o644) // the roster is public; operators read it
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		st.discard()
		return nil, fmt.Errorf("stage %s: %w", path, err)
	}
	return st, nil
}

// discard removes the staged file.
func (st *stagedFile) discard() { _ = os.Remove(st.tmp) }

// commit moves the staged file into place and syncs the directory, so the
// new roster survives a crash.
func (st *stagedFile) commit() error {
	if err := os.Rename(st.tmp, st.path); err != nil {
		st.discard()
		return fmt.Errorf("install %s: %w", st.path, err)
	}
	d, err := os.Open(filepath.Dir(st.path))
	if err != nil {
		return nil // the rename is done; only its durability is less certain
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
