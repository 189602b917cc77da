package store

import (
	"fmt"
)

// EachCase calls fn for every case, newest first, decoding one at a time
// so a scan of many cases never holds them all in memory.
func (r *ReadTx) EachCase(fn func(*Case) error) error {
	return r.scan("case/", true, func(_ string, v []byte) (bool, error) {
		var c Case
		if err := decodeRecord(v, &c); err != nil {
			return false, fmt.Errorf("decode case: %w", err)
		}
		return true, fn(&c)
	})
}
