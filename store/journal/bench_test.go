package journal

import "testing"

// BenchmarkAppend4K is one 4 KiB record per op, each made durable: the
// journal's cost over the disk's floor (store's BenchmarkFdatasyncPrealloc4K).
func BenchmarkAppend4K(b *testing.B) {
	for _, pre := range []bool{true, false} {
		name := "grow"
		if pre {
			name = "prealloc"
		}
		b.Run(name, func(b *testing.B) {
			j, err := Open(Options{Dir: b.TempDir(), SegmentSize: 32 << 20, Preallocate: pre}, func([]byte) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			rec := make([]byte, 4096-recordHead)
			b.SetBytes(int64(len(rec)))
			for b.Loop() {
				if err := j.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
