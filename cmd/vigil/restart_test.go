package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
)

// TestKill9LoopUnderTraffic is issue 9, item 12: a testnet node killed with
// -9 many times must start again every time. Two nodes as real processes on
// the small store profile; FR submits requests to DE without pause while DE
// is SIGKILLed 50 times (and FR 5 times) after random short lives, shorter
// than the lazy compactor's interval, which is what filled level 0 and hung
// Badger's Open. Every restart must come up healthy (its store opened);
// at the end every accepted request (HTTP 201) must be at FR exactly once
// and delivered to DE exactly once.
func TestKill9LoopUnderTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2, StoreProfile: "small"})
	if err != nil {
		t.Fatal(err)
	}
	fr, de := m.Nodes[0], m.Nodes[1]
	req, err := os.ReadFile("../../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	nodes := startNodes(ctx, t, fr, de)

	// The sender: submits without pause; a 201 means the request is
	// durable at FR and must reach DE. Failures while FR is down are
	// expected and not counted.
	frAPI := client.New(fr.API, client.WithToken(fr.Token), client.WithTimeout(10*time.Second))
	var (
		amu       sync.Mutex
		accepted  = map[string]int{}
		refused   int
		malformed int // 201 without a case ID
	)
	stop := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond): // ~5/s: traffic in every short life, within any sane per-peer limit
			}
			id, code := submitOnce(frAPI, req)
			amu.Lock()
			switch code {
			case http.StatusCreated:
				accepted[id]++
			case -1:
				malformed++
			default:
				refused++
			}
			amu.Unlock()
		}
	}()

	const kills = 50
	began := time.Now()
	for i := 1; i <= kills; i++ {
		// Lives of 50–800 ms: below compactEvery (2 s), so many lives end
		// before the lazy compactor's first tick would have run.
		time.Sleep(time.Duration(50+rand.IntN(750)) * time.Millisecond)
		nodes.kill9Restart(de, i)
		if i%10 == 5 { // the sender crashes too, with a queued outbox
			nodes.kill9Restart(fr, i)
		}
	}
	close(stop)
	select {
	case <-senderDone:
	case <-time.After(30 * time.Second):
		t.Fatal("sender goroutine did not stop")
	}
	amu.Lock()
	t.Logf("%d kills of DE and %d of FR in %s; %d requests accepted, %d refused while FR was down",
		kills, kills/10, time.Since(began).Round(time.Second), len(accepted), refused)
	if malformed > 0 {
		t.Errorf("%d submissions answered 201 without a case ID", malformed)
	}
	if len(accepted) < kills {
		t.Fatalf("only %d requests accepted during the loop: not enough traffic to mean anything", len(accepted))
	}
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("FR returned case ID %s for %d submissions", id, n)
		}
	}
	amu.Unlock()

	// Everything FR holds (accepted, and any request committed just before
	// a kill cut its 201 off) must reach DE.
	var frCases []types.CaseSummary
	deadline := time.Now().Add(90 * time.Second)
	for {
		frCases = listCases(t, fr)
		delivered := 0
		for _, c := range frCases {
			if c.Direction == "outgoing" && c.Delivery == "delivered" {
				delivered++
			}
		}
		if len(frCases) >= len(accepted) && delivered == len(frCases) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outgoing cases delivered 90 s after the last kill", delivered, len(frCases))
		}
		time.Sleep(200 * time.Millisecond)
	}
	atFR := map[string]int{}
	for _, c := range frCases {
		atFR[c.ID]++
	}
	for id := range accepted {
		if atFR[id] != 1 {
			t.Errorf("accepted case %s is at FR %d times, want 1", id, atFR[id])
		}
	}
	atDE := incomingCases(t, de)
	for id, n := range atFR {
		if n != 1 {
			t.Errorf("case %s is listed %d times at FR", id, n)
		}
		if atDE[id] != 1 {
			t.Errorf("case %s is at DE %d times, want exactly 1", id, atDE[id])
		}
	}
	if len(atDE) != len(atFR) {
		t.Errorf("DE holds %d incoming cases, FR %d outgoing", len(atDE), len(atFR))
	}
	// No envelope was stored twice inside a case either: each case at DE
	// holds its one request.
	for id := range atDE {
		if n := requestMessages(t, de, id); n != 1 {
			t.Errorf("case %s at DE holds %d request messages, want 1", id, n)
		}
	}
	t.Logf("%d cases at FR, all delivered exactly once to DE", len(atFR))
}

// submitOnce posts one request; it returns the case ID and the HTTP status
// (0 when the node did not answer, -1 for a 201 without a case ID).
func submitOnce(c *client.Client, body []byte) (string, int) {
	var sub types.Submission
	code, err := c.Do(context.Background(), http.MethodPost, "/api/v1/requests", body, &sub)
	if code == http.StatusCreated && (err != nil || sub.CaseID == "") {
		return "", -1
	}
	return sub.CaseID, code
}

// logTail returns the end of a node's log, for failure messages.
func logTail(e testnet.NodeEntry, n int) string {
	b, err := os.ReadFile(filepath.Join(e.Dir, "node.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return "node.log tail:\n" + string(b)
}
