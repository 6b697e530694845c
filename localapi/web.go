package localapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// only) with the code in its fragment (#login=CODE), which the browser never sends to
// a server. The page trades the code for a session token (POST /v1/web/session), keeps
// it in the localStorage of its exact origin (which only scripts of that origin, port
// included, can read; so new tabs and node restarts need no new login) and sends it in
// the X-Parley-Session header. There is no cookie:
// browsers send 127.0.0.1's cookies to every port of the machine, so every other local
// service would receive it and could replay it.
//
// A session ends after sessionIdle without a request (an open event stream counts as
// use: the page is open), sessionLifetime after the login whatever its use, when the
// page signs out, or when the user ends all sessions (`parley web logout` or the page's
// "Sign out everywhere"). A restart of the node ends none: the daemon keeps the
// sessions in HOME/web-sessions.json (KeepSessions), so `parley open` is needed once
// per browser, not once per restart.
// 12 hours idle lets a page left open overnight carry on and ends one forgotten in a
// closed tab by the next day; a week bounds a token that leaked, at the cost of one
// `parley open` a week.
//
// The node keeps only SHA-256 of each token, with its times, so the sessions file
// (mode 0600) holds nothing that logs in. It is written when a session starts or ends,
// and when a session's last use is more than sessionSaveEvery newer than the saved one:
// after a crash a session may end that much earlier than it would have, never later.
const (
	loginCodeTTL     = 2 * time.Minute
	maxPendingLogins = 64 // unused codes kept at once; the oldest is dropped first
	maxSessions      = 256
	sessionIdle      = 12 * time.Hour
	sessionLifetime  = 7 * 24 * time.Hour
	maxSessionBody   = 4 << 10
	sessionSaveEvery = time.Minute
	maxSessionsFile  = 1 << 20
)

// sessionKey is SHA-256 of a session token: what the node stores. Looking a token up
// by its hash leaks nothing through timing about the tokens that exist.
type sessionKey [sha256.Size]byte

func keyOf(token string) sessionKey { return sha256.Sum256([]byte(token)) }

// webSession is one browser's login.
type webSession struct {
	key     sessionKey
	created time.Time
	used    time.Time
	saved   time.Time     // the last use written to the sessions file
	ended   chan struct{} // closed when the session ends, which stops its event streams
}

func (s *webSession) expired(now time.Time) bool {
	return !now.Before(s.created.Add(sessionLifetime)) || !now.Before(s.used.Add(sessionIdle))
}

// webAuth holds the one-time login codes and the sessions of the web app.
type webAuth struct {
	now func() time.Time

	mu       sync.Mutex
	codes    map[string]time.Time // code → expiry
	sessions map[sessionKey]*webSession
	file     string // where the sessions are kept; empty: in memory only
	saveErr  func(error)
}

func newWebAuth() *webAuth {
	return &webAuth{now: time.Now, codes: map[string]time.Time{}, sessions: map[sessionKey]*webSession{}}
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
// used or expired. When maxSessions are open, the one unused longest ends.
func (a *webAuth) redeem(code string) (api.WebSession, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.codes[code]
	if !ok {
		return api.WebSession{}, false
	}
	delete(a.codes, code)
	now := a.now()
	if !now.Before(exp) {
		return api.WebSession{}, false
	}
	a.pruneLocked(now)
	if len(a.sessions) >= maxSessions {
		a.endLocked(a.leastRecentLocked())
	}
	token := randomToken()
	s := &webSession{key: keyOf(token), created: now, used: now, saved: now, ended: make(chan struct{})}
	a.sessions[s.key] = s
	a.saveLocked()
	return api.WebSession{Token: token, ExpiresAt: now.Add(sessionLifetime), IdleTimeout: sessionIdle}, true
}

// use finds the live session of token and marks it used now.
func (a *webAuth) use(token string) (*webSession, bool) {
	return a.touch(keyOf(token))
}

// touch marks the session with key used now, if it is still live.
func (a *webAuth) touch(key sessionKey) (*webSession, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[key]
	if !ok {
		return nil, false
	}
	now := a.now()
	if s.expired(now) {
		a.endLocked(s)
		a.saveLocked()
		return nil, false
	}
	s.used = now
	if now.Sub(s.saved) >= sessionSaveEvery {
		a.saveLocked()
	}
	return s, true
}

// end ends one session; it reports whether the session was still open.
func (a *webAuth) end(key sessionKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[key]
	if ok {
		a.endLocked(s)
		a.saveLocked()
	}
	return ok
}

// endAll ends every session and drops the unused login codes; it returns how many
// sessions were open.
func (a *webAuth) endAll() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked(a.now())
	n := len(a.sessions)
	for _, s := range a.sessions {
		a.endLocked(s)
	}
	clear(a.codes)
	a.saveLocked()
	return n
}

