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

// Environ is the environment of a node process: os.Environ plus the
// ChildEnv entries the harness's own environment does not set.
func Environ() []string {
	env := os.Environ()
	for _, kv := range ChildEnv {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := os.LookupEnv(k); !set {
			env = append(env, kv)
		}
	}
	return env
}

// EffectiveChildEnv is the ChildEnv variables as node processes get them:
// the harness's own value where it sets one (reports record it).
func EffectiveChildEnv() []string {
	out := make([]string, 0, len(ChildEnv))
	for _, kv := range ChildEnv {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := os.LookupEnv(k); ok {
			kv = k + "=" + v
		}
		out = append(out, kv)
	}
	return out
}
