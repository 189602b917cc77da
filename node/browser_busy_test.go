package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// buildVigil builds the vigil binary for tests that run a node as a real
// process.
func buildVigil(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", exe, "github.com/vigil-network/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("build vigil: %v\n%s", err, out)
	}
	return exe
}

// TestConsoleHungNode runs a node as an OS process, opens its console,
// freezes the process with SIGSTOP (it keeps its sockets, so connections
// hang rather than fail) and checks the console says so prominently within
// a few seconds, stops its countdowns, and recovers by itself after
// SIGCONT.
func TestConsoleHungNode(t *testing.T) {
	if testing.Short() {
		t.Skip("browser and process test")
	}
	exe := chromium(t)
	vigil := buildVigil(t)
	m, err := testnet.Init(testnet.InitOptions{Dir: t.TempDir(), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := m.Nodes[0]
	ctx := context.Background()
	p, err := testnet.Start(ctx, vigil, e)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if stopped {
			syscall.Kill(p.Pid(), syscall.SIGCONT)
		}
		p.Kill()
	})
	cl := client.New(e.API, client.WithToken(e.Token))
	body, _ := json.Marshal(map[string]string{"name": "nadia", "role": "operator", "password": "nadia-night-shift-pass"})
	if err := cl.Post(ctx, "/api/v1/users", body, nil); err != nil {
		t.Fatalf("add user: %v", err)
	}

	b := startBrowser(t, nil, exe)
	tab := b.tab()
	b.run(tab, "login page", chromedp.Navigate(e.API+"/"), chromedp.WaitVisible(css("#login-username")),
		until(`document.querySelector('#login-h [data-node-country]').textContent === `+jsString(e.Country)))
	b.run(tab, "log in",
		chromedp.SetValue(css("#login-username"), "nadia"),
		chromedp.SetValue(css("#login-password"), "nadia-night-shift-pass"),
		chromedp.Click(css("#login-submit")),
		chromedp.WaitVisible(css("#incoming-cases")),
		until(`document.getElementById('live-status').dataset.state === 'up'`))
	if title := b.eval(tab, `document.title`); !strings.Contains(title, e.Country) {
		t.Errorf("tab title %q does not name the node's country %s", title, e.Country)
	}
	// A countdown on the page, to see it stop while the node is silent.
	b.run(tab, "a countdown", void(chromedp.Evaluate[bool](`(() => {
		const s = document.createElement('span');
		s.id = 'test-countdown'; s.className = 'countdown';
		s.dataset.countdown = new Date(Date.now() + 3600e3).toISOString();
		document.getElementById('dashboard-h').after(s);
		return true;
	})()`)))

	if err := syscall.Kill(p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped = true
	hung := time.Now()
	b.run(tab, "banner while the node is stopped",
		chromedp.WaitVisible(css("#node-down")),
		until(`document.body.classList.contains('node-down')`))
	if d := time.Since(hung); d > 15*time.Second {
		t.Errorf("banner took %v after SIGSTOP", d)
	}
	if st := b.text(tab, "#live-status"); !strings.Contains(st, "NOT ANSWERING") {
		t.Errorf("live status while hung: %q", st)
	}
	if title := b.eval(tab, `document.title`); !strings.Contains(title, "NOT ANSWERING") {
		t.Errorf("tab title while hung: %q", title)
	}
	before := b.text(tab, "#test-countdown")
	time.Sleep(2100 * time.Millisecond) // two ticks of the console's clock
	if after := b.text(tab, "#test-countdown"); after != before {
		t.Errorf("countdown kept ticking while the node was silent: %q then %q", before, after)
	}
	screenshot(t, tab, "node-not-answering")

	if err := syscall.Kill(p.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	b.run(tab, "recovered after SIGCONT",
		until(`document.getElementById('node-down').hidden`),
		until(`!document.body.classList.contains('node-down')`),
		until(`document.getElementById('live-status').dataset.state === 'up'`),
		until(`document.getElementById('dashboard-error').hidden && document.getElementById('log-error').hidden`))
	// The page works: the network page loads from the node.
	b.run(tab, "network page after recovery", chromedp.Click(css("#nav-network")),
		until(`document.getElementById('network-error').hidden && !/Loading/.test(document.getElementById('network-roster').textContent)`))
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eval returns a JavaScript expression's string value in the page.
func (b *consoleBrowser) eval(ctx context.Context, expr string) string {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *consoleBrowser) evalInt(ctx context.Context, expr string) int {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[int](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// seedBusyCases writes n incoming cases into cc's store, acknowledged or
// closed (so no deadline raises alerts), with references REF-0000… and
// kinds, urgencies and countries in turn. The case at index long gets a
// 180-character reference without spaces.
func seedBusyCases(t *testing.T, st *store.Store, n, long int) []*store.Case {
	t.Helper()
	kinds := []struct{ kind, urgency string }{{"preservation", "urgent"}, {"emergency", "emergency"}, {"assistance", "routine"}}
	countries := []string{"FR", "NL", "IT"}
	base := time.Now().Add(-48 * time.Hour).UTC()
	var out []*store.Case
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i) * time.Minute)
		k := kinds[i%len(kinds)]
		c := &store.Case{ID: protocol.NewID(at), Direction: store.Incoming, Kind: k.kind, Urgency: k.urgency,
			Country: countries[i%len(countries)], State: string(protocol.StateAcknowledged), CreatedAt: at, UpdatedAt: at,
			AcknowledgedAt: at.Add(time.Minute), Reference: fmt.Sprintf("REF-%04d", i)}
		if i%4 == 3 {
			c.State, c.ClosedAt = string(protocol.StateClosed), at.Add(time.Hour)
		}
		if i == long {
			c.Reference = "LONG-" + strings.Repeat("X", 175)
		}
		out = append(out, c)
	}
	for i := 0; i < n; i += 100 {
		batch := out[i:min(i+100, n)]
		if err := st.Update(context.Background(), func(tx *store.Tx) error {
			for _, c := range batch {
				if err := tx.PutCase(c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("seed cases: %v", err)
		}
	}
	return out
}

// TestCaseListPaging: GET /api/v1/cases pages a few hundred cases by
// cursor (each case once, in order), filters, searches and refuses
// invalid queries with the field named.
func TestCaseListPaging(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	const n = 300
	seeded := seedBusyCases(t, f.nodes["DE"].Store(), n, -1)

	list := func(q string) types.CaseList {
		t.Helper()
		var out types.CaseList
		if code := f.api("DE", "GET", "/api/v1/cases?"+q, nil, &out); code != http.StatusOK {
			t.Fatalf("GET /api/v1/cases?%s: HTTP %d", q, code)
		}
		return out
	}
	for _, sortBy := range []string{"newest", "oldest", "updated", "urgency"} {
		seen := map[string]bool{}
		var order []types.CaseSummary
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > n/40+1 {
				t.Fatalf("sort %s: more pages than %d cases fill", sortBy, n)
			}
			q := url.Values{"limit": {"40"}, "sort": {sortBy}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			page := list(q.Encode())
			if page.Total != n {
				t.Fatalf("sort %s: total %d, want %d", sortBy, page.Total, n)
			}
			for _, c := range page.Cases {
				if seen[c.ID] {
					t.Fatalf("sort %s: case %s on two pages", sortBy, c.ID)
				}
				seen[c.ID] = true
				order = append(order, c)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
			if len(page.Cases) != 40 {
				t.Fatalf("sort %s: a page before the last has %d cases", sortBy, len(page.Cases))
			}
		}
		if len(seen) != n {
			t.Fatalf("sort %s: paged through %d cases, want %d", sortBy, len(seen), n)
		}
		for i := 1; i < len(order); i++ {
			a, b := order[i-1], order[i]
			var bad bool
			switch sortBy {
			case "newest":
				bad = a.CreatedAt.Before(b.CreatedAt)
			case "oldest":
				bad = a.CreatedAt.After(b.CreatedAt)
			case "updated":
				bad = a.UpdatedAt.Before(b.UpdatedAt)
			case "urgency":
				rank := map[string]int{"emergency": 0, "urgent": 1, "routine": 2}
				ra, rb := rank[a.Urgency], rank[b.Urgency]
				if a.ClosedAt != nil {
					ra += 10
				}
				if b.ClosedAt != nil {
					rb += 10
				}
				bad = ra > rb
			}
			if bad {
				t.Fatalf("sort %s: %s (%s) before %s (%s)", sortBy, a.ID, a.Urgency, b.ID, b.Urgency)
			}
		}
	}

	// A case that arrives while someone pages does not shift the pages.
	first := list("limit=50")
	now := time.Now().UTC()
	arrived := &store.Case{ID: protocol.NewID(now), Direction: store.Incoming, Kind: "preservation", Urgency: "urgent",
		Country: "FR", State: string(protocol.StateAcknowledged), CreatedAt: now, UpdatedAt: now, AcknowledgedAt: now, Reference: "NEW-1"}
	if err := f.nodes["DE"].Store().Update(context.Background(), func(tx *store.Tx) error { return tx.PutCase(arrived) }); err != nil {
		t.Fatal(err)
	}
	second := list("limit=50&cursor=" + first.NextCursor)
	if second.Cases[0].ID != seeded[n-51].ID {
		t.Errorf("after a new case, page 2 starts at %s, want %s", second.Cases[0].ID, seeded[n-51].ID)
	}

	count := func(keep func(*store.Case) bool) int {
		k := 0
		for _, c := range seeded {
			if keep(c) {
				k++
			}
		}
		return k
	}
	for q, want := range map[string]int{
		"urgency=emergency": count(func(c *store.Case) bool { return c.Urgency == "emergency" }),
		"kind=assistance&country=NL": count(func(c *store.Case) bool {
			return c.Kind == "assistance" && c.Country == "NL"
		}),
		"state=closed":           count(func(c *store.Case) bool { return c.State == "closed" }),
		"state=active":           count(func(c *store.Case) bool { return c.ClosedAt.IsZero() }) + 1,
		"direction=outgoing":     0,
		"q=ref-0123":             1,
		"q=" + seeded[7].ID[:20]: 1,
		"from=" + seeded[100].CreatedAt.Format(time.RFC3339) + "&to=" + seeded[110].CreatedAt.Format(time.RFC3339): 10,
	} {
		if got := list(q); got.Total != want || len(got.Cases) != want {
			t.Errorf("%s: total %d, %d rows; want %d", q, got.Total, len(got.Cases), want)
		}
	}
	if got := list("q=REF-0123"); len(got.Cases) != 1 || got.Cases[0].Reference != "REF-0123" {
		t.Errorf("search by reference: %+v", got.Cases)
	}

	for q, field := range map[string]string{
		"state=opne": "state", "kind=x": "kind", "urgency=high": "urgency", "direction=in": "direction",
		"country=fr": "country", "from=yesterday": "from", "sort=size": "sort", "limit=0": "limit",
		"limit=100000": "limit", "cursor=garbage": "cursor", "q=" + strings.Repeat("a", 201): "q",
		"sort=oldest&cursor=" + first.NextCursor: "cursor",
	} {
		var eb types.ErrorBody
		if code := f.api("DE", "GET", "/api/v1/cases?"+q, nil, &eb); code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", q, code)
			continue
		}
		if len(eb.Fields) == 0 || eb.Fields[0].Field != field {
			t.Errorf("%s: fields %+v, want %s named", q, eb.Fields, field)
		}
	}
}
