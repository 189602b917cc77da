package node_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// exampleDoc is configs/examples/<kind>.json addressed to "to", after edit.
func exampleDoc(t *testing.T, kind, to string, edit func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile("../configs/examples/" + kind + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["to"] = to
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestComposeRequestFieldsInBrowser drives the compose form in Chromium
// for the T-CY(2018)11 and Second Protocol fields: the emergency mutual
// assistance kind (Art. 10) with its verification contact shown as
// required and its errors placed inline; an old preservation request
// whose investigating authority (T-CY item 7) is a string, read into the
// item 7 block; and a misspelt IANA time zone refused next to its input.
func TestComposeRequestFieldsInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	exe := chromium(t)
	f := newFederation(t, 2)
	f.addUser("FR", "claire", "operator", "claire-night-shift-pass")
	b := startBrowser(t, f, exe)
	fr := b.tab()
	run, text := b.run, b.text
	b.login(fr, "FR", "claire", "claire-night-shift-pass")
	run(fr, "open compose", chromedp.Click(css("#nav-compose")), chromedp.WaitVisible(css("#compose-form")))

	// Protocol Art. 10: the kind, the note on the verification contact and
	// the Art. 10 fields are offered.
	run(fr, "choose emergency mutual assistance",
		chromedp.Click(css("#compose-kind-emergency_mla")),
		chromedp.WaitVisible(css("#compose-kind-note")),
		chromedp.WaitVisible(css(`fieldset.warning[data-path="verification_contact"]`)),
		chromedp.WaitVisible(css(`[name="verification_contact.job_title"]`)),
		chromedp.WaitVisible(css(`[name="central_authority.organisation"]`)),
		chromedp.WaitVisible(css(`[name="assistance_relationship"]`)),
		chromedp.WaitVisible(css(`[name="oral_request.made_at"]`)),
		chromedp.WaitVisible(css(`[name="requesting_authority.fax"]`)),
		chromedp.WaitVisible(css(`[name="requesting_authority.reply_by_expedited_means"]`)),
		until(`document.querySelector('[name="central_authority_copy"]').checked`))
	if note := text(fr, "#compose-kind-note"); !strings.Contains(note, "Verification contact required") || !strings.Contains(note, "10(9)") {
		t.Fatalf("emergency MLA note: %q", note)
	}
	screenshot(t, fr, "compose-emergency-mla")

	// Without a verification contact the node names each missing field,
	// and the console puts the messages next to the inputs.
	mla := exampleDoc(t, "emergency_mla", "DE", func(m map[string]any) { delete(m, "verification_contact") })
	run(fr, "import an emergency MLA request without verification contact",
		void(chromedp.Evaluate[bool](`document.querySelector('details.import').open = true`)),
		setField("#compose-import", mla),
		chromedp.Click(css("#compose-import-load")),
		setField("#compose-to", "DE"),
		chromedp.Click(css("#compose-review")),
		chromedp.WaitVisible(css(`.field-error[data-field="verification_contact.job_title"]`)),
		chromedp.WaitVisible(css(`.field-error[data-field="verification_contact.person"]`)),
		chromedp.WaitVisible(css(`.field-error[data-field="verification_contact.phone"]`)),
		chromedp.WaitVisible(css(`.field-error[data-field="verification_contact.email"]`)))
	if v := text(fr, `.field-error[data-field="verification_contact.person"]`); !strings.Contains(v, "required") {
		t.Fatalf("verification contact error: %q", v)
	}

	// T-CY item 7 from an older request: the string is the organisation.
	const org = "OFAC, Section opérationnelle rançongiciels, Nanterre"
	old := exampleDoc(t, "preservation", "DE", func(m map[string]any) {
		m["investigating_authority"] = org
		m["requesting_authority"].(map[string]any)["time_zone"] = "Europe/Pariss"
	})
	run(fr, "import an old preservation request with a misspelt zone",
		void(chromedp.Evaluate[bool](`document.querySelector('details.import').open = true`)),
		setField("#compose-import", old),
		chromedp.Click(css("#compose-import-load")),
		until(`document.querySelector('#compose-kind-preservation').checked`),
		setField("#compose-to", "DE"),
		chromedp.Click(css("#compose-review")),
		chromedp.WaitVisible(css(`.field-error[data-field="requesting_authority.time_zone"]`)))
	if v, err := chromedp.Run(fr, chromedp.Value(css(`[name="investigating_authority.organisation"]`))); err != nil || v != org {
		t.Fatalf("item 7 organisation from the old string: %q (%v)", v, err)
	}
	if n, err := chromedp.Run(fr, chromedp.Evaluate[int](`document.querySelectorAll('#compose-kind-note').length`)); err != nil || n != 0 {
		t.Fatalf("preservation shows the emergency note (%d, %v)", n, err)
	}
	run(fr, "fix the zone and review",
		setField(`[name="requesting_authority.time_zone"]`, "Europe/Paris"),
		chromedp.Click(css("#compose-review")),
		chromedp.WaitVisible(css("#compose-send")),
		chromedp.WaitVisible(css(`#compose-review-body [data-path="investigating_authority.organisation"]`)))
	if v := text(fr, `#compose-review-body [data-path="investigating_authority.organisation"] dd`); v != org {
		t.Fatalf("review shows item 7 organisation %q", v)
	}
	screenshot(t, fr, "compose-review-old-preservation")

	// The node stores the request but its answer is lost (the browser's
	// fetch fails after the node answered): the console says the request
	// may be stored, and Send again sends it under the same UUIDv7
	// Idempotency-Key, so the node stores it once and the console opens it.
	run(fr, "lose the answer to the first send",
		void(chromedp.Evaluate[bool](`(() => {
			window.__keys = [];
			const real = window.fetch;
			window.fetch = async (path, opts) => {
				if (path === '/api/v1/requests' && opts && opts.method === 'POST') {
					window.__keys.push(opts.headers['Idempotency-Key']);
					const res = await real(path, opts);
					if (window.__keys.length === 1) throw new TypeError('connection reset');
					return res;
				}
				return real(path, opts);
			};
			return true;
		})()`)),
		chromedp.Click(css("#compose-send")),
		chromedp.WaitVisible(css("#compose-send-error")))
	if v := text(fr, "#compose-send-error"); !strings.Contains(v, "may or may not be stored") || !strings.Contains(v, "Send again") {
		t.Fatalf("lost answer: %q", v)
	}
	if n := f.outgoingAt("FR"); n != 1 {
		t.Fatalf("%d outgoing cases at FR after the lost answer, want the one stored", n)
	}
	run(fr, "send again", chromedp.Click(css("#compose-send")), chromedp.WaitVisible(css("#case-state")))
	keys, err := chromedp.Run(fr, chromedp.Evaluate[[]string](`window.__keys`))
	if err != nil || len(keys) != 2 || keys[0] != keys[1] ||
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(keys[0]) {
		t.Fatalf("the two sends carried keys %q (%v), want one UUIDv7 twice", keys, err)
	}
	if n := f.outgoingAt("FR"); n != 1 {
		t.Fatalf("%d outgoing cases at FR after Send again, want 1", n)
	}
}
