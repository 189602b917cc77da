package testnet

import (
	"bytes"
	"maps"
	"testing"
)

func TestNodesPerProcess(t *testing.T) {
	for n, want := range map[int]int{2: 1, 24: 1, 25: 4, 193: 25} {
		if got := NodesPerProcess(n); got != want {
			t.Errorf("NodesPerProcess(%d) = %d, want %d", n, got, want)
		}
	}
	if b, ok := parseBytes("24MiB"); !ok || b != 24<<20 {
		t.Errorf("parseBytes(24MiB) = %d, %v", b, ok)
	}
}

// TestBuiltInExamples checks the examples built into the binary are the
// files in configs/examples, kind by kind.
func TestBuiltInExamples(t *testing.T) {
	built, err := LoadExamples("")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := LoadExamples("../../configs/examples")
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 3 || !maps.EqualFunc(built, disk, bytes.Equal) {
		t.Errorf("built-in examples %v differ from configs/examples %v", built.Kinds(), disk.Kinds())
	}
}
