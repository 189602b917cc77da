//go:build !(linux || darwin || freebsd)

package store

// freeSpace is not implemented here: the free-space check is off.
func freeSpace(string) func() (uint64, error) { return nil }
