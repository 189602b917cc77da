package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/store"
)

// responseTypes are every type the API sends or reads as JSON, by name.
var responseTypes = map[string]reflect.Type{}

func init() {
	for _, v := range []any{
		types.ErrorBody{}, types.LoginRefused{}, types.Health{}, types.Submission{}, types.ActResult{}, types.Validated{},
		types.CaseSummary{}, types.CaseList{}, types.CaseView{}, types.LegalView{}, types.ActionOptions{}, types.MessageView{}, types.ReceiptView{}, types.HistoryEntry{}, types.Assigned{},
		types.PeerView{}, types.PeerList{}, types.QuarantineView{}, types.QuarantineResult{}, types.RosterApplied{},
		types.Alert{}, types.AlertList{}, types.AuditRecord{}, types.AuditRecords{}, types.AuditReport{}, types.Checkpoint{},
		types.Draft{}, types.DraftRow{}, types.DraftList{}, types.DraftSaved{}, types.Stats{}, types.Me{},
		types.User{}, types.UserList{}, types.Token{}, types.TokenList{}, types.NewToken{}, types.TOTPEnrolment{}, types.TOTPEnabled{},
		types.DrillRun{}, types.DrillResult{}, types.DrillCountry{}, types.DrillReport{}, types.ResponseDrillRequest{}, types.ResponseDrillStarted{}, types.PartitionRequest{}, types.Partitioned{}, types.Healed{}, types.ClockRequest{}, types.ClockSet{},
	} {
		t := reflect.TypeOf(v)
		responseTypes[t.Name()] = t
	}
}

