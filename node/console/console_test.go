package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func readAsset(t *testing.T, name string) string {
	t.Helper()
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func jsFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		out[strings.TrimPrefix(p, "assets/")] = readAsset(t, strings.TrimPrefix(p, "assets/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkSecurityHeaders(t *testing.T, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", target, k, got, v)
		}
	}
}

func TestIndexServedForAppRoutes(t *testing.T) {
	h := Handler()
	index := readAsset(t, "index.html")
	for _, target := range []string{"/", "/ui", "/ui/", "/ui/dashboard", "/ui/cases/x", "/ui/cases/0123456789abcdef0123456789abcdef", "/ui/compose?draft=abc", "/ui/users"} {
		rec := get(t, h, http.MethodGet, target, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", target, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", target, cc)
		}
		if rec.Body.String() != index {
			t.Errorf("GET %s: body is not index.html", target)
		}
		checkSecurityHeaders(t, target, rec)
	}
}

func TestHeadIndex(t *testing.T) {
	rec := get(t, Handler(), http.MethodHead, "/ui/network", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: status %d, body %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestAssetContentTypes(t *testing.T) {
	h := Handler()
	cases := map[string]string{
		"/assets/app.js":      "text/javascript; charset=utf-8",
		"/assets/lib.js":      "text/javascript; charset=utf-8",
		"/assets/theme.js":    "text/javascript; charset=utf-8",
		"/assets/app.css":     "text/css; charset=utf-8",
		"/assets/favicon.svg": "image/svg+xml",
		"/assets/index.html":  "text/html; charset=utf-8",
	}
	for name := range jsFiles(t) {
		cases["/assets/"+name] = "text/javascript; charset=utf-8"
	}
	for target, want := range cases {
		rec := get(t, h, http.MethodGet, target, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", target, rec.Code)
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, want)
		}
		if rec.Body.String() != readAsset(t, strings.TrimPrefix(target, "/assets/")) {
			t.Errorf("GET %s: wrong body", target)
		}
		checkSecurityHeaders(t, target, rec)
	}
}

func TestAssetETag(t *testing.T) {
	h := Handler()
	rec := get(t, h, http.MethodGet, "/assets/app.js", nil)
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on an asset")
	}
	rec = get(t, h, http.MethodGet, "/assets/app.js", map[string]string{"If-None-Match": etag})
	if rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", rec.Code)
	}
}

func TestNotFound(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/assets/nope.js", "/assets/", "/assets", "/assets/../console.go", "/assets/assets/app.js", "/favicon.ico", "/api/v1/cases", "/uix", "/index.html"} {
		rec := get(t, h, http.MethodGet, target, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<html") {
			t.Errorf("GET %s: 404 answered with the page", target)
		}
		checkSecurityHeaders(t, target, rec)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, target := range []string{"/", "/ui/compose", "/assets/app.js"} {
		rec := get(t, Handler(), http.MethodPost, target, nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", target, rec.Code)
		}
	}
}

// The browser tests rely on these selectors; keep them in the page.
func TestStableSelectors(t *testing.T) {
	index := readAsset(t, "index.html")
	ids := []string{
		"login-username", "login-password", "login-totp", "login-submit", "login-error",
		"nav-dashboard", "nav-compose", "nav-network", "nav-audit", "nav-users", "logout",
		"incoming-cases", "outgoing-cases", "alerts-banner",
		"compose-kind-preservation", "compose-kind-emergency", "compose-kind-assistance",
		"compose-to", "compose-review", "compose-send", "compose-save-draft",
		"case-state", "case-delivery", "action-submit", "action-error", "case-print",
		"main", "live-region", "alert-count", "theme-toggle", "help-dialog",
		"network-refresh", "drills-table", "drill-tools", "drill-run-reachability", "drill-countries",
		"drill-send-response", "drill-result",
	}
	for _, id := range ids {
		if !strings.Contains(index, `id="`+id+`"`) {
			t.Errorf("index.html has no element with id %q", id)
		}
	}
	// Every id appears once.
	seen := map[string]int{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(index, -1) {
		seen[m[1]]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("index.html: id %q used %d times", id, n)
		}
	}
	// Every label points at an element that exists.
	for _, m := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(index, -1) {
		if seen[m[1]] == 0 {
			t.Errorf("index.html: <label for=%q> has no matching element", m[1])
		}
	}
	// Every static input has a label.
	for _, m := range regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"[^>]*>`).FindAllStringSubmatch(index, -1) {
		if strings.Contains(m[0], `type="hidden"`) {
			continue
		}
		if !strings.Contains(index, `<label for="`+m[1]+`"`) {
			t.Errorf("index.html: input %q has no <label for>", m[1])
		}
	}
	// The compose recipient and kind inputs carry their JSON field names.
	for _, s := range []string{`id="compose-to" name="to"`, `id="compose-kind-preservation" name="kind" value="preservation"`,
		`id="compose-kind-emergency" name="kind" value="emergency"`, `id="compose-kind-assistance" name="kind" value="assistance"`} {
		if !strings.Contains(index, s) {
			t.Errorf("index.html lacks %s", s)
		}
	}

	js := jsFiles(t)
	all := strings.Join(func() []string {
		var out []string
		for _, s := range js {
			out = append(out, s)
		}
		return out
	}(), "\n")
	// Dynamic selectors built by the scripts.
	for _, s := range []string{
		"dataset: { caseId: c.id }",         // tr[data-case-id]
		"h('td', { class: 'state'",          // td.state
		"h('td', { class: 'delivery'",       // td.delivery
		"class: 'field-error'",              // .field-error
		"dataset: { field: path }",          // .field-error[data-field]
		"dataset: { action: a }",            // button[data-action]
		"name: path",                        // inputs named by JSON path
		"'[' + i + ']'",                     // identifiers[0].value
		"'X-CSRF-Token'",                    // CSRF header on state-changing calls
		"new EventSource('/api/v1/events')", // live updates
		"'/api/v1/requests/validate'",
		"Notification.requestPermission()",
		"createOscillator()",
		"dataset: { country: c.country }",           // #drills-table tr[data-country]
		"h('td', { class: 'reachable'",              // td.reachable
		"h('td', { class: 'num rtt' }",              // td.rtt
		"h('td', { class: 'num acknowledged' }",     // td.acknowledged
		"h('td', { class: 'num ack' }",              // td.ack
		"h('li', { dataset: { country: x.country }", // #drill-result li[data-country]
	} {
		if !strings.Contains(all, s) {
			t.Errorf("scripts lack %q", s)
		}
	}
	if !strings.Contains(js["app.js"], "/*\n * Vigil operator console") {
		t.Error("app.js lacks its header comment describing the pages and API")
	}
}

