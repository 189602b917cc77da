package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
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

// viewShot saves what the viewport shows (a full-page shot of a long
// page at 390 px is too tall to look at).
func viewShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
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

// TestConsoleBusyNight drives DE's console over a few hundred cases: the
// case log pages, filters and searches on the node; a burst of incoming
// requests gives one notification and one beep with the count, and no row
// leaves the screen meanwhile; at FR a UTC time is pasted as text into an
// identifier's time; at 390 px the dashboard and the compose form have no
// horizontal scroll.
func TestConsoleBusyNight(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2)
	f.addUser("DE", "anna", "operator", "anna-night-shift-pass")
	f.addUser("FR", "claire", "operator", "claire-night-shift-pass")
	const n = 300
	seedBusyCases(t, f.nodes["DE"].Store(), n, n-4)

	b := startBrowser(t, f, exe)
	de, fr := b.tab(), b.tab()
	b.login(de, "DE", "anna", "anna-night-shift-pass")
	if title := b.eval(de, `document.title`); !strings.Contains(title, "DE") {
		t.Errorf("tab title %q does not name the node", title)
	}

	// Paging, filters and search: the node answers each page.
	b.run(de, "case log, first page",
		until(`document.getElementById('log-summary').textContent.includes('300 matches')`),
		until(`document.querySelectorAll('#log-cases tbody tr').length === 50`))
	firstRow := b.eval(de, `document.querySelector('#log-cases tbody tr').dataset.caseId`)
	b.run(de, "next page", chromedp.Click(css("#log-next")),
		until(`document.getElementById('log-page').textContent.startsWith('51–100 of 300')`))
	if again := b.eval(de, `document.querySelector('#log-cases tbody tr').dataset.caseId`); again == firstRow {
		t.Errorf("page 2 starts with page 1's first case %s", firstRow)
	}
	b.run(de, "previous page", chromedp.Click(css("#log-prev")),
		until(`document.getElementById('log-page').textContent.startsWith('1–50 of 300')`))
	b.run(de, "filter by urgency", setField("#log-urgency", "emergency"),
		until(`document.getElementById('log-summary').textContent.includes('100 matches')`),
		until(`[...document.querySelectorAll('#log-cases tbody td.urgency')].every(td => td.textContent === 'emergency')`))
	b.run(de, "search a reference", setField("#log-q", "REF-0124"), chromedp.Click(css("#log-apply")),
		until(`document.querySelectorAll('#log-cases tbody tr').length === 1`))
	if ref := b.text(de, "#log-cases tbody td.ref"); ref != "REF-0124" {
		t.Errorf("search result reference %q", ref)
	}
	b.run(de, "clear filters", chromedp.Click(css("#log-reset")),
		until(`document.getElementById('log-summary').textContent.includes('300 matches')`))

	// A burst: instrument notifications and sound, and watch the rows.
	b.run(de, "instrument", void(chromedp.Evaluate[bool](`(() => {
		window.__notes = [];
		window.Notification = class {
			constructor(title, opts) { window.__notes.push({ title, tag: opts && opts.tag }); }
			static get permission() { return 'granted'; }
			static requestPermission() { return Promise.resolve('granted'); }
			close() {}
		};
		window.__osc = 0;
		const AC = window.AudioContext || window.webkitAudioContext;
		const orig = AC.prototype.createOscillator;
		AC.prototype.createOscillator = function () { window.__osc++; return orig.call(this); };
		window.__vanished = [];
		const present = new Set();
		window.setInterval(() => {
			const now = new Set([...document.querySelectorAll('#incoming-cases tbody tr')].map(r => r.dataset.caseId));
			for (const id of present) if (!now.has(id)) window.__vanished.push(id);
			for (const id of now) present.add(id);
		}, 20);
		return true;
	})()`)))
	const burst = 12
	var ids []string
	for i := 0; i < burst; i++ {
		ids = append(ids, f.submit("FR", "DE").CaseID)
	}
	all := `[` + strings.Join(func() []string {
		var q []string
		for _, id := range ids {
			q = append(q, jsString(id))
		}
		return q
	}(), ",") + `]`
	b.run(de, "burst arrives", until(all+`.every(id => document.querySelector('#incoming-cases tr[data-case-id="' + id + '"]'))`))
	b.run(de, "one notification with the count",
		until(`window.__notes.length > 0 && window.__notes[window.__notes.length - 1].title.includes('`+fmt.Sprint(burst)+` new incoming requests')`))
	if tags := b.evalInt(de, `new Set(window.__notes.map(x => x.tag)).size`); tags != 1 {
		t.Errorf("the burst raised %d separate notifications, want 1", tags)
	}
	if osc := b.evalInt(de, `window.__osc`); osc == 0 || osc > 3 {
		t.Errorf("the burst sounded %d tones, want one beep (2 or 3 tones)", osc)
	}
	if v := b.eval(de, `JSON.stringify(window.__vanished)`); v != "[]" {
		t.Errorf("rows vanished during the burst: %s", v)
	}
	b.run(de, "case log counts the new cases without moving",
		until(`!document.getElementById('log-new').hidden && document.getElementById('log-new').textContent.startsWith('`+fmt.Sprint(burst)+` new')`))
	screenshot(t, de, "dashboard-busy-de")

	// FR pastes a UTC time as text into an identifier's time and sends.
	b.login(fr, "FR", "claire", "claire-night-shift-pass")
	example := string(exampleRequest(t, "DE"))
	from := `[name="identifiers[0].from"]`
	b.run(fr, "compose from JSON",
		chromedp.Click(css("#nav-compose")), chromedp.WaitVisible(css("#compose-form")),
		void(chromedp.Evaluate[bool](`document.querySelector('details.import').open = true`)),
		setField("#compose-import", example),
		chromedp.Click(css("#compose-import-load")),
		chromedp.WaitVisible(css(from)),
		setField("#compose-to", "DE"))
	b.run(fr, "paste a UTC time", void(chromedp.Evaluate[bool](`(() => {
		const el = document.querySelector('`+from+`');
		el.focus(); el.select();
		document.execCommand('insertText', false, '2026-11-21T23:40:00Z');
		return true;
	})()`)))
	if v := b.eval(fr, `document.querySelector('`+from+`').value`); v != "2026-11-21T23:40:00Z" {
		t.Fatalf("pasted time reads %q", v)
	}
	b.run(fr, "paste a time with an offset", void(chromedp.Evaluate[bool](`(() => {
		const el = document.querySelector('`+from+`');
		el.focus(); el.select();
		document.execCommand('insertText', false, '2026-11-22T00:40+01:00');
		el.blur();
		return true;
	})()`)))
	if v := b.eval(fr, `document.querySelector('`+from+`').value`); v != "2026-11-21T23:40:00Z" {
		t.Fatalf("time with an offset reads %q after leaving the field, want it in UTC", v)
	}
	b.run(fr, "review and send", chromedp.Click(css("#compose-review")), chromedp.WaitVisible(css("#compose-send")),
		chromedp.Click(css("#compose-send")), chromedp.WaitVisible(css("#case-state")))
	loc, err := chromedp.Run(fr, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.caseView("FR", loc[strings.LastIndex(loc, "/")+1:])
	var req struct {
		Identifiers []struct {
			From string `json:"from"`
		} `json:"identifiers"`
	}
	if err := json.Unmarshal(v.Request, &req); err != nil || len(req.Identifiers) == 0 || req.Identifiers[0].From != "2026-11-21T23:40:00Z" {
		t.Fatalf("sent identifier time: %s (%v)", v.Request, err)
	}

	// 390 px: no horizontal scroll on the dashboard (with a 180-character
	// reference on it) and the compose form; the top bar stays small.
	noScroll := `document.documentElement.scrollWidth <= window.innerWidth`
	b.run(de, "390 px dashboard", chromedp.EmulateViewport(390, 844), chromedp.Click(css("#nav-dashboard")),
		until(`[...document.querySelectorAll('#incoming-cases td.ref')].some(td => td.textContent.startsWith('LONG-'))`))
	if ok := b.eval(de, `String(`+noScroll+`) + ' ' + document.documentElement.scrollWidth`); !strings.HasPrefix(ok, "true") {
		t.Errorf("dashboard at 390 px scrolls sideways: width %s", ok)
	}
	if hgt := b.evalInt(de, `Math.round(document.getElementById('topbar').getBoundingClientRect().height)`); hgt > 844/4 {
		t.Errorf("top bar is %d px of 844", hgt)
	}
	viewShot(t, de, "dashboard-390")
	b.run(de, "390 px compose", chromedp.Click(css("#nav-compose")), chromedp.WaitVisible(css("#compose-form")))
	if ok := b.eval(de, `String(`+noScroll+`) + ' ' + document.documentElement.scrollWidth`); !strings.HasPrefix(ok, "true") {
		t.Errorf("compose at 390 px scrolls sideways: width %s", ok)
	}
	viewShot(t, de, "compose-390")

	// A case whose reference is one 180-character word, on the case page.
	var m map[string]any
	if err := json.Unmarshal(exampleRequest(t, "DE"), &m); err != nil {
		t.Fatal(err)
	}
	m["reference"] = "LONG-" + strings.Repeat("Y", 175)
	doc, _ := json.Marshal(m)
	var sub types.Submission
	if code := f.api("FR", "POST", "/api/v1/requests", doc, &sub); code != http.StatusCreated {
		t.Fatalf("submit: HTTP %d", code)
	}
	f.waitDelivered("FR", sub.CaseID)
	b.run(de, "390 px case page", chromedp.Navigate(f.entry("DE").API+"/ui/cases/"+sub.CaseID),
		chromedp.WaitVisible(css("#case-state")))
	if ok := b.eval(de, `String(`+noScroll+`) + ' ' + document.documentElement.scrollWidth`); !strings.HasPrefix(ok, "true") {
		t.Errorf("case page with a long reference at 390 px scrolls sideways: width %s", ok)
	}
	viewShot(t, de, "case-390")
}

