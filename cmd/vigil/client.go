package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/config"
)

// apiClient talks to a node's HTTP API with the operator token. The CLI is
// a client like any other: everything it does, the API does, through the
// one client the testnet harness and the tests use too.
type apiClient struct {
	*client.Client
}

type clientFlags struct {
	config, api, token, tokenFile string
	json                          bool
}

func (f *clientFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.config, "config", "vigil.yaml", "node config (for the API address and token file)")
	c.PersistentFlags().StringVar(&f.api, "api", os.Getenv("VIGIL_API"), "API base URL, e.g. http://127.0.0.1:8470 (env VIGIL_API)")
	c.PersistentFlags().StringVar(&f.tokenFile, "token-file", os.Getenv("VIGIL_TOKEN_FILE"), "file holding the API token (env VIGIL_TOKEN_FILE)")
	c.PersistentFlags().StringVar(&f.token, "token", "", "API token; discouraged: other users see it in the process list (use --token-file or env VIGIL_TOKEN)")
	c.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON for scripts")
}

// token is the API token from --token, --token-file or VIGIL_TOKEN, in
// that order; "" if none is given.
func (f *clientFlags) givenToken() (string, error) {
	if f.token != "" {
		return f.token, nil
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read API token: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("read API token: %s is empty", f.tokenFile)
		}
		return tok, nil
	}
	return strings.TrimSpace(os.Getenv("VIGIL_TOKEN")), nil
}

// client builds the API client from --api and the token (--token-file,
// VIGIL_TOKEN or --token), taking what is missing from the node config
// (--config).
func (f *clientFlags) client(opts ...client.Option) (*apiClient, error) {
	token, err := f.givenToken()
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(f.api, "/")
	if base == "" || token == "" {
		cfg, err := config.LoadConfig(f.config)
		if err != nil {
			return nil, fmt.Errorf("no --api and token (--token-file, VIGIL_TOKEN) given and %w", err)
		}
		if base == "" {
			base = "http://" + cfg.API.Listen
		}
		if token == "" {
			b, err := os.ReadFile(cfg.Path(cfg.API.TokenFile))
			if err != nil {
				return nil, fmt.Errorf("read API token: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	return &apiClient{client.New(base, append([]client.Option{client.WithToken(token)}, opts...)...)}, nil
}

// do sends a request and decodes a 2xx answer into out (a
// *json.RawMessage receives the bytes). An API error becomes an error
// that is the API's message with one line per field at fault; an answer
// without an error body is "METHOD PATH: STATUS".
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	_, _, err := c.doHeader(ctx, method, path, nil, in, out)
	return err
}

// doHeader is do with extra request headers; it returns the answer's
// headers too.
func (c *apiClient) doHeader(ctx context.Context, method, path string, hdr http.Header, in, out any) (int, http.Header, error) {
	status, rh, err := c.DoHeader(ctx, method, path, hdr, in, out)
	return status, rh, c.readable(method, path, err)
}

// readable turns an API error into the error people read (see do).
func (c *apiClient) readable(method, path string, err error) error {
	var e *client.Error
	if !errors.As(err, &e) {
		return err
	}
	var body types.ErrorBody
	if json.Unmarshal(e.Body, &body) != nil || body.Error == "" {
		return fmt.Errorf("%s %s: %s", method, path, e.Message)
	}
	return &refusal{text: e.Text(), err: e}
}

// refusal is an API error as people read it (the message with one line per
// field at fault), still carrying the *client.Error for callers that look
// at the status or the fields.
type refusal struct {
	text string
	err  *client.Error
}

func (r *refusal) Error() string { return r.text }
func (r *refusal) Unwrap() error { return r.err }

// fetch sends one request for a command. With --json it prints the answer
// as it came and reports printed; otherwise it decodes the answer into out
// (an API type). refused, if not empty, prefixes an API error ("request
// not sent: ...").
func (f *clientFlags) fetch(cmd *cobra.Command, method, path string, in, out any, refused string) (printed bool, err error) {
	cl, err := f.client()
	if err != nil {
		return false, err
	}
	var raw json.RawMessage
	if err := cl.do(cmd.Context(), method, path, in, &raw); err != nil {
		if refused != "" {
			return false, fmt.Errorf("%s: %w", refused, err)
		}
		return false, err
	}
	if f.json {
		return true, printJSON(cmd.OutOrStdout(), raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return false, nil
}

func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}
