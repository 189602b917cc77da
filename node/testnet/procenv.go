package testnet

import (
	"os"
	"strings"
)

// ChildEnv is added to the environment of every node process Start
// launches, unless the harness's own environment sets the variable: a
// testnet runs up to 193 Go processes on one machine, so each gets a soft
// memory limit, a tighter GC target and one P (the processes give all the
// parallelism the machine has; one P each spares idle Ps spinning and
// per-P caches). BENCHMARKS.md ("193-node testnet") shows the effect.
var ChildEnv = []string{"GOMEMLIMIT=24MiB", "GOGC=50", "GOMAXPROCS=1"}

// childEnv is os.Environ plus the ChildEnv entries not already set.
func childEnv() []string {
	env := os.Environ()
	for _, kv := range ChildEnv {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := os.LookupEnv(k); !set {
			env = append(env, kv)
		}
	}
	return env
}
