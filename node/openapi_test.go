package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
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
	return protectedOutsideAPI[r] || strings.HasPrefix(r.Path, "/api/v1/") && !publicAPIRoutes[r]
}

// protectedOutsideAPI are the routes outside /api/v1 that demand
// credentials: the metrics (issue 12).
var protectedOutsideAPI = map[route]bool{{"GET", "/metrics"}: true}

// apiRoutes are the routes a real server registered, in the document's
// spelling, and whether each demands credentials.
func apiRoutes(rs []api.Route) []sourceRoute {
	out := make([]sourceRoute, 0, len(rs))
	for _, r := range rs {
		// ServeMux wildcards {name...} and {$} have no OpenAPI spelling.
		path := strings.TrimSuffix(strings.ReplaceAll(r.Path, "...}", "}"), "{$}")
		out = append(out, sourceRoute{route: route{Method: r.Method, Path: path}, Auth: !r.Public})
	}
	return out
}

// sourceRoute is a route registered on the API server, and whether it is
// mounted behind authentication (Server.Handle) or public.
type sourceRoute struct {
	route
	Auth bool
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
			problems = append(problems, fmt.Sprintf("%s: needs credentials = %v, but routes under /api/v1 (except %s) must and others must not", r.route, r.Auth, publicList()))
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
	raw, err := os.ReadFile("api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc apiSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("api/openapi.json does not parse: %v", err)
	}
	return raw, &doc
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, doc := loadOpenAPIDoc(t)
	if !bytes.Equal(raw, api.OpenAPIDocument()) {
		t.Error("embedded OpenAPI document differs from api/openapi.json; rebuild")
	}
	routes := apiRoutes(newAPITestNode(t).apiHandler().Routes())
	if len(routes) < 8 {
		t.Fatalf("found only %d routes (%v); is the server still listing them?", len(routes), routes)
	}
	for _, p := range checkOpenAPI(routes, doc) {
		t.Error(p)
	}
	for _, p := range checkRefs(raw) {
		t.Error(p)
	}
}

// TestOpenAPICheckerCatchesDrift makes sure the comparison can fail: a route
// added to the server, a documented route without a handler, a protected
// operation without 401 and one without a 2xx must all be reported, and a
// route without a method cannot be registered at all.
func TestOpenAPICheckerCatchesDrift(t *testing.T) {
	routes := apiRoutes([]api.Route{
		{Method: "GET", Path: "/healthz", Public: true},
		{Method: "GET", Path: "/api/v1/cases", Perm: accounts.PermReadCases},
		{Method: "DELETE", Path: "/api/v1/cases/{id}", Perm: accounts.PermAct},
		{Method: "GET", Path: "/api/v1/open", Public: true},
		{Method: "GET", Path: "/api/v1/users", Perm: accounts.PermManageUsers},
	})
	want := []sourceRoute{{route{"GET", "/healthz"}, false}, {route{"GET", "/api/v1/cases"}, true},
		{route{"DELETE", "/api/v1/cases/{id}"}, true}, {route{"GET", "/api/v1/open"}, false},
		{route{"GET", "/api/v1/users"}, true}}
	if !slices.Equal(routes, want) {
		t.Fatalf("apiRoutes = %v, want %v", routes, want)
	}
	if got := apiRoutes([]api.Route{{Method: "GET", Path: "/files/{path...}"}, {Method: "GET", Path: "/{$}"}}); got[0].Path != "/files/{path}" || got[1].Path != "/" {
		t.Errorf("ServeMux wildcards not spelt for OpenAPI: %v", got)
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
		"GET /api/v1/open: needs credentials = false",
		"GET /api/v1/users is protected but its security does not require bearerAuth",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("checker did not report %q; got:\n%s", w, got)
		}
	}
	for _, pattern := range []string{"/api/v1/cases", "GET api/v1/cases", " /api/v1/cases"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("route %q without METHOD /path was accepted", pattern)
				}
			}()
			api.New(api.Deps{}).Handle(pattern, accounts.PermReadCases, func(http.ResponseWriter, *http.Request) {})
		}()
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
	pub, _, err := authority.Init(authDir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := config.Init(config.InitOptions{Dir: filepath.Join(dir, "FR"), Country: "FR", AuthorityKey: pub,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, APIListen: "127.0.0.1:0", StoreProfile: "small", LogFormat: "console"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Member
	m.Organisation, m.TimeZone = "FR test point of contact", "Europe/Paris"
	draft := &protocol.Roster{Network: "vigil-test"}
	authority.AddMember(draft, m)
	doc, err := authority.SignDraft(draft, key, 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := config.WriteFileAtomic(filepath.Join(dir, "FR", "roster.json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadConfig(res.ConfigPath)
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
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served.Bytes(), api.OpenAPIDocument()) {
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