// TestConsoleRolesGuarded: a role change is saved only once confirmed
// (Cancel puts the select back), and an auditor never sees the compose
// form, not even by its address.
func TestConsoleRolesGuarded(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2)
	f.addUser("DE", "ada", "admin", "ada-night-shift-pass")
	f.addUser("DE", "otto", "operator", "otto-night-shift-pass")
	f.addUser("DE", "olga", "auditor", "olga-night-shift-pass")
	role := func(name string) string {
		var out types.UserList
		f.api("DE", "GET", "/api/v1/users", nil, &out)
		for _, u := range out.Users {
			if u.Name == name {
				return u.Role
			}
		}
		t.Fatalf("no user %s", name)
		return ""
	}

	b := startBrowser(t, f, exe)
	admin, auditor := b.tab(), b.tab()
	b.login(admin, "DE", "ada", "ada-night-shift-pass")
	sel := `#users-table tr[data-user="otto"] select[name="role"]`
	b.run(admin, "users page", chromedp.Click(css("#nav-users")), chromedp.WaitVisible(css(sel)))
	b.run(admin, "change, then cancel", setField(sel, "supervisor"),
		chromedp.WaitVisible(css(`button[data-confirm-role="otto"]`)),
		chromedp.Click(css(`#users-table tr[data-user="otto"] .role-confirm .btn-quiet`)),
		until(`document.querySelector('`+sel+`').value === 'operator'`))
	if r := role("otto"); r != "operator" {
		t.Fatalf("role after Cancel: %s", r)
	}
	b.run(admin, "change and confirm", setField(sel, "supervisor"),
		chromedp.Click(css(`button[data-confirm-role="otto"]`)),
		until(`document.querySelector('#users-table tr[data-user="otto"] .row-status').textContent === 'Saved.'`))
	if r := role("otto"); r != "supervisor" {
		t.Fatalf("role after Confirm: %s", r)
	}

	b.login(auditor, "DE", "olga", "olga-night-shift-pass")
	if hidden := b.eval(auditor, `String(document.getElementById('nav-compose').hidden)`); hidden != "true" {
		t.Error("the auditor's top bar links to compose")
	}
	b.run(auditor, "compose by address", chromedp.Navigate(f.entry("DE").API+"/ui/compose"),
		chromedp.WaitVisible(css("#incoming-cases")))
	if shown := b.eval(auditor, `String(!document.getElementById('page-compose').hidden) + ' ' + location.pathname`); shown != "false /ui/dashboard" {
		t.Errorf("auditor at /ui/compose: compose shown, path = %s", shown)
	}
}

