// Package configs carries the shipped example request documents
// (examples/*.json) inside the binary, so the benchmarks and the testnet
// harness send the same requests the README shows, whatever the working
// directory. It imports nothing of ours.
package configs

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed examples/*.json
var examples embed.FS

// Examples is the directory of example requests, one <kind>.json each.
var Examples fs.FS = mustSub(examples, "examples")

// Example returns the example request of a kind, e.g. "preservation".
func Example(kind string) ([]byte, error) {
	b, err := fs.ReadFile(Examples, kind+".json")
	if err != nil {
		return nil, fmt.Errorf("example request %q: %w", kind, err)
	}
	return b, nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil { // fs.Sub fails only on an invalid path
		panic(err)
	}
	return sub
}