// TestResponseTypesListed keeps responseTypes complete: every type
// node/api/types declares is listed.
func TestResponseTypesListed(t *testing.T) {
	files, err := filepath.Glob("types/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("types/*.go: %v %v", files, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, sp := range g.Specs {
				ts := sp.(*ast.TypeSpec)
				if _, ok := responseTypes[ts.Name.Name]; !ok {
					t.Errorf("%s: type %s is not in responseTypes", name, ts.Name.Name)
				}
			}
		}
	}
}

// storeFields lists the fields of typ, however deep, whose type comes
// from package store.
func storeFields(typ reflect.Type) []string {
	storePkg := reflect.TypeOf(store.Case{}).PkgPath()
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		if seen[rt] {
			return
		}
		seen[rt] = true
		if rt.PkgPath() == storePkg {
			out = append(out, path+" is "+rt.String())
			return
		}
		switch rt.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(rt.Elem(), path+"[]")
		case reflect.Map:
			walk(rt.Key(), path+"{key}")
			walk(rt.Elem(), path+"{}")
		case reflect.Struct:
			for i := range rt.NumField() {
				f := rt.Field(i)
				walk(f.Type, path+"."+f.Name)
			}
		}
	}
	walk(typ, typ.Name())
	return out
}

// TestNoStoreTypesInResponses is issue 10's rule: no field of an API type,
// however deep, has a type from package store, so that no stored record
// is ever serialised to clients as it is stored.
func TestNoStoreTypesInResponses(t *testing.T) {
	for _, typ := range responseTypes {
		for _, f := range storeFields(typ) {
			t.Error(f)
		}
	}
	type leaky struct {
		Rows []struct{ Alert *store.Alert }
	}
	if got := storeFields(reflect.TypeOf(leaky{})); !slices.Equal(got, []string{"leaky.Rows[].Alert[] is store.Alert"}) {
		t.Errorf("the walk missed a store type: %v", got)
	}
}

// fill sets every field of v, however deep, to a value that is not zero,
// so that a conversion that forgets a field shows in the JSON.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+seed%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(seed + 3))
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(uint64(seed + 5))
	case reflect.Float64:
		v.SetFloat(float64(seed) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), seed+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // []byte, json.RawMessage
			v.SetBytes([]byte(`{"k":1}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), seed+1)
		fill(s.Index(1), seed+2)
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, seed, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+i)
			}
		}
	}
}

func filled[T any]() *T {
	var v T
	fill(reflect.ValueOf(&v).Elem(), 0)
	return &v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResponsesKeepTheirJSON: each API type shows a record exactly as the
// stored record was shown before the API had types of its own, whether
// every field is set or none is.
func TestResponsesKeepTheirJSON(t *testing.T) {
	check := func(what string, old, now any) {
		t.Helper()
		if o, n := mustJSON(t, old), mustJSON(t, now); o != n {
			t.Errorf("%s changed its JSON:\nwas %s\nnow %s", what, o, n)
		}
	}
	for _, full := range []bool{true, false} {
		alert, rec, rep, draft, user, tok, run, q := &store.Alert{}, &store.AuditRecord{}, &store.AuditReport{},
			&store.Draft{}, &store.User{}, &store.Token{}, &store.DrillRun{}, &store.Quarantine{}
		if full {
			alert, rec, rep, draft, user, tok, run, q = filled[store.Alert](), filled[store.AuditRecord](), filled[store.AuditReport](),
				filled[store.Draft](), filled[store.User](), filled[store.Token](), filled[store.DrillRun](), filled[store.Quarantine]()
		}
		check("alert", alert, AlertOf(alert))
		check("audit record", rec, AuditRecordOf(rec))
		check("audit report", rep, AuditReportOf(rep))
		// The sealed form of a draft is for the store only, never shown.
		shown := *draft
		shown.Sealed = ""
		check("draft", &shown, DraftOf(draft))
		check("user", accounts.Info(user), UserOf(user))
		check("token", accounts.TokenInfoOf(tok), TokenOf(tok))
		check("drill run", run, DrillRunOf(run))
		check("quarantine", struct {
			Reason string    `json:"reason"`
			By     string    `json:"by"`
			At     time.Time `json:"at"`
		}{q.Reason, q.By, q.At}, QuarantineViewOf(q))
	}
}

// mapAnswers were JSON objects built from maps, whose keys encoding/json
// sorts: their fields must stay in key order for the bytes to stay the same.
var mapAnswers = []string{"LoginRefused", "Health", "Validated", "CaseList", "Assigned", "PeerList", "QuarantineResult",
	"RosterApplied", "AlertList", "AuditRecords", "DraftList", "DraftSaved", "UserList", "TokenList", "NewToken",
	"TOTPEnrolment", "TOTPEnabled", "Partitioned", "Healed", "ClockSet"}

func TestMapAnswersKeepKeyOrder(t *testing.T) {
	for _, name := range mapAnswers {
		// encoding/json writes a struct's fields in their order.
		if keys := jsonKeys(responseTypes[name], false); !sort.StringsAreSorted(keys) {
			t.Errorf("%s: keys %v are not in order", name, keys)
		}
	}
}

// schemaTypes pairs the OpenAPI document's schemas with the API types
// they describe.
var schemaTypes = map[string]string{
	"Error": "ErrorBody", "Health": "Health", "Submission": "Submission", "CaseSummary": "CaseSummary",
	"CaseList": "CaseList", "MessageView": "MessageView", "ReceiptView": "ReceiptView", "PeerView": "PeerView",
	"PeerList": "PeerList", "RosterApplied": "RosterApplied", "HistoryEntry": "HistoryEntry", "ActResult": "ActResult",
	"Alert": "Alert", "AlertList": "AlertList", "DrillResult": "DrillResult", "DrillRun": "DrillRun",
	"AuditCheckpoint": "Checkpoint", "AuditReport": "AuditReport", "Me": "Me", "UserInfo": "User",
	"TokenInfo": "Token", "NewToken": "NewToken", "Draft": "Draft", "AuditRecord": "AuditRecord", "Stats": "Stats",
	"Quarantine": "QuarantineView", "QuarantineResult": "QuarantineResult",
}

// jsonKeys are the top-level keys a type's JSON can have, in the order
// they are written or sorted.
func jsonKeys(t reflect.Type, sorted bool) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonKeys(f.Type, false)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	if sorted {
		sort.Strings(out)
	}
	return out
}

// TestResponsesMatchOpenAPI: the documented schemas list exactly the
// fields the API types send.
func TestResponsesMatchOpenAPI(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, typeName := range schemaTypes {
		var s struct {
			Properties map[string]json.RawMessage `json:"properties"`
			AllOf      []struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"allOf"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[schema], &s); err != nil {
			t.Fatalf("schema %s: %v", schema, err)
		}
		var documented []string
		for k := range s.Properties {
			documented = append(documented, k)
		}
		sort.Strings(documented)
		if got := jsonKeys(responseTypes[typeName], true); !slices.Equal(got, documented) {
			t.Errorf("schema %s documents %v; type %s sends %v", schema, documented, typeName, got)
		}
	}
}
