package node_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vigil-network/vigil/node/config"
)

// TestConsoleDrillsInBrowser drives the drills panel of the console's
// Network page in a real headless Chromium against two real nodes. An FR
// admin runs a reachability drill and sees DE reachable with a round trip,
// sends DE a response drill, and once DE acknowledges sees the time to
// acknowledgement. With DE stopped the next ping shows DE unreachable with
// the error, and a drill left unacknowledged past its deadline shows as a
// miss; both rows are highlighted. An auditor sees the table but not the
// drill buttons.
func TestConsoleDrillsInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederationWith(t, 2, func(cc string, cfg *config.Config) {
		cfg.Drills.Interval = 0                 // only the drills the test runs
		cfg.Drills.AckDeadline = time.Minute    // the shortest allowed: a miss needs little clock
		cfg.Deadlines.CheckInterval = time.Hour // the report resolves drills as of now by itself
	})
	f.addUser("FR", "rita", "admin", "rita-roster-admin-pass")
	f.addUser("FR", "olga", "auditor", "olga-audit-only-pass")

	b := startBrowser(t, f, exe)
	admin := b.tab()
	b.login(admin, "FR", "rita", "rita-roster-admin-pass")

	// cell is a JavaScript expression for the text of DE's cell td.<class>
	// in the drill table ('' while the row is not there).
	cell := func(class string) string {
		return fmt.Sprintf(`(document.querySelector('#drills-table tr[data-country="DE"] td.%s')?.textContent.trim() ?? '')`, class)
	}
	row := `#drills-table tr[data-country="DE"]`

	b.run(admin, "open the Network page",
		chromedp.Click(css("#nav-network")),
		chromedp.WaitVisible(css("#drill-run-reachability")),
		until(cell("reachable")+` === 'never pinged'`))
	if got := b.text(admin, "#drill-last-run"); got != "No drill has been run yet." {
		t.Fatalf("last run before any drill: %q", got)
	}

	// The button is disabled as soon as it is clicked, until the run ends.
	disabled, err := chromedp.Run(admin, chromedp.Evaluate[bool](`(() => {
		const b = document.querySelector('#drill-run-reachability');
		b.click();
		return b.disabled;
	})()`))
	if err != nil || !disabled {
		t.Fatalf("reachability button while running: disabled=%v (%v)", disabled, err)
	}
	b.run(admin, "reachability drill",
		until(`document.querySelector('#drill-result').textContent.includes('Reached 1 of 1 members')`),
		until(cell("reachable")+` === 'yes'`),
		until(`!document.querySelector('#drill-run-reachability').disabled`))
	if rtt := b.text(admin, row+" td.rtt"); !regexp.MustCompile(`^\d+(\.\d+)? ms$`).MatchString(rtt) {
		t.Fatalf("DE round trip: %q", rtt)
	}
	if last := b.text(admin, "#drill-last-run"); !strings.Contains(last, "reachability") || !strings.Contains(last, "user:rita") {
		t.Fatalf("last run after the ping: %q", last)
	}

	// A response drill to DE: the result names its case.
	b.run(admin, "response drill to DE",
		setField("#drill-countries", "de"),
		chromedp.Click(css("#drill-send-response")),
		chromedp.WaitVisible(css(`#drill-result li[data-country="DE"] a`)),
		until(cell("sent")+` === '1' && `+cell("pending")+` === '1'`))
	href, err := chromedp.Run(admin, chromedp.Evaluate[string](`document.querySelector('#drill-result li[data-country="DE"] a').getAttribute('href')`))
	if err != nil || !strings.HasPrefix(href, "/ui/cases/") {
		t.Fatalf("drill case link %q (%v)", href, err)
	}
	caseID := strings.TrimPrefix(href, "/ui/cases/")
	if res := b.text(admin, "#drill-result"); !strings.Contains(res, "sent to 1 of 1 members") {
		t.Fatalf("response drill result: %q", res)
	}
	if ack := b.text(admin, row+" td.ack"); ack != "—" {
		t.Fatalf("time to ack before any acknowledgement: %q", ack)
	}

	// A person at DE acknowledges; FR's table shows it on refresh.
	f.waitDelivered("FR", caseID)
	f.mustAct("DE", caseID, op("acknowledge"))
	f.waitState(caseID, "acknowledged", "FR")
	b.run(admin, "acknowledgement shows",
		chromedp.Click(css("#network-refresh")),
		until(cell("acknowledged")+` === '1' && `+cell("pending")+` === '0' && `+cell("misses")+` === '0'`))
	for _, class := range []string{"ack", "ack-median"} {
		if v := b.text(admin, row+" td."+class); !regexp.MustCompile(`^\d+(\.\d+)? s$`).MatchString(v) {
			t.Fatalf("DE td.%s after the acknowledgement: %q", class, v)
		}
	}
	cls, err := chromedp.Run(admin, chromedp.Evaluate[string](`document.querySelector('`+row+`').className`))
	if err != nil || cls != "" {
		t.Fatalf("DE row highlighted (%q, %v) while reachable and without misses", cls, err)
	}
	screenshot(t, admin, "network-drills")

	// DE goes down: the next ping fails with the error, one failure, and
	// the row is highlighted.
	f.stop("DE")
	b.run(admin, "reachability drill with DE down",
		chromedp.Click(css("#drill-run-reachability")),
		until(`document.querySelector('#drill-result').textContent.includes('Reached 0 of 1 members')`),
		until(cell("reachable")+` === 'NO' && `+cell("failures")+` === '1'`),
		until(`document.querySelector('`+row+`').classList.contains('row-unreachable')`))
	if rtt := b.text(admin, row+" td.rtt"); rtt != "—" {
		t.Fatalf("RTT of an unreachable member: %q", rtt)
	}
	if e := b.text(admin, row+" td.last-ping .drill-ping-error"); e == "" {
		t.Fatal("no ping error shown for DE")
	}

	// A drill DE cannot acknowledge is a miss once its deadline passes.
	b.run(admin, "second response drill",
		setField("#drill-countries", "DE"),
		chromedp.Click(css("#drill-send-response")),
		until(cell("sent")+` === '2' && `+cell("pending")+` === '1'`))
	f.clock.Advance(2 * time.Minute)
	b.run(admin, "the miss shows",
		chromedp.Click(css("#network-refresh")),
		until(cell("misses")+` === '1' && `+cell("pending")+` === '0' && `+cell("acknowledged")+` === '1'`),
		until(`document.querySelector('`+row+`').classList.contains('row-missed')`))
	screenshot(t, admin, "network-drills-problems")

	// Unknown countries are refused inline, naming the country.
	b.run(admin, "drill to an unknown country",
		setField("#drill-countries", "XX"),
		chromedp.Click(css("#drill-send-response")),
		until(`document.querySelector('#drill-result.error-box')?.textContent.includes('XX') ?? false`))
	if res := b.text(admin, "#drill-result"); !strings.Contains(res, "not a member") {
		t.Fatalf("refused drill: %q", res)
	}

	// An auditor sees the report but not the buttons, and the API refuses
	// the auditor a drill anyway.
	auditor := b.tab()
	b.login(auditor, "FR", "olga", "olga-audit-only-pass")
	b.run(auditor, "auditor's Network page",
		chromedp.Click(css("#nav-network")),
		until(cell("misses")+` === '1'`))
	hidden, err := chromedp.Run(auditor, chromedp.Evaluate[bool](`document.querySelector('#drill-tools').hidden &&
		document.querySelector('#drill-run-reachability').offsetParent === null &&
		document.querySelector('#drill-send-response').offsetParent === null`))
	if err != nil || !hidden {
		t.Fatalf("auditor sees the drill buttons (hidden=%v, %v)", hidden, err)
	}
	s, code, _ := f.login("FR", "olga", "olga-audit-only-pass")
	if code != http.StatusOK {
		t.Fatalf("auditor API login: HTTP %d", code)
	}
	if code, body := s.do("POST", "/api/v1/drills/reachability", nil, true); code != http.StatusForbidden {
		t.Fatalf("auditor runs a drill: HTTP %d %s", code, body)
	}
}
