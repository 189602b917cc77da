//go:build !unix

package hostile

import "io/fs"

func allocated(info fs.FileInfo) int64 { return info.Size() }
