package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser the console tests drive. CI installs Debian's
// chromium; elsewhere the test is skipped rather than faked.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("VIGIL_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run must install it")
	}
	t.Skip("chromium not installed")
	return ""
}

// artifactDir is where screenshots are kept for people to look at.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts", "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// void drops an action's value so it can run among other steps.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// until waits for a JavaScript condition to hold in the page.
func until(expr string) chromedp.Action[chromedp.Void] { return void(chromedp.Poll[bool](expr)) }

type css = chromedp.CSS

// setField sets a form control's value the way typing would, firing input
// and change events so the page's handlers run.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	return void(chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) throw new Error('no element ' + %s);
		el.value = %s;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, q, q, v)))
}

// consoleBrowser drives the consoles of a federation's nodes in one
// headless Chromium, closed when the test ends.
type consoleBrowser struct {
	t       *testing.T
	f       *federation
	browser context.Context
}

// startBrowser starts Chromium (exe, from chromium(t)) for the consoles of f.
func startBrowser(t *testing.T, f *federation, exe string) *consoleBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &consoleBrowser{t: t, f: f, browser: browser}
}

// tab opens a tab in a browser context of its own, with its own cookies.
func (b *consoleBrowser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.browser, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	return ctx
}

// run runs steps in ctx within 30 seconds, failing the test with what.
func (b *consoleBrowser) run(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the trimmed text of the element sel.
func (b *consoleBrowser) text(ctx context.Context, sel string) string {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Text(css(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// login signs user in to cc's console and waits for the dashboard.
func (b *consoleBrowser) login(ctx context.Context, cc, user, password string) {
	b.t.Helper()
	b.run(ctx, cc+" login page", chromedp.Navigate(b.f.entry(cc).API+"/"), chromedp.WaitVisible(css("#login-username")))
	b.run(ctx, cc+" log in",
		chromedp.SetValue(css("#login-username"), user),
		chromedp.SetValue(css("#login-password"), password),
		chromedp.Click(css("#login-submit")),
		chromedp.WaitVisible(css("#incoming-cases")))
}

// TestConsoleInBrowser drives the operator console in a real headless
// Chromium against two real nodes: FR composes and sends a preservation
// request, DE sees it arrive live, acknowledges and confirms preservation,
// and FR sees both states.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2)
	f.addUser("FR", "claire", "operator", "claire-night-shift-pass")
	f.addUser("DE", "anna", "operator", "anna-night-shift-pass")

	b := startBrowser(t, f, exe)
	// Each country's operator gets a separate browser context: cookies are
	// per host, not per port, so the two consoles must not share a jar.
	fr := b.tab()
	de := b.tab()
	run, text, login := b.run, b.text, b.login

	// A wrong password is refused with a message, and no session starts.
	run(fr, "FR login page", chromedp.Navigate(f.entry("FR").API+"/"), chromedp.WaitVisible(css("#login-username")))
	run(fr, "wrong password",
		chromedp.SetValue(css("#login-username"), "claire"),
		chromedp.SetValue(css("#login-password"), "not-the-password"),
		chromedp.Click(css("#login-submit")),
		until(`document.querySelector('#login-error').textContent.length > 0`))
	if msg := text(fr, "#login-error"); !strings.Contains(strings.ToLower(msg), "wrong") {
		t.Fatalf("wrong password message: %q", msg)
	}

	login(fr, "FR", "claire", "claire-night-shift-pass")
	login(de, "DE", "anna", "anna-night-shift-pass")

	// A state change without the CSRF header is refused even with the
	// session cookie.
	csrfless, err := chromedp.Run(fr, chromedp.Evaluate[int](`fetch('/api/v1/requests', {method:'POST',
		credentials:'same-origin', headers:{'Content-Type':'application/json'}, body:'{}'}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || csrfless != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: HTTP %d (%v), want 403", csrfless, err)
	}

	// Compose at FR: fill from the example, break one field, see the error
	// next to it, fix it, review and send.
	example := string(exampleRequest(t, "DE"))
	run(fr, "open compose", chromedp.Click(css("#nav-compose")), chromedp.WaitVisible(css("#compose-form")))
	run(fr, "fill from JSON",
		void(chromedp.Evaluate[bool](`document.querySelector('details.import').open = true`)),
		setField("#compose-import", example),
		chromedp.Click(css("#compose-import-load")),
		chromedp.WaitVisible(css(`[name="facts_summary"]`)),
		setField("#compose-to", "DE"),
		setField(`[name="facts_summary"]`, ""),
		chromedp.Click(css("#compose-review")),
		chromedp.WaitVisible(css(`.field-error[data-field="facts_summary"]`)))
	if msg := text(fr, `.field-error[data-field="facts_summary"]`); !strings.Contains(msg, "required") {
		t.Fatalf("inline error for facts_summary: %q", msg)
	}
	run(fr, "fix and review",
		chromedp.SendKeys(css(`[name="facts_summary"]`), "Ransomware attack on a hospital group; the C2 server is hosted in Germany."),
		chromedp.Click(css("#compose-review")),
		chromedp.WaitVisible(css("#compose-send")))
	run(fr, "send", chromedp.Click(css("#compose-send")), chromedp.WaitVisible(css("#case-state")))
	caseURL, err := chromedp.Run(fr, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	caseID := caseURL[strings.LastIndex(caseURL, "/")+1:]
	if len(caseID) != 32 {
		t.Fatalf("FR did not land on the case page: %s", caseURL)
	}

	// DE's dashboard, loaded before the request was sent, shows it live.
	row := fmt.Sprintf(`#incoming-cases tr[data-case-id="%s"]`, caseID)
	run(de, "request appears live on DE's dashboard", chromedp.WaitVisible(css(row)))
	screenshot(t, de, "dashboard-de")

	// DE acknowledges and confirms preservation.
	run(de, "open the case", chromedp.Click(css(row+" a")), chromedp.WaitVisible(css("#case-state")))
	run(de, "acknowledge",
		chromedp.Click(css(`button[data-action="acknowledge"]`)),
		chromedp.WaitVisible(css("#action-submit")),
		chromedp.Click(css("#action-submit")),
		until(`document.querySelector('#case-state').textContent.trim() === 'acknowledged'`))
	run(de, "confirm preservation",
		chromedp.WaitVisible(css(`button[data-action="confirm_preservation"]`)),
		chromedp.Click(css(`button[data-action="confirm_preservation"]`)),
		chromedp.WaitVisible(css(`[name="executing_authority"]`)),
		chromedp.SendKeys(css(`[name="executing_authority"]`), "Bundeskriminalamt SO 41"),
		chromedp.SendKeys(css(`[name="domestic_legal_basis"]`), "StPO § 100g"),
		chromedp.Click(css("#action-submit")),
		until(`document.querySelector('#case-state').textContent.trim() === 'preserved'`))
	screenshot(t, de, "case-de")

	// FR sees the legal state and the delivery state without reloading.
	run(fr, "FR sees preserved",
		until(`document.querySelector('#case-state').textContent.trim() === 'preserved'`),
		until(`document.querySelector('#case-delivery').textContent.trim() === 'delivered'`))
	screenshot(t, fr, "case-fr")
	frRow := fmt.Sprintf(`#outgoing-cases tr[data-case-id="%s"]`, caseID)
	run(fr, "FR dashboard", chromedp.Click(css("#nav-dashboard")), chromedp.WaitVisible(css(frRow)))
	if st, dl := text(fr, frRow+" td.state"), text(fr, frRow+" td.delivery"); st != "preserved" || dl != "delivered" {
		t.Fatalf("FR dashboard row: state %q delivery %q", st, dl)
	}
	screenshot(t, fr, "dashboard-fr")

	// The same facts through the API, on both sides.
	for _, cc := range []string{"FR", "DE"} {
		v, _ := f.caseView(cc, caseID)
		if v.State != "preserved" || v.ExpiresAt == nil {
			t.Fatalf("%s API: state %s expires %v", cc, v.State, v.ExpiresAt)
		}
	}
	var audit struct {
		Records []struct{ Actor, Action string } `json:"records"`
	}
	f.api("DE", "GET", "/api/v1/audit?case="+caseID, nil, &audit)
	seen := map[string]bool{}
	for _, r := range audit.Records {
		seen[r.Actor+" "+r.Action] = true
	}
	if !seen["user:anna case.viewed"] || !seen["user:anna action.acknowledge"] {
		b, _ := json.Marshal(audit.Records)
		t.Fatalf("DE audit lacks anna's view and action: %s", b)
	}
}
