// Package console serves the operator web console: static pages embedded in
// the binary, talking to the node's JSON API.
//
// The console is a single page: GET / and GET /ui/... all answer with
// assets/index.html, whose scripts route on the path client-side. Scripts,
// styles and icons are served from /assets/. Nothing is loaded from another
// origin and nothing is inline, so the Content-Security-Policy below can
// forbid everything else.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every response of the console.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

type asset struct {
	data  []byte
	ctype string
	etag  string
}

// load reads every embedded file once; the set is fixed at build time.
func load() map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(data)
		out[strings.TrimPrefix(p, "assets/")] = &asset{data: data, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("console: embedded assets: " + err.Error())
	}
	if out["index.html"] == nil {
		panic("console: assets/index.html is missing")
	}
	return out
}

// Handler serves the console: GET / and GET /ui/* answer with the single
// page (never cached, so a new binary's page is picked up at once), GET
// /assets/* the embedded files (revalidated by ETag). Anything else is 404.
// Every response carries a strict Content-Security-Policy and friends.
func Handler() http.Handler {
	files := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")

		var name string
		p := r.URL.Path
		switch {
		case p == "/" || p == "/ui" || strings.HasPrefix(p, "/ui/"):
			name = "index.html"
		case strings.HasPrefix(p, "/assets/"):
			name = strings.TrimPrefix(p, "/assets/")
		default:
			notFound(w)
			return
		}
		a := files[name]
		if a == nil {
			notFound(w)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.ctype)
		if strings.HasSuffix(name, ".html") {
			h.Set("Cache-Control", "no-store")
		} else {
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", a.etag)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("404 not found\n"))
}
