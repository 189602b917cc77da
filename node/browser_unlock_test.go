package node_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Issue 12: an admin sees a user's failed logins on the Users page and
// clears them, with every source's backoff, with one click.
func TestConsoleUnlockInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2)
	f.addUser("FR", "root", "admin", "root-night-shift-pass")
	f.addUser("FR", "bob", "operator", "bob-night-shift-pass")
	base := f.entry("FR").API
	for range 10 {
		rawLogin(t, base, asJSON, loginBody("bob", "not-bobs-password", ""))
	}
	if status, _, _ := rawLogin(t, base, asJSON, loginBody("bob", "bob-night-shift-pass", "")); status != http.StatusTooManyRequests {
		t.Fatalf("bob after 10 failures: HTTP %d, want 429", status)
	}

	b := startBrowser(t, f, exe)
	tab := b.tab()
	b.login(tab, "FR", "root", "root-night-shift-pass")
	b.run(tab, "users page", chromedp.Navigate(base+"/ui/users"),
		chromedp.WaitVisible(css(`#users-table button[data-unlock="bob"]`)))
	if got := b.text(tab, `#users-table tr[data-user="bob"]`); !strings.Contains(got, "Unlock") {
		t.Fatalf("bob's row: %q", got)
	}
	screenshot(t, tab, "users-unlock")
	b.run(tab, "unlock bob", chromedp.Click(css(`#users-table button[data-unlock="bob"]`)),
		until(`document.querySelector('#users-table tr[data-user="bob"]') !== null && document.querySelector('#users-table button[data-unlock="bob"]') === null`))
	if status, _, body := rawLogin(t, base, asJSON, loginBody("bob", "bob-night-shift-pass", "")); status != http.StatusOK {
		t.Fatalf("bob after the console's unlock: HTTP %d %s", status, body)
	}
}
