package federation

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/bench"
)

func TestAppliedAtReadsNodeLog(t *testing.T) {
	path := t.TempDir() + "/node.log"
	log := `{"level":"info","ts":"2026-11-29T11:15:28.100Z","msg":"node started"}
{"level":"info","ts":"2026-11-29T11:15:29.250Z","logger":"node.roster","msg":"applied new roster","source":"peer:x","serial":2,"previous_serial":1}
{"level":"info","ts":"2026-11-29T11:16:00.000Z","logger":"node.roster","msg":"applied new roster","source":"api","serial":3,"previous_serial":2}
{"level":"info","ts":"2026-11-29T12:17:00.500+0100","logger":"node.roster","msg":"applied new roster","source":"api","serial":5,"previous_serial":3}
`
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	at, ok := appliedAt(path, 2)
	if want := time.Date(2026, 11, 29, 11, 15, 29, 250e6, time.UTC); !ok || !at.Equal(want) {
		t.Errorf("appliedAt(serial 2) = %v, %v; want %v", at, ok, want)
	}
	if at, ok := appliedAt(path, 5); !ok || !at.Equal(time.Date(2026, 11, 29, 11, 17, 0, 500e6, time.UTC)) {
		t.Errorf("appliedAt(serial 5, a +0100 time) = %v, %v", at, ok)
	}
	if _, ok := appliedAt(path, 4); ok {
		t.Error("found serial 4, which the log does not hold")
	}
}

// TestProcfs reads this test process's memory and CPU from /proc.
func TestProcfs(t *testing.T) {
	m, err := procMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Anon <= 0 || m.Threads < 1 || m.RSS < m.Anon {
		t.Errorf("procMem(self) = %+v", m)
	}
	if _, ok := cpuTicks(os.Getpid()); !ok {
		t.Error("cpuTicks(self) failed")
	}
	if memAvailable() <= 0 {
		t.Error("no MemAvailable in /proc/meminfo")
	}
	if _, err := procMem(-1); err == nil {
		t.Error("procMem(-1) found a process")
	}
}

// TestReportForms checks the report's JSON keeps its field names (the
// numbers' summaries with bare names and their sum; the latency floor in
// node/bench's form) and its text shows the floor.
func TestReportForms(t *testing.T) {
	var rep Report
	rep.Nodes = 6
	rep.RSSMiB = bench.Summarize([]float64{16, 18})
	rep.Floor.Latency = &bench.Floor{Fsync: bench.SummarizeDurations([]time.Duration{2 * time.Millisecond}),
		Latency: bench.Duration(5 * time.Millisecond)}
	rep.Load.Submitted, rep.Load.DeliveredMs = 2, bench.Summarize([]float64{10, 20})
	b, err := json.Marshal(&rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rss_mib":{"n":2,"min":16,"p50":16,"p90":18,"p99":18,"p999":18,"max":18,"mean":17,"sum":34}`,
		`"latency":{"fsync":{"n":1,"min_ms":2,`, `"latency_ms":5`, `"nodes":6`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.RSSMiB != rep.RSSMiB || back.Floor.Latency.Latency != rep.Floor.Latency.Latency {
		t.Errorf("read back %+v (%v)", back, err)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(text.String()), " ") // whatever the column widths
	for _, want := range []string{"fsync 4 KiB 2.00 2.00", "request floor (2×fsync + round trip + crypto) 5.00",
		"receipt latency ÷ request floor 2.0× 4.0×"} {
		if !strings.Contains(words, want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
