// Package client talks to a node's HTTP API: the one client the CLI, the
// test-network harness and the tests share. It authenticates with a bearer
// token (the node's bootstrap token or a personal API token) or with a
// console session (cookie and CSRF token, as a browser would), sends JSON,
// decodes 2xx answers into the caller's value (the response types of
// node/api/types) and turns every other answer into an *Error.
//
// It imports node/api/types, never node/api: the two sit on one floor of
// the layering.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
)

// DefaultTimeout bounds a whole call (connect, send, answer) unless
// WithTimeout or WithHTTPClient says otherwise.
const DefaultTimeout = 30 * time.Second

// SessionCookie is the prefix of the console's session cookie name
// (node/api.SessionCookieName adds the host and port).
const SessionCookie = "vigil_session"

// Error is an answer outside 2xx.
type Error struct {
	Method, Path string
	Status       int
	// Message and Fields are the API's error body ({error, fields}); a
	// body that is not one leaves Message the HTTP status text.
	Message string
	Fields  []protocol.FieldError
	// Body is the answer as received.
	Body []byte
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Text())
}

// Text is the message with one line per field at fault, for people.
func (e *Error) Text() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// StatusOf is the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Client calls one node's API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client

	mu   sync.Mutex
	csrf string // from Login; sent on state-changing calls
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every call with a bearer token.
func WithToken(token string) Option {
	return func(c *Client) { c.token = strings.TrimSpace(token) }
}

// WithTimeout bounds each call (DefaultTimeout otherwise); 0 means none,
// for calls bounded by their context alone (event streams).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.http.Timeout = d }
}

// WithHTTPClient sends through hc, e.g. one transport shared by the
// clients of many nodes. hc's own timeout applies.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithSession keeps cookies, as a browser does, so that Login starts a
// console session the later calls use.
func WithSession() Option {
	return func(c *Client) {
		jar, err := cookiejar.New(nil)
		if err != nil { // cookiejar.New fails only with a bad PublicSuffixList
			panic(err)
		}
		hc := *c.http
		hc.Jar = jar
		c.http = &hc
	}
}

// New returns a client for the API at base, e.g. http://127.0.0.1:8470.
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: DefaultTimeout}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Base is the API's base URL.
func (c *Client) Base() string { return c.base }

// CSRF is the session's CSRF token, empty before Login.
func (c *Client) CSRF() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.csrf
}

// SetCSRF replaces the CSRF token sent on state-changing calls; "" sends
// none (tests of the CSRF check).
func (c *Client) SetCSRF(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.csrf = tok
}

// Login starts a console session (the client needs WithSession) and
// decodes the caller's identity (node/api.Me) into out, if not nil. Later
// state-changing calls carry the session's CSRF token.
func (c *Client) Login(ctx context.Context, username, password, totp string, out any) error {
	var raw json.RawMessage
	in := map[string]string{"username": username, "password": password}
	if totp != "" {
		in["totp"] = totp
	}
	if _, err := c.Do(ctx, http.MethodPost, "/api/v1/login", in, &raw); err != nil {
		return err
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(raw, &me); err != nil {
		return fmt.Errorf("login: decode answer: %w", err)
	}
	c.SetCSRF(me.CSRF)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("login: decode answer: %w", err)
		}
	}
	return nil
}

// Get calls GET path and decodes the answer into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	_, err := c.Do(ctx, http.MethodGet, path, nil, out)
	return err
}

// Post calls POST path with in and decodes the answer into out.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	_, err := c.Do(ctx, http.MethodPost, path, in, out)
	return err
}

// Put calls PUT path with in and decodes the answer into out.
func (c *Client) Put(ctx context.Context, path string, in, out any) error {
	_, err := c.Do(ctx, http.MethodPut, path, in, out)
	return err
}

// Patch calls PATCH path with in and decodes the answer into out.
func (c *Client) Patch(ctx context.Context, path string, in, out any) error {
	_, err := c.Do(ctx, http.MethodPatch, path, in, out)
	return err
}

// Delete calls DELETE path.
func (c *Client) Delete(ctx context.Context, path string) error {
	_, err := c.Do(ctx, http.MethodDelete, path, nil, nil)
	return err
}

// Do sends one request and returns the HTTP status (0 if none came).
// in is the body: nil for none, []byte or json.RawMessage as they are,
// anything else as JSON. A 2xx answer is decoded into out unless out is
// nil; a *json.RawMessage receives the bytes. Any other answer is an
// *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (int, error) {
	status, _, err := c.DoHeader(ctx, method, path, nil, in, out)
	return status, err
}

// DoHeader is Do with extra request headers (nil for none); it also
// returns the answer's headers (nil if no answer came).
func (c *Client) DoHeader(ctx context.Context, method, path string, header http.Header, in, out any) (int, http.Header, error) {
	resp, err := c.send(ctx, method, path, header, in)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, resp.Header, newError(method, path, resp, b)
	}
	if out == nil {
		return resp.StatusCode, resp.Header, nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = b
		return resp.StatusCode, resp.Header, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.StatusCode, resp.Header, nil
}

// NewIdempotencyKey returns a fresh Idempotency-Key: a UUIDv7 (RFC 9562)
// in its canonical form. Any key of 1-128 printable characters works; a
// UUIDv7 also carries the time it was made, which lets the node seal the
// request so that a resubmission under the key is byte for byte the
// message its peer may already hold, and so send it while its own commit
// syncs (node/cases, resubmit.go). Make the key once per request, when it
// is first sent, and reuse it for every retry.
func NewIdempotencyKey() string {
	h := protocol.NewID(time.Now())
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// SubmitRequest posts a request document to POST /api/v1/requests. A
// non-empty idempotencyKey is sent as the Idempotency-Key header: sending
// the same document with the same key again (after a timeout, say)
// returns the original submission, with Replayed set, instead of a second
// request. Keys are the caller's own and remembered by the node for 24
// hours.
func (c *Client) SubmitRequest(ctx context.Context, doc []byte, idempotencyKey string) (types.Submission, error) {
	var hdr http.Header
	if idempotencyKey != "" {
		hdr = http.Header{types.IdempotencyKeyHeader: {idempotencyKey}}
	}
	var sub types.Submission
	_, rh, err := c.DoHeader(ctx, http.MethodPost, "/api/v1/requests", hdr, doc, &sub)
	if err != nil {
		return types.Submission{}, err
	}
	sub.Replayed = rh.Get(types.IdempotentReplayedHeader) == "true"
	return sub, nil
}

// Stream calls GET path and returns the 2xx answer's body unread, for an
// answer that does not end, such as the event stream GET /api/v1/events;
// the caller closes it. The client's timeout bounds the whole stream, so
// a client for streams is made WithTimeout(0). Any other answer is an
// *Error.
func (c *Client) Stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	return nil, newError(http.MethodGet, path, resp, b)
}

// send sends one request with the client's credentials and returns the
// answer, whatever its status.
func (c *Client) send(ctx context.Context, method, path string, header http.Header, in any) (*http.Response, error) {
	body, err := encode(in)
	if err != nil {
		return nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if csrf := c.CSRF(); csrf != "" && stateChanging(method) {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

func encode(in any) ([]byte, error) {
	switch v := in.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case json.RawMessage:
		return v, nil
	}
	return json.Marshal(in)
}

func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode, Body: body}
	var eb types.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		e.Message, e.Fields = eb.Error, eb.Fields
	} else {
		e.Message = resp.Status
	}
	return e
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}
