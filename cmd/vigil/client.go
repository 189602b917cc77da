package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-network/vigil/node"
)

// apiClient talks to a node's HTTP API with the operator token. The CLI is
// a client like any other: everything it does, the API does.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

type clientFlags struct {
	config, api, token string
	json               bool
}

func (f *clientFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.config, "config", "vigil.yaml", "node config (for the API address and token file)")
	c.PersistentFlags().StringVar(&f.api, "api", os.Getenv("VIGIL_API"), "API base URL, e.g. http://127.0.0.1:8470 (env VIGIL_API)")
	c.PersistentFlags().StringVar(&f.token, "token", os.Getenv("VIGIL_TOKEN"), "API token (env VIGIL_TOKEN)")
	c.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON for scripts")
}

func (f *clientFlags) client() (*apiClient, error) {
	c := &apiClient{base: strings.TrimRight(f.api, "/"), token: f.token, http: &http.Client{Timeout: 30 * time.Second}}
	if c.base == "" || c.token == "" {
		cfg, err := node.LoadConfig(f.config)
		if err != nil {
			return nil, fmt.Errorf("no --api/--token given and %w", err)
		}
		if c.base == "" {
			c.base = "http://" + cfg.API.Listen
		}
		if c.token == "" {
			b, err := os.ReadFile(cfg.Path(cfg.API.TokenFile))
			if err != nil {
				return nil, fmt.Errorf("read API token: %w", err)
			}
			c.token = strings.TrimSpace(string(b))
		}
	}
	return c, nil
}

// apiError is the API's error body.
type apiError struct {
	Error  string `json:"error"`
	Fields []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"fields"`
}

// do sends a request and decodes a 2xx answer into out; other answers
// become errors that list the API's field errors.
func (c *apiClient) do(method, path string, body []byte, out any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		msg := e.Error
		for _, fe := range e.Fields {
			msg += fmt.Sprintf("\n  %s: %s", fe.Field, fe.Message)
		}
		return fmt.Errorf("%s", msg)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = b
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
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
