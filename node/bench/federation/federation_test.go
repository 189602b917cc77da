package federation

import (
	"os"
	"testing"
	"time"
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
