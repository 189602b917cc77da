package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vigil-network/vigil/store"
)

// Hooks sends new alerts to the configured webhook and command on a
// fixed pool of workers fed by a bounded queue. A hook that hangs or a
// burst of alerts can therefore hold at most hook_workers calls and
// hook_queue waiting alerts; the scheduler and every other caller of
// Dispatch never wait for a hook (issue 9: "alert hooks run through a
// bounded worker pool"). What does not fit is counted and skipped: the
// alert itself is already stored and shown in the API and console.
type Hooks struct {
	webhook string
	command []string
	queue   chan []byte
	log     *zap.Logger
	dropped func() // counts an alert that skipped the hooks

	mu       sync.Mutex
	lastWarn time.Time // drops are logged at most once a minute
	drops    int
}

// HookOptions configures the hooks (alerts.webhook, alerts.command,
// alerts.hook_queue).
type HookOptions struct {
	Webhook string
	Command []string
	Queue   int // alerts waiting for a worker; at least 1
}

// NewHooks builds the hooks; dropped counts an alert that skipped them
// because the queue was full. Run starts a worker.
func NewHooks(o HookOptions, log *zap.Logger, dropped func()) *Hooks {
	return &Hooks{webhook: o.Webhook, command: o.Command,
		queue: make(chan []byte, max(o.Queue, 1)), log: log, dropped: dropped}
}

// Enabled reports whether a webhook or command is configured.
func (h *Hooks) Enabled() bool { return h != nil && (h.webhook != "" || len(h.command) > 0) }

// Dispatch queues a for the hooks without blocking.
func (h *Hooks) Dispatch(a *store.Alert) {
	if !h.Enabled() {
		return
	}
	body, err := json.Marshal(a)
	if err != nil {
		h.log.Error("encode alert for hooks", zap.Error(err))
		return
	}
	select {
	case h.queue <- body:
		return
	default:
	}
	h.dropped()
	h.mu.Lock()
	h.drops++
	if time.Since(h.lastWarn) < time.Minute {
		h.mu.Unlock()
		return
	}
	drops := h.drops
	h.drops, h.lastWarn = 0, time.Now()
	h.mu.Unlock()
	h.log.Warn("alert hook queue full; alerts skipped the webhook and command (still in the API and console)",
		zap.Int("skipped", drops), zap.Int("queue", cap(h.queue)))
}

// Run is one worker; it returns when ctx ends.
func (h *Hooks) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-h.queue:
			h.call(ctx, body)
		}
	}
}

// call runs both hooks for one alert. Both get metadata only. Failures are
// logged; the alert stays in the API.
func (h *Hooks) call(ctx context.Context, body []byte) {
	if h.webhook != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(cctx, http.MethodPost, h.webhook, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					h.log.Error("alert webhook refused", zap.Int("status", resp.StatusCode))
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			h.log.Error("alert webhook", zap.Error(err))
		}
		cancel()
	}
	if len(h.command) > 0 {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, h.command[0], h.command[1:]...)
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil && ctx.Err() == nil {
			h.log.Error("alert command failed", zap.Error(err), zap.ByteString("output", out))
		}
		cancel()
	}
}

// LogLevel is the log level for an alert of severity sev, so that a log
// filter on level finds what the console shows in red: critical alerts are
// errors, warnings warnings, the rest info.
func LogLevel(sev store.Severity) zapcore.Level {
	switch sev {
	case Critical:
		return zapcore.ErrorLevel
	case Warning:
		return zapcore.WarnLevel
	default:
		return zapcore.InfoLevel
	}
}

// LogRaised logs a raised alert (or summary) at its severity's level, with
// the severity and kind as fields.
func LogRaised(log *zap.Logger, msg string, a *store.Alert, fields ...zap.Field) {
	log.Log(LogLevel(a.Severity), msg, append([]zap.Field{zap.String("kind", string(a.Kind)),
		zap.String("severity", string(a.Severity))}, fields...)...)
}
