//go:build smoke

package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vigil-network/vigil/protocol"
)

type mock struct {
	mu       sync.Mutex
	loggedIn bool
	cases    []map[string]any
	views    map[string]map[string]any
	events   chan string
	drafts   map[string]map[string]any
	posted   []string
}

func now() time.Time { return time.Now().UTC() }

func (m *mock) handler() http.Handler {
	mux := http.NewServeMux()
	ui := Handler()
	mux.Handle("/", ui)
	js := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m.mu.Lock()
			ok := m.loggedIn
			m.mu.Unlock()
			if !ok {
				js(w, 401, map[string]any{"error": "not signed in"})
				return
			}
			if r.Method != "GET" && r.Header.Get("X-CSRF-Token") != "csrf123" {
				js(w, 403, map[string]any{"error": "csrf"})
				return
			}
			if r.Method != "GET" {
				m.mu.Lock()
				m.posted = append(m.posted, r.Method+" "+r.URL.Path)
				m.mu.Unlock()
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/me", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"name": "alice", "role": "admin", "csrf_token": "csrf123", "totp_enabled": true})
	}))
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		json.NewDecoder(r.Body).Decode(&b)
		if b["username"] != "alice" || b["password"] != "pw" {
			js(w, 401, map[string]any{"error": "wrong user name or password"})
			return
		}
		if b["totp"] == "" {
			js(w, 401, map[string]any{"error": "code required", "totp_required": true})
			return
		}
		if b["totp"] != "123456" {
			js(w, 401, map[string]any{"error": "wrong code", "totp_required": true})
			return
		}
		m.mu.Lock()
		m.loggedIn = true
		m.mu.Unlock()
		js(w, 200, map[string]any{"name": "alice", "role": "admin", "csrf_token": "csrf123"})
	})
	mux.HandleFunc("POST /api/v1/logout", auth(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.loggedIn = false
		m.mu.Unlock()
		w.WriteHeader(204)
	}))
	mux.HandleFunc("GET /api/v1/cases", auth(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		js(w, 200, map[string]any{"cases": m.cases})
	}))
	mux.HandleFunc("GET /api/v1/alerts", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"alerts": []map[string]any{
			{"id": "c1/ack_overdue", "case_id": "11111111111111111111111111111111", "kind": "ack_overdue", "severity": "critical", "country": "LV", "message": "emergency request not acknowledged by FR within its deadline", "due_at": now().Add(-5 * time.Minute), "raised_at": now().Add(-4 * time.Minute)},
			{"id": "roster", "kind": "roster_expiring", "severity": "warning", "message": "roster expires in 6 days", "raised_at": now().Add(-time.Hour)},
		}})
	}))
	mux.HandleFunc("GET /api/v1/events", auth(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, "retry: 3000\n: connected\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case e := <-m.events:
				fmt.Fprint(w, e)
				w.(http.Flusher).Flush()
			}
		}
	}))
	mux.HandleFunc("GET /api/v1/peers", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"roster_serial": 7, "roster_valid_until": now().Add(5 * 24 * time.Hour), "peers": []map[string]any{
			{"country": "FR", "organisation": "OFAC", "peer_id": "12D3KooWself", "self": true, "connected": false, "outbox": 0, "time_zone": "Europe/Paris", "office_hours": "Mon-Fri 08:30-18:30", "languages": []string{"fr", "en"}, "fallback_phone": "+33 1", "fallback_email": "a@b.fr"},
			{"country": "DE", "organisation": "BKA", "peer_id": "12D3KooWde", "connected": true, "last_seen": now(), "rtt_ms": 12.3, "outbox": 0, "time_zone": "Europe/Berlin", "office_hours": "Mon-Fri 08:00-18:00", "languages": []string{"de", "en"}, "fallback_phone": "+49 611 55-0", "fallback_email": "247@bka.example.de"},
			{"country": "LV", "organisation": "State Police", "peer_id": "12D3KooWlv", "connected": false, "last_seen": now().Add(-3 * time.Hour), "outbox": 2, "time_zone": "Europe/Riga", "office_hours": "24/7", "languages": []string{"lv", "en"}, "fallback_phone": "+371", "fallback_email": "x@lv"},
		}})
	}))
	mux.HandleFunc("POST /api/v1/requests/validate", auth(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := protocol.ParseRequest(body)
		var verr *protocol.ValidationError
		if errors.As(err, &verr) {
			js(w, 422, map[string]any{"error": "request is invalid", "fields": verr.Fields})
			return
		}
		js(w, 200, map[string]any{"ok": true})
	}))
	mux.HandleFunc("POST /api/v1/requests", auth(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := protocol.ParseRequest(body)
		if err != nil {
			js(w, 422, map[string]any{"error": "invalid"})
			return
		}
		id := "22222222222222222222222222222222"
		m.mu.Lock()
		sum := map[string]any{"id": id, "direction": "outgoing", "country": req.Recipient(), "kind": string(req.RequestKind()), "state": "open", "delivery": "queued", "urgency": "urgent", "created_at": now(), "updated_at": now()}
		m.cases = append(m.cases, sum)
		v := map[string]any{}
		for k, x := range sum {
			v[k] = x
		}
		v["peer"] = "12D3KooWde"
		v["role"] = "requester"
		v["available_actions"] = []string{"withdraw"}
		v["request"] = json.RawMessage(body)
		v["history"] = []any{}
		v["messages"] = []map[string]any{{"id": "m1", "type": "request", "direction": "outgoing", "country": "DE", "state": "queued", "attempts": 0, "created_at": now()}}
		m.views[id] = v
		m.mu.Unlock()
		js(w, 201, map[string]any{"case_id": id, "message_id": "m1"})
	}))
	mux.HandleFunc("GET /api/v1/cases/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		v, ok := m.views[r.PathValue("id")]
		if !ok {
			js(w, 404, map[string]any{"error": "no case"})
			return
		}
		js(w, 200, v)
	}))
	mux.HandleFunc("POST /api/v1/cases/{id}/actions", auth(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, err := protocol.ParseAction(body)
		var verr *protocol.ValidationError
		if errors.As(err, &verr) {
			js(w, 422, map[string]any{"error": "action is invalid", "fields": verr.Fields})
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		v := m.views[r.PathValue("id")]
		if a.Action == "withdraw" {
			js(w, 409, map[string]any{"error": "cannot withdraw a case that is open: test conflict"})
			return
		}
		from := v["state"].(string)
		to := "acknowledged"
		if a.Action == "confirm_preservation" {
			to = "preserved"
			v["expires_at"] = now().Add(90 * 24 * time.Hour)
			v["available_actions"] = []string{"disclose_traffic", "release"}
		} else {
			v["available_actions"] = []string{"request_info", "confirm_preservation", "insufficiency_notice", "refuse"}
			v["acknowledged_at"] = now()
		}
		v["state"] = to
		det, _ := json.Marshal(a)
		v["history"] = append(v["history"].([]any), map[string]any{"message_id": "a" + to, "by": "responder", "at": now(), "action": a.Action, "seq": 1, "operator": a.Operator, "from": from, "to": to, "details": json.RawMessage(det)})
		v["messages"] = append(v["messages"].([]map[string]any), map[string]any{"id": "a" + to, "type": "action", "direction": "outgoing", "country": "LV", "state": "delivered", "attempts": 1, "created_at": now(), "delivered_at": now(), "receipt": map[string]any{"receiver": "x", "received_at": now(), "message_hash": "ab", "signature": "cd", "verified": true}})
		for _, c := range m.cases {
			if c["id"] == r.PathValue("id") {
				c["state"] = to
				c["acknowledged_at"] = now()
			}
		}
		js(w, 201, map[string]any{"message_id": "a" + to, "state": to})
	}))
	mux.HandleFunc("GET /api/v1/drafts", auth(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		out := []map[string]any{}
		for id, d := range m.drafts {
			out = append(out, map[string]any{"id": id, "kind": d["kind"], "to": d["to"], "updated_at": d["updated_at"]})
		}
		js(w, 200, map[string]any{"drafts": out})
	}))
	mux.HandleFunc("/api/v1/drafts/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		id := r.PathValue("id")
		switch r.Method {
		case "PUT":
			var d map[string]any
			json.NewDecoder(r.Body).Decode(&d)
			d["updated_at"] = now()
			d["id"] = id
			m.drafts[id] = d
			js(w, 200, map[string]any{"id": id, "updated_at": now()})
		case "GET":
			js(w, 200, m.drafts[id])
		case "DELETE":
			delete(m.drafts, id)
			w.WriteHeader(204)
		}
	}))
	mux.HandleFunc("GET /api/v1/audit", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"records": []map[string]any{{"seq": 2, "at": now(), "actor": "user:alice", "action": "case.viewed", "case_id": "11111111111111111111111111111111"}, {"seq": 1, "at": now(), "actor": "node", "action": "node.started", "detail": "<b>not html</b>"}}})
	}))
	mux.HandleFunc("GET /api/v1/audit/verify", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"Records": 2, "Root": "abcd", "Checkpoints": 1, "OK": true})
	}))
	mux.HandleFunc("GET /api/v1/stats", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"by_country": map[string]int{"LV": 1, "DE": 2}, "by_kind": map[string]int{"preservation": 3}, "by_outcome": map[string]int{}, "by_state": map[string]int{"open": 2}, "ack_minutes": map[string]any{"count": 1, "median": 12.5, "p90": 12.5}})
	}))
	mux.HandleFunc("GET /api/v1/users", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"users": []map[string]any{{"name": "alice", "role": "admin", "totp_enabled": true, "content_access": true}, {"name": "bob", "role": "operator"}}})
	}))
	mux.HandleFunc("GET /api/v1/tokens", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"tokens": []map[string]any{{"id": "t1", "name": "cli", "created_at": now()}}})
	}))
	mux.HandleFunc("POST /api/v1/tokens", auth(func(w http.ResponseWriter, r *http.Request) {
		js(w, 201, map[string]any{"id": "t2", "token": "vgl_secret_raw_token"})
	}))
	return mux
}

