package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-network/vigil/node/testnet"
)

// Issue 12: the node sets umask 077 itself, so its store is for its own
// user only even when started by hand under a umask of 022.
func TestNodeFilesPrivateUnderUmask022(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	dir := t.TempDir()
	m, err := testnet.Init(testnet.InitOptions{Dir: dir, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o022) // the child inherits it
	defer syscall.Umask(old)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := m.Nodes[0]
	p, err := testnet.Start(ctx, os.Args[0], e) // returns once /healthz answers
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	data := filepath.Join(e.Dir, "data")
	seen := 0
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		seen++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, readable by others", strings.TrimPrefix(path, dir), fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 3 {
		t.Fatalf("only %d entries under %s: is the store there?", seen, data)
	}
}
