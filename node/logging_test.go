package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigil-network/vigil/node/config"
)

// TestLibp2pLinesInTheNodesShape: a libp2p line (gologshim gives its
// subsystem as a "logger" attribute) comes out as one of the node's own
// JSON lines, named under the node's logger, with its caller and without a
// second "logger" key; below warn nothing is written.
func TestLibp2pLinesInTheNodesShape(t *testing.T) {
	var buf bytes.Buffer
	root, err := NewLoggerTo(config.LogConfig{Level: "debug", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	lib := slog.New(libp2pHandler(root.Named("DE"))).With("logger", "swarm2")
	lib.Info("dialing peer", "peer", "12D3KooW")
	lib.Debug("noise")
	if buf.Len() != 0 {
		t.Fatalf("libp2p info/debug logged: %s", buf.String())
	}
	lib.Warn("dial failed", "peer", "12D3KooW")
	line := strings.TrimSpace(buf.String())
	if strings.Count(line, `"logger"`) != 1 || strings.Count(line, "\n") != 0 {
		t.Fatalf("want one line with one logger key: %s", line)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	if got["logger"] != "DE.libp2p.swarm2" || got["level"] != "warn" || got["msg"] != "dial failed" ||
		got["peer"] != "12D3KooW" || got["ts"] == nil || !strings.Contains(fmt.Sprint(got["caller"]), "logging_test.go") {
		t.Fatalf("libp2p line %v", got)
	}
	// The node's own line for comparison: the same keys.
	buf.Reset()
	root.Named("DE").Named("delivery").Warn("delivery to peer failed")
	var own map[string]any
	if err := json.Unmarshal(buf.Bytes(), &own); err != nil {
		t.Fatal(err)
	}
	for k := range own {
		if _, ok := got[k]; !ok {
			t.Errorf("libp2p line lacks %q, which the node's lines have", k)
		}
	}
}
