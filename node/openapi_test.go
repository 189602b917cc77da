package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/protocol"
)

// route is one METHOD /path pair, as registered on the mux or documented.
type route struct{ Method, Path string }

func (r route) String() string { return r.Method + " " + r.Path }

// publicAPIRoutes are the routes under /api/v1 that must answer without
// credentials: the API description, and the login that obtains them.
var publicAPIRoutes = map[route]bool{
	{"GET", "/api/v1/openapi.json"}: true,
	{"POST", "/api/v1/login"}:       true,
}

func publicList() string {
	var out []string
	for r := range maps.Keys(publicAPIRoutes) {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// protected says which routes must demand credentials: everything under
// /api/v1 except publicAPIRoutes.
func protected(r route) bool {
	return strings.HasPrefix(r.Path, "/api/v1/") && !publicAPIRoutes[r]
}

// sourceRoute is a route registered in apiHandler, and whether its handler
// is wrapped in n.auth or n.authz.
type sourceRoute struct {
	route
	Auth bool
}

// routesFromSource finds every mux.Handle / mux.HandleFunc call with a
// string-literal pattern in a Go source file. Method-less subtree patterns
// ending in "/" (the catch-alls: "/" and "/api/") are skipped; any other
// pattern without a method is an error, because the document could not
// describe it precisely.
func routesFromSource(filename string, src []byte) ([]sourceRoute, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, 0)
	if err != nil {
		return nil, err
	}
	var out []sourceRoute
	var errs []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" || len(call.Args) == 0 {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			errs = append(errs, fmt.Sprintf("%s: mux.%s pattern is not a string literal", fset.Position(call.Pos()), sel.Sel.Name))
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", fset.Position(lit.Pos()), err))
			return true
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok && strings.HasPrefix(pattern, "/") && strings.HasSuffix(pattern, "/") {
			return true // catch-all: the 404 for /api/ and the console for /
		}
		path = strings.TrimSpace(path)
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			errs = append(errs, fmt.Sprintf("%s: pattern %q has no METHOD /path form", fset.Position(lit.Pos()), pattern))
			return true
		}
		// ServeMux wildcards {name...} and {$} have no OpenAPI spelling.
		path = strings.ReplaceAll(path, "...}", "}")
		path = strings.TrimSuffix(path, "{$}")
		sr := sourceRoute{route: route{Method: method, Path: path}}
		if len(call.Args) > 1 {
			if inner, ok := call.Args[1].(*ast.CallExpr); ok {
				if s, ok := inner.Fun.(*ast.SelectorExpr); ok && (s.Sel.Name == "auth" || s.Sel.Name == "authz") {
					sr.Auth = true
				}
			}
		}
		out = append(out, sr)
		return true
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// openAPIOperation is the part of an operation the test checks.
type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

type apiSpec struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Security   []map[string][]string                 `json:"security"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operationsFromDoc returns every documented operation by route.
func operationsFromDoc(doc *apiSpec) (map[route]openAPIOperation, error) {
	ops := map[route]openAPIOperation{}
	for path, item := range doc.Paths {
		for key, raw := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue // summary, parameters, servers, ...
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", key, path, err)
			}
			ops[route{Method: strings.ToUpper(key), Path: path}] = op
		}
	}
	return ops, nil
}

// checkOpenAPI compares the registered routes with the document and returns
// every discrepancy.
func checkOpenAPI(src []sourceRoute, doc *apiSpec) []string {
	var problems []string
	ops, err := operationsFromDoc(doc)
	if err != nil {
		return []string{err.Error()}
	}
	if doc.OpenAPI != "3.0.3" {
		problems = append(problems, fmt.Sprintf("openapi version is %q, want 3.0.3", doc.OpenAPI))
	}
	if s, ok := doc.Components.SecuritySchemes["bearerAuth"]; !ok || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		problems = append(problems, "components.securitySchemes.bearerAuth must be an http bearer scheme")
	}
	inSource := map[route]bool{}
	for _, r := range src {
		if inSource[r.route] {
			problems = append(problems, fmt.Sprintf("%s is registered twice", r.route))
		}
		inSource[r.route] = true
		if _, ok := ops[r.route]; !ok {
			problems = append(problems, fmt.Sprintf("%s is registered in apiHandler but missing from openapi.json", r.route))
		}
		if r.Auth != protected(r.route) {
			problems = append(problems, fmt.Sprintf("%s: wrapped in n.auth/n.authz = %v, but routes under /api/v1 (except %s) must be and others must not", r.route, r.Auth, publicList()))
		}
	}
	for r, op := range ops {
		if !inSource[r] {
			problems = append(problems, fmt.Sprintf("%s is in openapi.json but not registered in apiHandler", r))
		}
		has2xx := false
		for code := range op.Responses {
			if len(code) == 3 && code[0] == '2' {
				has2xx = true
			}
		}
		if !has2xx {
			problems = append(problems, fmt.Sprintf("%s declares no 2xx response", r))
		}
		security := doc.Security
		if op.Security != nil {
			security = *op.Security
		}
		bearer := slices.ContainsFunc(security, func(req map[string][]string) bool {
			_, ok := req["bearerAuth"]
			return ok
		})
		// An empty requirement object ({}) makes authentication optional.
		optional := len(security) == 0 || slices.ContainsFunc(security, func(req map[string][]string) bool { return len(req) == 0 })
		if protected(r) {
			if _, ok := op.Responses["401"]; !ok {
				problems = append(problems, fmt.Sprintf("%s is protected but declares no 401 response", r))
			}
			if !bearer || optional {
				problems = append(problems, fmt.Sprintf("%s is protected but its security does not require bearerAuth", r))
			}
		} else if !optional {
			problems = append(problems, fmt.Sprintf("%s needs no token but its security requires one (want security: [])", r))
		}
	}
	sort.Strings(problems)
	return problems
}

// checkRefs reports every local $ref that does not resolve.
func checkRefs(raw []byte) []string {
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolveRef(root, ref) {
					problems = append(problems, "unresolved $ref "+ref)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(root)
	sort.Strings(problems)
	return problems
}

func resolveRef(root any, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false // only local references are used
	}
	cur := root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[tok]; !ok {
			return false
		}
	}
	return true
}

func loadOpenAPIDoc(t *testing.T) ([]byte, *apiSpec) {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc apiSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return raw, &doc
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, doc := loadOpenAPIDoc(t)
	if !bytes.Equal(raw, OpenAPIDocument()) {
		t.Error("embedded OpenAPI document differs from openapi.json; rebuild")
	}
	src, err := os.ReadFile("api.go")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := routesFromSource("api.go", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 8 {
		t.Fatalf("found only %d routes in api.go (%v); is the parser still finding mux.Handle calls?", len(routes), routes)
	}
	for _, p := range checkOpenAPI(routes, doc) {
		t.Error(p)
	}
	for _, p := range checkRefs(raw) {
		t.Error(p)
	}
}

// TestOpenAPICheckerCatchesDrift makes sure the comparison can fail: a route
// added to the source, a documented route without a handler, a protected
// operation without 401 and one without a 2xx must all be reported.
func TestOpenAPICheckerCatchesDrift(t *testing.T) {
	src := []byte(`package node
func (n *Node) apiHandler() {
	mux.HandleFunc("GET /healthz", n.handleHealth)
	mux.Handle("GET /api/v1/cases", n.auth(n.handleCases))
	mux.Handle("DELETE /api/v1/cases/{id}", n.auth(n.handleDelete))
	mux.Handle("GET /api/v1/open", n.handleOpen)
	mux.Handle("GET /api/v1/users", n.authz(accounts.PermManageUsers, n.handleUsers))
	mux.Handle("/api/", notFound)
	mux.Handle("/", console)
}`)
	routes, err := routesFromSource("fake.go", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []sourceRoute{{route{"GET", "/healthz"}, false}, {route{"GET", "/api/v1/cases"}, true},
		{route{"DELETE", "/api/v1/cases/{id}"}, true}, {route{"GET", "/api/v1/open"}, false},
		{route{"GET", "/api/v1/users"}, true}}
	if !slices.Equal(routes, want) {
		t.Fatalf("routesFromSource = %v, want %v", routes, want)
	}
	var doc apiSpec
	if err := json.Unmarshal([]byte(`{
		"openapi": "3.0.3",
		"security": [{"bearerAuth": []}],
		"components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
		"paths": {
			"/healthz": {"get": {"security": [], "responses": {"200": {}}}},
			"/api/v1/cases": {"get": {"responses": {"200": {}}}},
			"/api/v1/open": {"get": {"responses": {"200": {}, "401": {}}}},
			"/api/v1/users": {"get": {"security": [], "responses": {"200": {}, "401": {}}}},
			"/api/v1/roster": {"post": {"responses": {"400": {}, "401": {}}}}
		}}`), &doc); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkOpenAPI(routes, &doc), "\n")
	for _, w := range []string{
		"DELETE /api/v1/cases/{id} is registered in apiHandler but missing from openapi.json",
		"POST /api/v1/roster is in openapi.json but not registered in apiHandler",
		"GET /api/v1/cases is protected but declares no 401 response",
		"POST /api/v1/roster declares no 2xx response",
		"GET /api/v1/open: wrapped in n.auth/n.authz = false",
		"GET /api/v1/users is protected but its security does not require bearerAuth",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("checker did not report %q; got:\n%s", w, got)
		}
	}
	if _, err := routesFromSource("bad.go", []byte(`package node
func f() { mux.Handle(pattern, h) }`)); err == nil {
		t.Error("a non-literal pattern was not reported")
	}
	if _, err := routesFromSource("bad.go", []byte(`package node
func f() { mux.Handle("/api/v1/cases", h) }`)); err == nil {
		t.Error("a method-less exact pattern was not reported")
	}
	if p := checkRefs([]byte(`{"a": {"$ref": "#/components/schemas/Nope"}}`)); len(p) != 1 {
		t.Errorf("checkRefs missed a dangling $ref: %v", p)
	}
}

// newAPITestNode builds a real node (keys, signed one-member roster, store,
// libp2p host on an ephemeral port) without starting it, so that its API
// handler can be served by httptest.
func newAPITestNode(t *testing.T) *Node {
	t.Helper()
	dir := t.TempDir()
	authDir := filepath.Join(dir, "authority")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub, _, err := InitAuthority(authDir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Init(InitOptions{Dir: filepath.Join(dir, "FR"), Country: "FR", AuthorityKey: pub,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, APIListen: "127.0.0.1:0", StoreProfile: "small", LogFormat: "console"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadAuthorityKey(filepath.Join(authDir, AuthorityKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Member
	m.Organisation, m.TimeZone = "FR test point of contact", "Europe/Paris"
	draft := &protocol.Roster{Network: "vigil-test"}
	AddMember(draft, m)
	doc, err := SignDraft(draft, key, 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "FR", "roster.json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, Options{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

var pathParam = regexp.MustCompile(`\{[^}/]+\}`)

// TestOpenAPIServedAndProtected runs a real node's handler: the document is
// served without a token, and every documented protected operation answers
// 401 with no token and with a wrong one.
func TestOpenAPIServedAndProtected(t *testing.T) {
	_, doc := loadOpenAPIDoc(t)
	srv := httptest.NewServer(newAPITestNode(t).apiHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var served bytes.Buffer
	served.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served.Bytes(), OpenAPIDocument()) {
		t.Errorf("GET /api/v1/openapi.json: status %d, %d bytes; want 200 and the document", resp.StatusCode, served.Len())
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("openapi.json Content-Type %q", ct)
	}

	ops, err := operationsFromDoc(doc)
	if err != nil {
		t.Fatal(err)
	}
	for r := range ops {
		if !protected(r) {
			continue
		}
		path := pathParam.ReplaceAllString(r.Path, "0123456789abcdef0123456789abcdef")
		for _, tok := range []string{"", "Bearer wrong"} {
			req, _ := http.NewRequest(r.Method, srv.URL+path, strings.NewReader("{}"))
			if tok != "" {
				req.Header.Set("Authorization", tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with token %q: status %d, want 401", r, tok, resp.StatusCode)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", r)
			}
		}
	}
}
