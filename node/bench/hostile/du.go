package hostile

import (
	"io/fs"
	"path/filepath"
)

// DiskUsage is the space the files under dir take on disk. Badger
// preallocates value-log and memtable files as sparse files, so their
// apparent size says little; on Unix this counts allocated blocks
// (du_unix.go), elsewhere apparent sizes.
func DiskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed while walking (compaction)
		}
		total += allocated(info)
		return nil
	})
	return total, err
}