func (a *webAuth) endLocked(s *webSession) {
	delete(a.sessions, s.key)
	close(s.ended)
}

func (a *webAuth) pruneLocked(now time.Time) {
	for _, s := range a.sessions {
		if s.expired(now) {
			a.endLocked(s)
		}
	}
}

func (a *webAuth) leastRecentLocked() *webSession {
	var oldest *webSession
	for _, s := range a.sessions {
		if oldest == nil || s.used.Before(oldest.used) {
			oldest = s
		}
	}
	return oldest
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

// sessionCtxKey marks a request authorized by a web session (not the API token).
type sessionCtxKey struct{}

// webSessionOf is the web session a request came with, or nil for the API token.
func webSessionOf(r *http.Request) *webSession {
	s, _ := r.Context().Value(sessionCtxKey{}).(*webSession)
	return s
}

// routeWeb registers the web app's API routes and returns the handler of everything
// outside /v1: the app's static files.
func (s *Server) routeWeb() http.Handler {
	s.mux.HandleFunc("POST "+api.PathWebLogin, s.webLogin)
	s.mux.HandleFunc("DELETE "+api.PathWebSession, s.endSession)
	s.mux.HandleFunc("DELETE "+api.PathWebSessions, s.endAllSessions)
	s.mux.HandleFunc("POST "+api.PathUploads, s.upload)
	return webui.Handler()
}

// isAPIPath reports whether path belongs to the API (and so needs authorization).
func isAPIPath(path string) bool {
	return path == "/v1" || strings.HasPrefix(path, "/v1/")
}

// isLoginExchange reports whether r trades a login code for a session: the one API
// request that the code itself authorizes.
func isLoginExchange(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == api.PathWebSession
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
	writeJSON(w, http.StatusOK, api.WebLogin{URL: "http://" + local + "/#login=" + code, ExpiresAt: exp})
}

// startSession trades a one-time code for a session token, for the page at the API's
// own address only.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) {
	if err := checkPage(r); err != nil {
		writeError(w, http.StatusForbidden, api.CodeUnauthorized, err.Error())
		return
	}
	var req api.WebSessionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSessionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad login request: "+err.Error())
		return
	}
	session, ok := s.web.redeem(req.Code)
	if !ok {
		writeError(w, http.StatusForbidden, api.CodeUnauthorized, "this login link was already used or has expired "+
			"(links work once, for 2 minutes): run `parley open` again for a new one")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, session)
}

// endSession ends the session the request came with (the page's Sign out).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	ws := webSessionOf(r)
	if ws == nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "the API token is not a web session: "+
			"to end every web session, DELETE "+api.PathWebSessions+" (`parley web logout`)")
		return
	}
	s.web.end(ws.key)
	writeJSON(w, http.StatusOK, api.WebSessionsEnded{Ended: 1})
}

// endAllSessions ends every web session and unused login link.
func (s *Server) endAllSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.WebSessionsEnded{Ended: s.web.endAll()})
}

// errNoSession is the answer to an API request with neither token nor web session.
var errNoSession = errors.New("missing or wrong API token or web session: clients read the token from " +
	"the node's home (api.token); browsers log in with the link `parley open` prints")

// errSessionEnded is the answer to a web session token the node does not know (any more).
var errSessionEnded = fmt.Errorf("this web session has ended: sessions end after %v unused, %v after the login, "+
	"and when you sign out everywhere (`parley web logout`); run `parley open` to log in again",
	sessionIdle, sessionLifetime)

// authorizeSession checks a browser's request: a Host that is the API's own address
// (so a page on another name that resolves to 127.0.0.1 gets nothing), for anything
// but GET the header only the app's own script sets, and a live session token. It
// returns the session, or the HTTP status to answer with and why.
func (s *Server) authorizeSession(r *http.Request) (*webSession, int, error) {
	token := r.Header.Get(api.SessionHeader)
	if token == "" {
		return nil, http.StatusUnauthorized, errNoSession
	}
	if err := checkHost(r); err != nil {
		return nil, http.StatusForbidden, err
	}
	if err := checkCSRF(r); err != nil {
		return nil, http.StatusForbidden, err
	}
	ws, ok := s.web.use(token)
	if !ok {
		return nil, http.StatusUnauthorized, errSessionEnded
	}
	return ws, 0, nil
}

// withSession marks r as authorized by the web session ws.
func withSession(r *http.Request, ws *webSession) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, ws))
}

// checkPage is checkHost and checkCSRF.
func checkPage(r *http.Request) error {
	if err := checkHost(r); err != nil {
		return err
	}
	return checkCSRF(r)
}

// checkCSRF accepts GETs and requests with the header only the app's script sets.
func checkCSRF(r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(api.CSRFHeader) != "1" {
		return fmt.Errorf("the %s header is missing: only the web app's own page may change things", api.CSRFHeader)
	}
	return nil
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
