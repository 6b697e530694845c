package localapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/webui"
)

// How the web app logs in. `parley open` asks for a one-time login link (bearer token
// only); opening it in a browser trades the code for a session cookie. Sessions live in
// this process's memory, so a restart of the node logs every browser out.
const (
	loginCodeTTL      = 2 * time.Minute
	maxPendingLogins  = 64 // unused codes kept at once; the oldest is dropped first
	maxSessions       = 256
	sessionCookieBase = "parley_session_" // + the API's port: one cookie per node on a machine
)

// webAuth holds the one-time login codes and the sessions of the web app.
type webAuth struct {
	now func() time.Time

	mu       sync.Mutex
	codes    map[string]time.Time // code → expiry
	sessions map[string]time.Time // session → when it was made
}

func newWebAuth() *webAuth {
	return &webAuth{now: time.Now, codes: map[string]time.Time{}, sessions: map[string]time.Time{}}
}

// newCode makes a login code valid for loginCodeTTL.
func (a *webAuth) newCode() (string, time.Time) {
	code := randomToken()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for c, exp := range a.codes {
		if !now.Before(exp) {
			delete(a.codes, c)
		}
	}
	if len(a.codes) >= maxPendingLogins {
		deleteOldest(a.codes)
	}
	exp := now.Add(loginCodeTTL)
	a.codes[code] = exp
	return code, exp
}

// redeem consumes code and returns a new session, or false if the code is unknown,
// used or expired.
func (a *webAuth) redeem(code string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.codes[code]
	if !ok {
		return "", false
	}
	delete(a.codes, code)
	if !a.now().Before(exp) {
		return "", false
	}
	if len(a.sessions) >= maxSessions {
		deleteOldest(a.sessions)
	}
	session := randomToken()
	a.sessions[session] = a.now()
	return session, true
}

func (a *webAuth) validSession(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for known := range a.sessions {
		if subtle.ConstantTimeCompare([]byte(known), []byte(s)) == 1 {
			return true
		}
	}
	return false
}

func deleteOldest(m map[string]time.Time) {
	var oldest string
	var at time.Time
	for k, t := range m {
		if oldest == "" || t.Before(at) {
			oldest, at = k, t
		}
	}
	delete(m, oldest)
}

// randomToken is 256 random bits in hex.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}

// routeWeb registers the web app's API routes and returns the handler of everything
// outside /v1: the login link and the app's static files.
func (s *Server) routeWeb() http.Handler {
	s.mux.HandleFunc("POST "+api.PathWebLogin, s.webLogin)
	s.mux.HandleFunc("POST "+api.PathUploads, s.upload)
	pages := http.NewServeMux()
	pages.HandleFunc("GET /login", s.login)
	pages.Handle("/", webui.Handler())
	return pages
}

// isAPIPath reports whether path belongs to the API (and so needs authorization).
func isAPIPath(path string) bool {
	return path == "/v1" || strings.HasPrefix(path, "/v1/")
}

// webLogin makes a one-time login link. Only a bearer of the API token may ask: a
// browser session cannot mint more sessions.
func (s *Server) webLogin(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeError(w, http.StatusForbidden, api.CodeUnauthorized,
			"a login link needs the API token: run `parley open` on the node's machine")
		return
	}
	local, ok := localAddr(r)
	if !ok {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "the API does not know its own address")
		return
	}
	code, exp := s.web.newCode()
	writeJSON(w, http.StatusOK, api.WebLogin{URL: "http://" + local + "/login?code=" + code, ExpiresAt: exp})
}

// login trades a one-time code for a session cookie and sends the browser to the app.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := checkHost(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	session, ok := s.web.redeem(r.URL.Query().Get("code"))
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "This login link was already used or has expired (links work once, for 2 minutes).\n"+
			"Run `parley open` again for a new one.", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: session, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// errNoSession is the answer to an API request with neither token nor session cookie.
var errNoSession = errors.New("missing or wrong API token or web session: clients read the token from " +
	"the node's home (api.token); browsers log in with the link `parley open` prints")

// authorizeSession checks a browser's request: a known session cookie, a Host that is
// the API's own address (so a page on another name that resolves to 127.0.0.1 cannot
// use the cookie), and for anything but GET the header only the app's own script sets.
// It returns the HTTP status to answer with and why, or nil.
func (s *Server) authorizeSession(r *http.Request) (int, error) {
	c, err := r.Cookie(cookieName(r))
	if err != nil || !s.web.validSession(c.Value) {
		return http.StatusUnauthorized, errNoSession
	}
	if err := checkHost(r); err != nil {
		return http.StatusForbidden, err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(api.CSRFHeader) != "1" {
		return http.StatusForbidden, fmt.Errorf("the %s header is missing: only the web app's own page may change things", api.CSRFHeader)
	}
	return 0, nil
}

// checkHost accepts a Host header naming the loopback address and port the request
// came in on (127.0.0.1, ::1 or localhost).
func checkHost(r *http.Request) error {
	local, ok := localAddr(r)
	if !ok {
		return errors.New("the API does not know its own address")
	}
	_, port, _ := net.SplitHostPort(local)
	host, hostPort, err := net.SplitHostPort(r.Host)
	if err == nil && hostPort == port && (host == "localhost" || isLoopbackIP(host)) {
		return nil
	}
	return fmt.Errorf("host %q is not this node's API address (%s): open the link `parley open` prints", r.Host, local)
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localAddr is the address the request's connection came in on, as host:port.
func localAddr(r *http.Request) (string, bool) {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return "", false
	}
	return a.String(), true
}

// cookieName names the session cookie after the API's port: browsers share cookies
// across the ports of one host, and two nodes on one machine must not clash.
func cookieName(r *http.Request) string {
	local, _ := localAddr(r)
	_, port, _ := net.SplitHostPort(local)
	return sessionCookieBase + port
}