// CSP forbids inline code; the scripts must not parse server data as HTML.
func TestNoInlineCodeOrHTMLInjection(t *testing.T) {
	index := readAsset(t, "index.html")
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(index, -1) {
		if !strings.Contains(m, ` src="/assets/`) {
			t.Errorf("index.html: inline script %s", m)
		}
	}
	for _, re := range []string{`<style`, `\sstyle="`, `\son[a-z]+="`, `javascript:`, `https?://`} {
		if loc := regexp.MustCompile(re).FindStringIndex(index); loc != nil {
			t.Errorf("index.html: forbidden %q at %q", re, index[loc[0]:min(loc[1]+30, len(index))])
		}
	}
	for name, src := range jsFiles(t) {
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://", ".style."} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %q", name, bad)
			}
		}
	}
}

// Everything the page and the modules load is embedded.
func TestReferencedAssetsExist(t *testing.T) {
	h := Handler()
	index := readAsset(t, "index.html")
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references only %d assets", len(refs))
	}
	for _, m := range refs {
		if rec := get(t, h, http.MethodGet, m[1], nil); rec.Code != http.StatusOK {
			t.Errorf("index.html references %s: status %d", m[1], rec.Code)
		}
	}
	imp := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^;]*?from\s+'\./([^']+)'`)
	for name, src := range jsFiles(t) {
		for _, m := range imp.FindAllStringSubmatch(src, -1) {
			if rec := get(t, h, http.MethodGet, "/assets/"+m[1], nil); rec.Code != http.StatusOK {
				t.Errorf("%s imports ./%s: status %d", name, m[1], rec.Code)
			}
		}
	}
}

// The scripts parse (when node is installed), each as the page loads it:
// an ES module unless index.html loads it as a classic script. The source
// goes in on stdin with its type given, since "node --check file.js"
// accepts a module with a syntax error.
func TestScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	index := readAsset(t, "index.html")
	for name, src := range jsFiles(t) {
		typ := "module"
		if strings.Contains(index, `<script src="/assets/`+name+`">`) {
			typ = "commonjs"
		}
		cmd := exec.Command(node, "--input-type="+typ, "--check")
		cmd.Stdin = strings.NewReader(src)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("node --check %s (%s): %v\n%s", name, typ, err, out)
		}
	}
}

// Every name a module imports is exported by the module it names: one
// missing export stops the whole console from loading, which no syntax
// check sees.
func TestImportsAreExported(t *testing.T) {
	js := jsFiles(t)
	exported := func(src string) map[string]bool {
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)`).FindAllStringSubmatch(src, -1) {
			out[m[1]] = true
		}
		return out
	}
	imp := regexp.MustCompile(`(?m)^import\s*\{([^}]*)\}\s*from\s*'\./([^']+)'`)
	checked := 0
	for name, src := range js {
		for _, m := range imp.FindAllStringSubmatch(src, -1) {
			target, ok := js[m[2]]
			if !ok {
				t.Errorf("%s imports ./%s, which is not a script of the console", name, m[2])
				continue
			}
			exports := exported(target)
			for _, item := range strings.Split(m[1], ",") {
				ident, _, _ := strings.Cut(strings.TrimSpace(item), " as ")
				if ident = strings.TrimSpace(ident); ident == "" {
					continue
				}
				checked++
				if !exports[ident] {
					t.Errorf("%s imports %s from ./%s, which does not export it", name, ident, m[2])
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d imported names: the pattern no longer matches the scripts", checked)
	}
}
