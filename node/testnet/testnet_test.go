package testnet

import "testing"

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
