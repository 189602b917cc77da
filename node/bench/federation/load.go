package federation

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/testnet"
)

// loadCase is one request sent during the load phase.
type loadCase struct {
	from, to, kind, id string
	submitted, posted  time.Time
	delivered          time.Time
	precise            bool
}

// eventLog records when each case's SSE events reached the harness.
type eventLog struct {
	mu     sync.Mutex
	events map[string][]time.Time
}

func (l *eventLog) add(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events[id] = append(l.events[id], at)
}

// deliveredAt is the time of a case's second event: the first is the
// submission, the second the verified receipt being stored.
func (l *eventLog) deliveredAt(id string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events[id]
	if len(ev) < 2 {
		return time.Time{}, false
	}
	return ev[1], true
}

// followEvents reads a node's SSE stream until ctx ends. It closes ready
// once the stream is open (or could not be: the load then times those
// cases by polling).
func followEvents(ctx context.Context, c *testnet.Cluster, cc string, log *eventLog, ready chan<- struct{}) {
	e, err := c.Entry(cc)
	if err != nil {
		close(ready)
		return
	}
	// A stream lasts as long as ctx: no timeout, its own connection.
	stream, err := client.New(e.API, client.WithToken(e.Token), client.WithTimeout(0)).Stream(ctx, "/api/v1/events")
	close(ready)
	if err != nil {
		return
	}
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "case":
			var v struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v) == nil {
				log.add(v.ID, time.Now())
			}
		case line == "":
			event = ""
		}
	}
}

// measureLoad runs the background load and times each request from the
// submission until the sender holds the verified receipt.
func measureLoad(ctx context.Context, c *testnet.Cluster, o Options, rep *Report) error {
	ex, err := testnet.LoadExamples(o.Examples)
	if err != nil {
		return err
	}
	all := c.Countries()
	senders := min(o.Senders, len(all))
	var from []string
	for i := 0; i < senders; i++ {
		from = append(from, all[i*len(all)/senders])
	}
	evctx, stopEvents := context.WithCancel(ctx)
	var followers sync.WaitGroup
	defer func() {
		stopEvents()
		followers.Wait()
	}()
	log := &eventLog{events: map[string][]time.Time{}}
	for _, cc := range from {
		ready := make(chan struct{})
		followers.Add(1)
		go func() {
			defer followers.Done()
			followEvents(evctx, c, cc, log, ready)
		}()
		<-ready
	}
	l := &rep.Load
	l.Senders, l.RatePerS, l.DurationS = senders, o.Rate, o.LoadFor.Seconds()
	var pids []int
	for p := range c.Processes() {
		pids = append(pids, p.Pid())
	}
	cpu0 := map[int]int64{}
	for _, p := range pids {
		cpu0[p], _ = cpuTicks(p)
	}
	tl := time.Now()
	cases := sendLoad(ctx, c, o, ex, from, l)
	awaitDeliveries(ctx, c, cases, log, 2*time.Minute)
	var cpu int64
	for _, p := range pids {
		if t, ok := cpuTicks(p); ok {
			cpu += t - cpu0[p]
		}
	}
	l.CPU = float64(cpu) / 100 / time.Since(tl).Seconds()
	stopEvents()
	summarizeLoad(ctx, c, cases, l)
	if l.Delivered < l.Submitted {
		return fmt.Errorf("%d of %d requests delivered within 2 minutes of the load's end", l.Delivered, l.Submitted)
	}
	return nil
}

// sendLoad has each sender submit o.Rate requests per second for
// o.LoadFor to random other members, the senders' ticks spread over one
// interval. It counts failed submissions in l and returns the cases.
func sendLoad(ctx context.Context, c *testnet.Cluster, o Options, ex testnet.Examples, from []string, l *Load) []*loadCase {
	all, kinds := c.Countries(), ex.Kinds()
	var (
		mu    sync.Mutex
		cases []*loadCase
		wg    sync.WaitGroup
	)
	end := time.Now().Add(o.LoadFor)
	for si, cc := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			iv := time.Duration(float64(time.Second) / o.Rate)
			sleepCtx(ctx, time.Duration(si)*iv/time.Duration(len(from)))
			t := time.NewTicker(iv)
			defer t.Stop()
			for k := 0; time.Now().Before(end) && ctx.Err() == nil; k++ {
				to := all[rand.N(len(all))]
				for to == cc {
					to = all[rand.N(len(all))]
				}
				kind := kinds[(si+k)%len(kinds)]
				doc, err := ex.Request(kind, to)
				if err != nil {
					return
				}
				lc := &loadCase{from: cc, to: to, kind: kind, submitted: time.Now()}
				id, err := c.Submit(ctx, cc, doc)
				lc.posted = time.Now()
				mu.Lock()
				if err != nil {
					l.SubmitErrors++
				} else {
					lc.id = id
					cases = append(cases, lc)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	return cases
}

// awaitDeliveries waits up to timeout for every case to be delivered,
// confirming with the senders' case lists; each case is timed by its
// SSE event where there is one, else by the poll that saw it delivered.
func awaitDeliveries(ctx context.Context, c *testnet.Cluster, cases []*loadCase, log *eventLog, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		pending := map[string][]*loadCase{}
		for _, lc := range cases {
			if lc.delivered.IsZero() {
				pending[lc.from] = append(pending[lc.from], lc)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			return
		}
		for cc, lcs := range pending {
			rows, err := c.Cases(ctx, cc, "outgoing")
			if err != nil {
				continue
			}
			now := time.Now()
			state := map[string]string{}
			for _, r := range rows {
				state[r.ID] = r.Delivery
			}
			for _, lc := range lcs {
				if state[lc.id] != "delivered" {
					continue
				}
				if at, ok := log.deliveredAt(lc.id); ok {
					lc.delivered, lc.precise = at, true
				} else {
					lc.delivered = now
				}
			}
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
}

// summarizeLoad fills in the load's counts and latencies: as the harness
// saw them, and by the nodes' own clocks from the verified receipts.
func summarizeLoad(ctx context.Context, c *testnet.Cluster, cases []*loadCase, l *Load) {
	var sub, del, recv []float64
	for _, lc := range cases {
		l.Submitted++
		sub = append(sub, bench.Duration(lc.posted.Sub(lc.submitted)).Ms())
		if lc.delivered.IsZero() {
			continue
		}
		l.Delivered++
		if !lc.precise {
			l.Imprecise++
		}
		del = append(del, bench.Duration(lc.delivered.Sub(lc.submitted)).Ms())
	}
	// The nodes' own clocks: created (durable outbox) → receipt signed at
	// the receiver (durable inbox), from the verified receipt.
	for _, lc := range cases {
		if lc.delivered.IsZero() {
			continue
		}
		d, err := c.Case(ctx, lc.from, lc.id)
		if err != nil || len(d.Messages) == 0 || d.Messages[0].Receipt == nil {
			continue
		}
		if d.Messages[0].Receipt.Verified {
			l.Verified++
		}
		recv = append(recv, bench.Duration(d.Messages[0].Receipt.ReceivedAt.Sub(d.CreatedAt)).Ms())
	}
	l.SubmitMs, l.DeliveredMs, l.ReceiverMs = bench.Summarize(sub), bench.Summarize(del), bench.Summarize(recv)
}
