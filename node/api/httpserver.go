package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ServerOptions bounds what clients of the API can hold: time and
// connections. Zero values take the defaults.
type ServerOptions struct {
	// ReadTimeout bounds reading a whole request, body included, so a
	// client sending one byte every few seconds is cut off; default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; the event stream extends
	// its own deadline per write (streamWriteWindow); default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections unused this long;
	// default 120s.
	IdleTimeout time.Duration
	// MaxConnections caps open connections; more are answered 503 and
	// closed, so clients cannot exhaust the node's file descriptors;
	// default 1024.
	MaxConnections int
	// MaxConnectionsPerAddress caps open connections from one address
	// (an IPv4 address or an IPv6 /64), so that one client cannot take
	// them all; a TLS proxy in front is one address. Default 128.
	MaxConnectionsPerAddress int
}

const (
	readHeaderTimeout = 10 * time.Second
	maxHeaderBytes    = 64 << 10
	// streamWriteWindow is how long one write of the event stream may
	// take: a console that stops reading is dropped after it.
	streamWriteWindow = time.Minute
)

func (o ServerOptions) withDefaults() ServerOptions {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1024
	}
	if o.MaxConnectionsPerAddress <= 0 {
		o.MaxConnectionsPerAddress = 128
	}
	return o
}

// HTTPServer returns the http.Server for h with the timeouts and header
// limit of o, and ln wrapped with its connection caps. Serve the server on
// the returned listener.
func HTTPServer(ctx context.Context, h http.Handler, ln net.Listener, o ServerOptions, log *zap.Logger) (*http.Server, net.Listener) {
	o = o.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(readHeaderTimeout, o.ReadTimeout),
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// The server's own complaints (accept errors, panics, bad
		// handshakes) go to the node's log at warn, not to stderr.
		ErrorLog: zapStdLog(log.Named("http")),
	}
	return srv, newCappedListener(ln, o.MaxConnections, o.MaxConnectionsPerAddress, log.Named("api"))
}

func zapStdLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log, zap.WarnLevel)
	if err != nil { // only for an invalid level
		return zap.NewStdLog(log)
	}
	return l
}

// cappedListener counts open connections, in total and per address, and
// answers those over a cap with 503 instead of serving them.
type cappedListener struct {
	net.Listener
	max, perAddr int
	log          *zap.Logger

	mu     sync.Mutex
	open   int
	byAddr map[string]int
	// refusing bounds the goroutines that answer refused connections;
	// past it they are closed without an answer.
	refusing chan struct{}
	lastLog  time.Time
}

func newCappedListener(ln net.Listener, max, perAddr int, log *zap.Logger) *cappedListener {
	return &cappedListener{Listener: ln, max: max, perAddr: perAddr, log: log,
		byAddr: map[string]int{}, refusing: make(chan struct{}, 64)}
}

// addrKey is the unit counted per address: an IPv4 address or an IPv6 /64.
func addrKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		l.mu.Lock()
		over := ""
		switch {
		case l.open >= l.max:
			over = fmt.Sprintf("the node has %d open API connections, its limit", l.open)
		case l.byAddr[key] >= l.perAddr:
			over = fmt.Sprintf("%d open API connections from this address, the limit", l.byAddr[key])
		default:
			l.open++
			l.byAddr[key]++
		}
		logIt := over != "" && time.Since(l.lastLog) > 10*time.Second
		if logIt {
			l.lastLog = time.Now()
		}
		l.mu.Unlock()
		if over == "" {
			return &countedConn{Conn: c, l: l, key: key}, nil
		}
		if logIt { // at most one line per 10 s: a flood must not flood the log
			l.log.Warn("refusing API connections over the cap", zap.String("remote", key), zap.String("reason", over))
		}
		l.refuse(c, over)
	}
}

func (l *cappedListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
}

// refuse answers c with 503 and closes it. It reads what the client sent
// (briefly, bounded) before closing, so that the client sees the answer
// rather than a reset.
func (l *cappedListener) refuse(c net.Conn, why string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		body := `{"error":"too many connections: ` + why + `; try again shortly"}` + "\n"
		_ = c.SetDeadline(time.Now().Add(time.Second))
		// Read the request's head first (bounded): an answer written before
		// the client sent its request is one an HTTP client discards as
		// unsolicited, and the caller would see a broken connection, not
		// the reason.
		readRequestHead(c, 8<<10)
		_, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"+
			"X-Content-Type-Options: nosniff\r\nRetry-After: 5\r\nConnection: close\r\n"+
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))+body)
		if err != nil {
			return
		}
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}()
}

// readRequestHead reads from c up to the blank line that ends an HTTP
// request's head, at most limit bytes; it stops early at the deadline.
func readRequestHead(c net.Conn, limit int) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 512)
	for len(buf) < limit {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}

type countedConn struct {
	net.Conn
	l    *cappedListener
	key  string
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// streamWriter extends the connection's deadlines for a long-lived
// response (the event stream): no read deadline, since the request is
// read, and a fresh write window before each write, so WriteTimeout does
// not cut a stream that is being read, but one that is not is dropped.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	rc := http.NewResponseController(w)
	// Without this the server's background read would time out at
	// ReadTimeout and cancel the request's context.
	_ = rc.SetReadDeadline(time.Time{})
	sw := &streamWriter{ResponseWriter: w, rc: rc}
	sw.extend()
	return sw
}

func (w *streamWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(streamWriteWindow)) }

func (w *streamWriter) Write(b []byte) (int, error) { w.extend(); return w.ResponseWriter.Write(b) }

func (w *streamWriter) WriteHeader(code int) { w.extend(); w.ResponseWriter.WriteHeader(code) }

func (w *streamWriter) Flush() { w.extend(); _ = w.rc.Flush() }

// Unwrap lets http.ResponseController reach the server's writer.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streaming wraps a handler whose response is a long-lived stream.
func streaming(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h(newStreamWriter(w), r) }
}