// TestDrillDeadlineAtReceiver: a response drill's request carries its
// deadline, and the receiving case shows it as its acknowledgement
// deadline — the one the sender counts a miss by.
func TestDrillDeadlineAtReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("federation test")
	}
	f := newFederation(t, 2)
	var out types.ResponseDrillStarted
	if code := f.api("FR", "POST", "/api/v1/drills/response", []byte(`{"countries":["DE"]}`), &out); code != http.StatusCreated {
		t.Fatalf("start drill: HTTP %d", code)
	}
	id := out.CaseIDs["DE"]
	if id == "" || out.Run.DeadlineAt.IsZero() {
		t.Fatalf("drill started without a case or deadline: %+v", out)
	}
	f.waitDelivered("FR", id)
	got, _ := f.caseView("DE", id)
	if got.AckDueAt == nil || !got.AckDueAt.Equal(out.Run.DeadlineAt.Truncate(time.Second)) {
		t.Fatalf("DE's drill case is due %v, the sender's deadline is %v", got.AckDueAt, out.Run.DeadlineAt)
	}
	if sent, _ := f.caseView("FR", id); sent.AckDueAt == nil || !sent.AckDueAt.Equal(*got.AckDueAt) {
		t.Errorf("FR expects the acknowledgement by %v, DE shows %v", sent.AckDueAt, got.AckDueAt)
	}
}