func TestSmokeBrowser(t *testing.T) {
	id1 := "11111111111111111111111111111111"
	m := &mock{events: make(chan string, 10), views: map[string]map[string]any{}, drafts: map[string]map[string]any{}}
	m.cases = []map[string]any{
		{"id": id1, "direction": "incoming", "country": "LV", "kind": "preservation", "state": "open", "delivery": "received", "urgency": "urgent", "created_at": now().Add(-40 * time.Minute), "updated_at": now(), "ack_due_at": now().Add(-10 * time.Minute), "requester_time_zone": "Europe/Riga", "requester_office_hours": "Mon-Fri 09:00-17:00"},
		{"id": "33333333333333333333333333333333", "direction": "incoming", "country": "DE", "kind": "assistance", "state": "open", "delivery": "received", "urgency": "routine", "created_at": now().Add(-1 * time.Minute), "updated_at": now(), "ack_due_at": now().Add(24 * time.Hour)},
		{"id": "44444444444444444444444444444444", "direction": "outgoing", "country": "DE", "kind": "preservation", "state": "preserved", "delivery": "delivered", "urgency": "urgent", "created_at": now().Add(-48 * time.Hour), "updated_at": now(), "acknowledged_at": now().Add(-47 * time.Hour), "expires_at": now().Add(2 * 24 * time.Hour)},
	}
	ex, _ := os.ReadFile("../../configs/examples/preservation.json")
	m.views[id1] = map[string]any{"id": id1, "direction": "incoming", "country": "LV", "kind": "preservation", "state": "open", "delivery": "received", "urgency": "urgent",
		"created_at": now().Add(-40 * time.Minute), "updated_at": now(), "ack_due_at": now().Add(-10 * time.Minute), "requester_time_zone": "Europe/Paris", "requester_office_hours": "Mon-Fri 08:30-18:30",
		"peer": "12D3KooWlv", "role": "responder", "available_actions": []string{"acknowledge", "request_info", "confirm_preservation", "insufficiency_notice", "refuse"},
		"request": json.RawMessage(ex), "history": []any{map[string]any{"message_id": "bad", "by": "requester", "at": now().Add(-30 * time.Minute), "action": "withdraw", "seq": 1, "operator": "X", "from": "open", "to": "open", "invalid": "cannot withdraw: test invalid"}},
		"messages": []map[string]any{{"id": "req1", "type": "request", "direction": "incoming", "country": "LV", "state": "received", "created_at": now().Add(-40 * time.Minute)}}}

	srv := httptest.NewServer(m.handler())
	defer srv.Close()

	opts := append(append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...), chromedp.NoSandbox, chromedp.ExecPath("/usr/bin/chromium"), chromedp.WindowSize(1400, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var jsMu sync.Mutex
	var jsErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		jsMu.Lock()
		defer jsMu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			jsErrors = append(jsErrors, fmt.Sprintf("exception: %s at %s:%d", desc, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == "warning" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				jsErrors = append(jsErrors, "console "+string(e.Type)+": "+strings.Join(parts, " "))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	type A = chromedp.Action[chromedp.Void]
	C := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	do := func(name string, acts ...A) {
		t.Helper()
		if err := chromedp.Do(ctx, acts...); err != nil {
			jsMu.Lock()
			defer jsMu.Unlock()
			t.Fatalf("%s: %v (js errors: %v)", name, err, jsErrors)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(C(sel)))
		if err != nil {
			t.Fatalf("text %s: %v", sel, err)
		}
		return v
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("eval %s: %v", expr, err)
		}
		return fmt.Sprint(v)
	}
	shot := func(name string) {
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		os.WriteFile("/tmp/smoke-"+name+".png", b, 0o644)
	}
	vshot := func(name, scrollTo string) {
		if scrollTo != "" {
			eval(`document.querySelector('` + scrollTo + `').scrollIntoView({block:'start'}); window.scrollBy(0,-60); 1`)
		}
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		os.WriteFile("/tmp/v-"+name+".png", b, 0o644)
	}
	click := func(sel string) A { return chromedp.Click(C(sel)) }
	wait := func(sel string) A { return chromedp.WaitVisible(C(sel)) }

	do("login page",
		chromedp.Navigate(srv.URL+"/ui/cases/"+id1),
		wait("#login-username"),
		chromedp.SendKeys(C("#login-username"), "alice"),
		chromedp.SendKeys(C("#login-password"), "pw"),
		click("#login-submit"),
		wait("#login-totp"))
	t.Logf("login error text: %q", text("#login-error"))
	shot("login-totp")
	do("totp", chromedp.SendKeys(C("#login-totp"), "123456"), click("#login-submit"), wait("#case-state"), chromedp.Sleep(500*time.Millisecond))
	t.Logf("case state %q delivery %q", text("#case-state"), text("#case-delivery"))
	shot("case")
	do("acknowledge", click(`button[data-action="acknowledge"]`), wait("#action-submit"), click("#action-submit"),
		wait(`button[data-action="confirm_preservation"]`), chromedp.Sleep(300*time.Millisecond))
	t.Logf("after ack: %q; result %q", text("#case-state"), text("#action-result"))
	do("confirm invalid", click(`button[data-action="confirm_preservation"]`), wait(`#action-form input[name="executing_authority"]`),
		chromedp.SetValue(C(`#action-form input[name="period_days"]`), "30"), click("#action-submit"),
		wait(`.field-error[data-field="period_days"]`))
	t.Logf("action error: %q; operator=%s", text("#action-error"), eval(`document.querySelector('#action-form [name=operator]').value`))
	shot("action-422")
	vshot("action-422", "#actions-h")
	do("dashboard", click("#nav-dashboard"), wait(`#incoming-cases tr[data-case-id="`+id1+`"]`))
	t.Logf("dashboard state %q delivery %q banner %q rows %s", text(`#incoming-cases tr[data-case-id="`+id1+`"] .state`),
		text(`#incoming-cases tr[data-case-id="`+id1+`"] .delivery`), text("#alerts-banner"), eval(`document.querySelectorAll('#incoming-cases tbody tr').length`))
	shot("dashboard")
	m.mu.Lock()
	nc := map[string]any{"id": "55555555555555555555555555555555", "direction": "incoming", "country": "DE", "kind": "emergency", "state": "open", "delivery": "received", "urgency": "emergency", "created_at": now(), "updated_at": now(), "ack_due_at": now().Add(10 * time.Minute)}
	m.cases = append(m.cases, nc)
	m.mu.Unlock()
	b, _ := json.Marshal(nc)
	m.events <- "event: case\ndata: " + string(b) + "\n\n"
	do("sse", wait(`#incoming-cases tr[data-case-id="55555555555555555555555555555555"]`), chromedp.Sleep(300*time.Millisecond))
	t.Logf("order %s; live %q; title %q", eval(`Array.from(document.querySelectorAll('#incoming-cases tbody tr')).map(r => r.dataset.caseId.slice(0,2)).join(',')`),
		text("#live-region-urgent"), eval(`document.title`))
	do("compose errors", click("#nav-compose"), wait("#compose-kind-preservation"), chromedp.Sleep(300*time.Millisecond),
		chromedp.SetValue(C(`#compose-fields input[name="identifiers[0].value"]`), "not-an-ip"),
		chromedp.SetValue(C(`#compose-fields select[name="identifiers[0].type"]`), "ip"),
		click("#compose-review"), wait(`.field-error[data-field="identifiers[0].value"]`))
	t.Logf("compose: %s errors; top %q; focused %s", eval(`document.querySelectorAll('.field-error').length`), text("#compose-errors"), eval(`document.activeElement.name`))
	shot("compose-errors")
	vshot("compose-top", "#compose-h")
	vshot("compose-ident", "fieldset.list")
	do("rows", click("fieldset.list[data-path=identifiers] .add-item"), click("fieldset.list[data-path=identifiers] .add-item"),
		chromedp.SetValue(C(`[name="identifiers[2].value"]`), "third"), click(`fieldset[data-path="identifiers[0]"] .remove-item`))
	t.Logf("rows after remove: %s", eval(`Array.from(document.querySelectorAll('fieldset.list[data-path=identifiers] .list-item')).map(f => f.dataset.path + '=' + f.querySelector('[name$=".value"]').value + '/' + f.querySelector('[name$=".value"]').name).join(', ')`))
	do("kind switch", click("#compose-kind-emergency"), wait(`#compose-fields textarea[name="emergency_facts"]`),
		click("#compose-kind-preservation"), wait(`#compose-fields textarea[name="facts_summary"]`))
	eval(`document.querySelector('details.import').open = true`)
	do("import", chromedp.SetValue(C("#compose-import"), string(ex)), click("#compose-import-load"), chromedp.Sleep(200*time.Millisecond))
	t.Logf("imported %s", eval(`document.querySelector('[name="identifiers[1].value"]').value + ' | ' + document.querySelector('[name="identifiers[0].from"]').value + ' | to=' + document.getElementById('compose-to').value`))
	do("draft", click("#compose-save-draft"), chromedp.Sleep(400*time.Millisecond))
	t.Logf("draft status %q url %s", text("#compose-status"), eval(`location.href`))
	do("draft reopen", click("#compose-reset"), chromedp.Sleep(200*time.Millisecond), wait("#drafts-list button"), click("#drafts-list button"), chromedp.Sleep(400*time.Millisecond))
	t.Logf("drafts open=%s list=%s status=%q", eval(`document.getElementById('drafts').open`), eval(`document.getElementById('drafts-list').textContent`), text("#compose-draft-status"))
	t.Logf("reopened draft: ref=%s to=%s", eval(`document.querySelector('[name=reference]').value`), eval(`document.getElementById('compose-to').value`))
	do("review", click("#compose-review"), wait("#compose-send"))
	shot("review")
	vshot("review", "#review-h")
	do("send", click("#compose-send"), wait("#case-state"), chromedp.Sleep(400*time.Millisecond))
	t.Logf("after send at %s delivery %q drafts %d", eval(`location.pathname`), text("#case-delivery"), len(m.drafts))
	shot("sent-case")
	vshot("sent-case-timeline", "#timeline-h")
	do("409", click(`button[data-action="withdraw"]`), wait("#action-submit"), click("#action-submit"), wait("#action-error"))
	t.Logf("409: %q", text("#action-error"))
	do("network", click("#nav-network"), wait(`#peers-table tr[data-country="DE"]`))
	shot("network")
	do("audit", click("#nav-audit"), wait(`#audit-records tr[data-seq="1"]`), click("#audit-verify"), wait("#audit-verify-result dl"), chromedp.Sleep(200*time.Millisecond))
	shot("audit")
	do("users", click("#nav-users"), wait(`#users-table tr[data-user="bob"]`))
	shot("users")
	do("account", click("#nav-account"), wait(`#tokens-table tr[data-token-id="t1"]`), chromedp.SendKeys(C("#token-new-name"), "x"), click("#token-create"), wait("#token-raw"))
	v, _ := chromedp.Run(ctx, chromedp.Value(C("#token-raw")))
	t.Logf("token %q", v)
	shot("account")
	eval(`document.documentElement.setAttribute('data-theme','dark')`)
	do("dark", click("#nav-dashboard"), chromedp.Sleep(300*time.Millisecond))
	shot("dashboard-dark")
	eval(`document.activeElement.blur()`)
	do("keyboard", chromedp.KeyEvent("g"), chromedp.KeyEvent("c"), wait("#compose-kind-preservation"), chromedp.KeyEvent("?"), wait("#help-dialog"))
	shot("help")
	t.Logf("after g c: %s", eval(`location.pathname`))
	m.mu.Lock()
	m.loggedIn = false
	m.mu.Unlock()
	do("expire", chromedp.Navigate(srv.URL+"/ui/cases/"+id1), wait("#login-username"))
	m.mu.Lock()
	m.loggedIn = true
	m.mu.Unlock()
	do("expire2", chromedp.Navigate(srv.URL+"/ui/cases/"+id1), wait("#case-state"))
	m.mu.Lock()
	m.loggedIn = false
	m.mu.Unlock()
	do("expire3", click("#case-refresh"), wait("#login-password"))
	t.Logf("expired: %q", text("#login-error"))
	do("relogin", chromedp.SendKeys(C("#login-password"), "pw"), click("#login-submit"), wait("#login-totp"), chromedp.SendKeys(C("#login-totp"), "123456"), click("#login-submit"), wait("#case-print"))
	t.Logf("resumed at %s, case body hidden=%s", eval(`location.pathname`), eval(`document.getElementById('case-body').hidden`))
	do("print", chromedp.Navigate(srv.URL+"/ui/cases/"+id1), wait("#case-print"), chromedp.Sleep(300*time.Millisecond), click("#case-print"), chromedp.Sleep(600*time.Millisecond))
	t.Logf("print mode: %q", eval(`document.body.className`))
	shot("print")
	do("logout", click("#logout"), wait("#login-username"))
	m.mu.Lock()
	t.Logf("posted: %v", m.posted)
	m.mu.Unlock()
	jsMu.Lock()
	defer jsMu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("JS errors: %s", strings.Join(jsErrors, "\n"))
	}
}
