package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/testnet"
)

// TestCrashUnderLoadLosesNothing is issue 13 under crashes: concurrent
// operators submit at FR, each request with its own Idempotency-Key, and
// retry the same key with the same body until they get a 201, while both
// FR (the sender) and DE (the receiver) are SIGKILLed at random and
// restarted. Some submissions are also repeated on purpose after their
// 201. At the end, every key must have exactly one case at FR (every 201
// for a key names the same case), FR's outgoing cases must be exactly the
// keys' cases (a crash never leaves a case without its key's record, nor
// a record without its case), and each must be delivered to DE exactly
// once, holding its one request. The assertions are about what is stored,
// never about timing.
func TestCrashUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	began := time.Now()
	t.Setenv("VIGIL_TEST_MAIN", "1")
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2, StoreProfile: "small", LoadLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	fr, de := m.Nodes[0], m.Nodes[1]
	raw, err := os.ReadFile("../../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	var template map[string]any
	if err := json.Unmarshal(raw, &template); err != nil {
		t.Fatal(err)
	}
	template["to"] = de.Country
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	nodes := startNodes(ctx, t, fr, de)

	// The submitters. Each key's 201 answers (case IDs) are recorded;
	// a key is done once it has one, and a submitter starts no new key
	// after stop. A key that cannot get a 201 within keyTimeout while FR
	// keeps restarting is a failure.
	const (
		submitters = 12
		keyTimeout = 60 * time.Second
	)
	type outcome struct {
		cases    []string // case ID of every 201, in order
		replayed int      // 201s marked Idempotent-Replayed
		// recovered: the first series of attempts ended in a replay, so
		// an earlier attempt was stored but its answer was lost.
		recovered bool
		retried   bool // the first series needed more than one attempt
		attempts  int
		err       string // why the key never got a 201, if it did not
	}
	var (
		rmu     sync.Mutex
		results = map[string]*outcome{}
	)
	frAPI := client.New(fr.API, client.WithToken(fr.Token), client.WithTimeout(10*time.Second))
	// until201 submits body under key until FR answers 201.
	until201 := func(key string, body []byte) {
		o := &outcome{}
		rmu.Lock()
		if prev := results[key]; prev != nil {
			o = prev
		} else {
			results[key] = o
		}
		first := len(o.cases) == 0
		rmu.Unlock()
		deadline := time.Now().Add(keyTimeout)
		for n := 1; ; n++ {
			sub, err := frAPI.SubmitRequest(ctx, body, key)
			rmu.Lock()
			o.attempts++
			switch code := client.StatusOf(err); {
			case err == nil && sub.CaseID != "":
				o.cases = append(o.cases, sub.CaseID)
				if sub.Replayed {
					o.replayed++
				}
				if first {
					o.retried = n > 1
					o.recovered = sub.Replayed
				}
				rmu.Unlock()
				return
			case err == nil:
				o.err = "201 without a case ID"
			case code/100 == 4:
				// A retry of the same body and key is never refused.
				o.err = err.Error()
			default: // no answer (FR down) or 503: try again
				o.err = ""
				if time.Now().After(deadline) {
					o.err = fmt.Sprintf("no 201 within %s: %v", keyTimeout, err)
				}
			}
			failed := o.err != ""
			rmu.Unlock()
			if failed || ctx.Err() != nil {
				return
			}
			time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(200+rand.IntN(500)) * time.Millisecond):
				}
				// UUIDv7 keys, as the CLI makes them: FR sends each
				// request while its own commit syncs (issue 13).
				key := client.NewIdempotencyKey()
				doc := map[string]any{}
				for k, v := range template {
					doc[k] = v
				}
				doc["reference"] = "OFAC-" + key
				body, _ := json.Marshal(doc)
				until201(key, body)
				if rand.IntN(4) == 0 {
					// An operator who never saw the answer sends it again.
					until201(key, body)
				}
			}
		}()
	}

	// The crashes: FR or DE at random, after random short lives.
	const kills = 20
	killed := map[string]int{}
	for i := 1; i <= kills; i++ {
		time.Sleep(time.Duration(200+rand.IntN(1000)) * time.Millisecond)
		e := fr
		if rand.IntN(2) == 0 {
			e = de
		}
		nodes.kill9Restart(e, i)
		killed[e.Country]++
	}
	close(stop)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(keyTimeout + 30*time.Second):
		t.Fatal("submitters did not finish")
	}
	loadDone := time.Since(began)

	// Every key got a 201, and every 201 for a key names one case.
	rmu.Lock()
	keyCase := map[string]string{}
	attempts, answers, replays, retried, recovered := 0, 0, 0, 0, 0
	for key, o := range results {
		attempts += o.attempts
		answers += len(o.cases)
		replays += o.replayed
		if o.retried {
			retried++
		}
		if o.recovered {
			recovered++
		}
		if o.err != "" || len(o.cases) == 0 {
			t.Errorf("key %s: no 201 after %d attempts: %s", key, o.attempts, o.err)
			continue
		}
		for _, id := range o.cases[1:] {
			if id != o.cases[0] {
				t.Errorf("key %s: 201s name cases %v, want one", key, o.cases)
				break
			}
		}
		keyCase[key] = o.cases[0]
	}
	rmu.Unlock()
	byCase := map[string]string{}
	for key, id := range keyCase {
		if other, ok := byCase[id]; ok {
			t.Errorf("keys %s and %s both answered with case %s", key, other, id)
		}
		byCase[id] = key
	}
	t.Logf("%d kills (FR %d, DE %d) in %s; %d keys, %d submit attempts, %d 201s, %d of them replays (Idempotent-Replayed); "+
		"%d keys needed retries, %d of them were stored by an attempt whose answer was lost",
		kills, killed[fr.Country], killed[de.Country], loadDone.Round(time.Second), len(results), attempts, answers, replays,
		retried, recovered)
	if len(keyCase) < kills {
		t.Fatalf("only %d keys accepted: not enough load to mean anything", len(keyCase))
	}
	if replays == 0 {
		t.Errorf("no replay was answered: the deliberate repeats should have been")
	}
	if t.Failed() {
		t.FailNow()
	}

	// FR's outgoing cases are exactly the keys' cases, and all delivered
	// (the receipt is durable at FR).
	var frOut map[string]int
	deadline := time.Now().Add(90 * time.Second)
	for {
		frOut = map[string]int{}
		delivered := 0
		for _, c := range listCases(t, fr) {
			if c.Direction == "outgoing" {
				frOut[c.ID]++
				if c.Delivery == "delivered" {
					delivered++
				}
			}
		}
		if delivered == len(frOut) && len(frOut) >= len(byCase) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outgoing cases at FR delivered 90 s after the last kill", delivered, len(frOut))
		}
		time.Sleep(250 * time.Millisecond)
	}
	for id, n := range frOut {
		switch {
		case byCase[id] == "":
			t.Errorf("FR holds outgoing case %s that no key was answered with (an orphan)", id)
		case n != 1:
			t.Errorf("case %s is listed %d times at FR", id, n)
		}
	}
	for id, key := range byCase {
		if frOut[id] == 0 {
			t.Errorf("key %s was answered with case %s, which FR does not hold", key, id)
		}
	}

	// DE holds each exactly once, with its one request, and nothing else.
	deIn := incomingCases(t, de)
	for id := range byCase {
		if deIn[id] != 1 {
			t.Errorf("case %s is at DE %d times, want exactly 1", id, deIn[id])
		}
	}
	extra := []string{}
	for id := range deIn {
		if byCase[id] == "" {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		t.Errorf("DE holds %d incoming cases FR's keys do not account for: %v", len(extra), extra)
	}
	for id := range deIn {
		if n := requestMessages(t, de, id); n != 1 {
			t.Errorf("case %s at DE holds %d request messages, want 1", id, n)
		}
	}
	t.Logf("%d cases at FR, one per key, all delivered exactly once to DE; %s in all", len(frOut), time.Since(began).Round(time.Second))
}
