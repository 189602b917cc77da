package node

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/vigil-network/vigil/node/config"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the node's root logger: JSON for production, console for
// development. Subsystems take named children (node.Named("delivery")).
func NewLogger(cfg config.LogConfig) (*zap.Logger, error) { return NewLoggerTo(cfg, nil) }

// NewLoggerTo is NewLogger writing to w instead of standard error (nodes
// that share a process each log to their own file); nil means stderr.
func NewLoggerTo(cfg config.LogConfig, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.Level, err)
	}
	var zc zap.Config
	if cfg.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
		zc.Sampling = nil // never drop a line from a 24/7 service's log
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	if w == nil {
		return zc.Build()
	}
	enc := zapcore.NewJSONEncoder(zc.EncoderConfig)
	if zc.Encoding == "console" {
		enc = zapcore.NewConsoleEncoder(zc.EncoderConfig)
	}
	return zc.Build(zap.WrapCore(func(zapcore.Core) zapcore.Core {
		return zapcore.NewCore(enc, zapcore.AddSync(w), zc.Level)
	}))
}

var libp2pLogOnce sync.Once

// RouteLibp2pLogs sends go-libp2p's slog output into zap, at warn and above
// (libp2p's info level is noise for an operator). It is process-wide, so the
// first node in a process wins.
func RouteLibp2pLogs(log *zap.Logger) {
	libp2pLogOnce.Do(func() { gologshim.SetDefaultHandler(libp2pHandler(log)) })
}

// libp2pHandler is the slog handler libp2p's loggers write to: log's core
// with a warn floor, each line named like the node's own
// ("node.libp2p.swarm2", where go-log's "logger" attribute gives the
// subsystem) and with its caller, so both kinds of line have one shape and
// a log filter on the logger name finds them.
func libp2pHandler(log *zap.Logger) slog.Handler {
	name := "libp2p"
	if log.Name() != "" {
		name = log.Name() + ".libp2p"
	}
	return newSubsystemHandler(levelFloor{log.Core(), zapcore.WarnLevel}, name, name)
}

// subsystemHandler turns gologshim's "logger" attribute into the zap
// logger name instead of a field (which in JSON repeated the "logger" key).
type subsystemHandler struct {
	slog.Handler
	core       zapcore.Core
	base, name string
}

func newSubsystemHandler(core zapcore.Core, base, name string) *subsystemHandler {
	return &subsystemHandler{Handler: zapslog.NewHandler(core, zapslog.WithName(name), zapslog.WithCaller(true)),
		core: core, base: base, name: name}
}

func (h *subsystemHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	next, rest := h, make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if a.Key == "logger" && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
			next = newSubsystemHandler(h.core, h.base, h.base+"."+a.Value.String())
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) == 0 {
		return next
	}
	return &subsystemHandler{Handler: next.Handler.WithAttrs(rest), core: next.core, base: next.base, name: next.name}
}

// levelFloor raises a core's minimum level.
type levelFloor struct {
	zapcore.Core
	min zapcore.Level
}

func (l levelFloor) Enabled(lvl zapcore.Level) bool {
	return lvl >= l.min && l.Core.Enabled(lvl)
}

func (l levelFloor) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !l.Enabled(e.Level) {
		return ce
	}
	return l.Core.Check(e, ce)
}

func (l levelFloor) With(f []zapcore.Field) zapcore.Core {
	return levelFloor{l.Core.With(f), l.min}
}
