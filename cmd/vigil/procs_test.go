package main

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/vigil-network/vigil/node/testnet"
)

// nodeProcs runs testnet nodes as processes of this test binary
// (VIGIL_TEST_MAIN), for the tests that SIGKILL and restart them.
type nodeProcs struct {
	t     *testing.T
	ctx   context.Context
	mu    sync.Mutex // procs is also read by the cleanup
	procs map[string]*testnet.Process
}

// startNodes starts each node and waits until it is healthy; whatever
// still runs when the test ends is killed.
func startNodes(ctx context.Context, t *testing.T, nodes ...testnet.NodeEntry) *nodeProcs {
	t.Helper()
	n := &nodeProcs{t: t, ctx: ctx, procs: map[string]*testnet.Process{}}
	t.Cleanup(n.killAll)
	for _, e := range nodes {
		n.start(e, 0)
	}
	return n
}

// start starts e's node; kill numbers the (re)start in failure messages.
// testnet.Start waits at most 30 s for /healthz.
func (n *nodeProcs) start(e testnet.NodeEntry, kill int) {
	n.t.Helper()
	p, err := testnet.Start(n.ctx, os.Args[0], e)
	if err != nil {
		n.t.Fatalf("restart %d of %s: %v\n%s", kill, e.Country, err, logTail(e, 4<<10))
	}
	n.mu.Lock()
	n.procs[e.Country] = p
	n.mu.Unlock()
}

// kill9Restart SIGKILLs e's process and starts the node again.
func (n *nodeProcs) kill9Restart(e testnet.NodeEntry, kill int) {
	n.t.Helper()
	n.mu.Lock()
	victim := n.procs[e.Country]
	n.mu.Unlock()
	victim.Kill()
	n.start(e, kill)
}

func (n *nodeProcs) killAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		p.Kill()
	}
}
