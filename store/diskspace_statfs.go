//go:build linux || darwin || freebsd

package store

import "syscall"

// freeSpace returns a function reporting the bytes available to
// unprivileged users on dir's filesystem.
func freeSpace(dir string) func() (uint64, error) {
	return func() (uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, err
		}
		return uint64(st.Bavail) * uint64(st.Bsize), nil
	}
}
