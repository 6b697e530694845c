// Package webui holds Parley's web app: plain HTML, CSS and JavaScript modules embedded
// in the binary (no build step, nothing fetched at run time), and the http.Handler that
// serves them. The local API (package localapi) serves this handler outside /v1 and
// handles the login; the app itself talks to the node only through the /v1 API.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Files are the web app's files, rooted at the app's top folder (index.html, js/...).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the folder is embedded at build time; it cannot be missing
	}
	return sub
}

// contentSecurityPolicy lets the page load only its own scripts, styles and API: no
// inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Handler serves the app's files. They hold no data, so it needs no authorization;
// the page logs in through the API.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the web app's files are read-only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // a new binary's app is picked up at once
		files.ServeHTTP(w, r)
	})
}
