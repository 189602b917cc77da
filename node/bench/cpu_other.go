//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package bench

import "time"

// ProcessCPU is not implemented on this platform.
func ProcessCPU() (time.Duration, bool) { return 0, false }
