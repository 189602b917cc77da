package alerts

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-network/vigil/store"
)

// TestLogRaisedAtSeverityLevel: a critical alert is an error in the log,
// not a warning among many.
func TestLogRaisedAtSeverityLevel(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	for _, tc := range []struct {
		sev  store.Severity
		want zapcore.Level
	}{{Critical, zapcore.ErrorLevel}, {Warning, zapcore.WarnLevel}, {Info, zapcore.InfoLevel}} {
		LogRaised(log, "alert raised", &store.Alert{Kind: RosterExpired, Severity: tc.sev}, zap.String("country", "DE"))
		e := logs.TakeAll()
		if len(e) != 1 || e[0].Level != tc.want || e[0].ContextMap()["severity"] != string(tc.sev) ||
			e[0].ContextMap()["kind"] != string(RosterExpired) || e[0].ContextMap()["country"] != "DE" {
			t.Errorf("severity %s: logged %+v, want level %s", tc.sev, e, tc.want)
		}
	}
}
