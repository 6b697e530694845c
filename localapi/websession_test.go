package localapi

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

// auth logs a browser in and returns the headers that carry its authority.
func (w *webServer) auth() []string {
	w.t.Helper()
	return []string{api.SessionHeader, w.session()}
}

// fakeClock is an injectable clock for the web sessions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (w *webServer) clock() *fakeClock {
	c := &fakeClock{now: time.Now()}
	w.now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
	w.s.web.now = w.now
	return c
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestWebCookieCarriesNoAuthority: browsers send a 127.0.0.1 cookie to every port of
// the machine, so another local service could replay it: no cookie is set at login, and
// one that holds the session's secret is refused.
func TestWebCookieCarriesNoAuthority(t *testing.T) {
	w := newWebServer(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(w.srv.URL, "http://"), ":")
	link := w.loginLink().URL
	for what, resp := range map[string]*http.Response{"opening the link": w.call("GET", link, ""), "trading its code": w.exchange(codeOf(t, link))} {
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s set %d cookies, want none", what, len(resp.Cookies()))
		}
	}
	secret := w.session()
	for _, cookie := range []string{"parley_session_" + port + "=" + secret, "parley_session=" + secret, "session=" + secret} {
		body := wantStatus(t, w.call("GET", api.PathStatus, "", "Cookie", cookie), http.StatusUnauthorized, "only the cookie "+cookie)
		if !strings.Contains(body, "parley open") {
			t.Errorf("answer %q does not say how a browser logs in", body)
		}
	}
}

// TestWebSessionCannotSendPaths: a page may only send what the user handed it
// (uploads); naming paths on the node's disk is for the CLI's bearer token.
func TestWebSessionCannotSendPaths(t *testing.T) {
	w := newWebServer(t)
	auth := w.auth()
	body := wantStatus(t, w.call("POST", api.PathTransfers, `{"to":"bob","paths":["/etc/passwd"]}`, append(auth, api.CSRFHeader, "1")...),
		http.StatusForbidden, "paths from a web session")
	if !strings.Contains(body, "upload") || !strings.Contains(body, "send-file") {
		t.Errorf("answer %q does not say what to use instead", body)
	}
	wantStatus(t, w.call("POST", api.PathTransfers, `{"to":"bob","paths":["/tmp/x"]}`, "Authorization", "Bearer "+testToken),
		http.StatusOK, "paths with the API token")
}

func TestWebSessionIdleExpiry(t *testing.T) {
	w := newWebServer(t)
	clock := w.clock()
	auth := w.auth()
	for range 3 { // each use restarts the idle time
		clock.advance(sessionIdle - time.Second)
		wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusOK, "a session used within its idle time")
	}
	clock.advance(sessionIdle)
	body := wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusUnauthorized, "a session idle for too long")
	if !strings.Contains(body, "parley open") {
		t.Errorf("answer %q does not say how to log in again", body)
	}
}

func TestWebSessionAbsoluteExpiry(t *testing.T) {
	w := newWebServer(t)
	clock := w.clock()
	auth := w.auth()
	step := sessionIdle / 2
	used := time.Duration(0)
	for ; used+step < sessionLifetime; used += step {
		clock.advance(step)
		wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusOK, "a session in use, before its end")
	}
	clock.advance(sessionLifetime - used)
	wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusUnauthorized, "a session in use, at its end")
}

func TestWebEndAllSessions(t *testing.T) {
	w := newWebServer(t)
	first, second := w.auth(), w.auth()
	pending := w.loginLink().URL
	body := wantStatus(t, w.call("DELETE", api.PathWebSessions, "", "Authorization", "Bearer "+testToken), http.StatusOK, "ending all sessions")
	if !strings.Contains(body, `"ended":2`) {
		t.Errorf("answer %q, want ended: 2", body)
	}
	for _, auth := range [][]string{first, second} {
		wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusUnauthorized, "a session after all were ended")
	}
	wantStatus(t, w.exchange(codeOf(t, pending)), http.StatusForbidden, "a login link from before")
}

func TestWebSignOutEndsOnlyThisSession(t *testing.T) {
	w := newWebServer(t)
	mine, other := w.auth(), w.auth()
	wantStatus(t, w.call("DELETE", api.PathWebSession, "", append(mine, api.CSRFHeader, "1")...), http.StatusOK, "signing out")
	wantStatus(t, w.call("GET", api.PathStatus, "", mine...), http.StatusUnauthorized, "the session after signing out")
	wantStatus(t, w.call("GET", api.PathStatus, "", other...), http.StatusOK, "another session")
	body := wantStatus(t, w.call("DELETE", api.PathWebSession, "", "Authorization", "Bearer "+testToken), http.StatusBadRequest, "signing out the API token")
	if !strings.Contains(body, "parley web logout") {
		t.Errorf("answer %q does not say how to end the web sessions", body)
	}
}

func TestWebSessionCanEndAllSessions(t *testing.T) {
	w := newWebServer(t)
	mine, other := w.auth(), w.auth()
	wantStatus(t, w.call("DELETE", api.PathWebSessions, "", mine...), http.StatusForbidden, "ending all without the CSRF header")
	body := wantStatus(t, w.call("DELETE", api.PathWebSessions, "", append(mine, api.CSRFHeader, "1")...), http.StatusOK, "ending all from a page")
	if !strings.Contains(body, `"ended":2`) {
		t.Errorf("answer %q, want ended: 2", body)
	}
	for _, auth := range [][]string{mine, other} {
		wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusUnauthorized, "a session after all were ended")
	}
	wantStatus(t, w.call("GET", api.PathStatus, "", "Authorization", "Bearer "+testToken), http.StatusOK, "the API token after all were ended")
}

// TestWebEndingSessionsStopsTheirEventStreams: a page that is signed out elsewhere
// stops getting events at once, not at its next request.
func TestWebEndingSessionsStopsTheirEventStreams(t *testing.T) {
	w := newWebServer(t)
	resp := w.call("GET", api.PathEvents, "", w.auth()...)
	wantStatusOnly(t, resp, http.StatusOK, "the event stream")
	<-w.f.subscribed
	wantStatus(t, w.call("DELETE", api.PathWebSessions, "", "Authorization", "Bearer "+testToken), http.StatusOK, "ending all sessions")
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the event stream did not end cleanly when its session ended: %v", err)
	}
	<-w.f.canceled // and its subscription is gone
}

// TestWebEventStreamEndsWhenItsSessionExpires: an open stream keeps its session in
// use (each heartbeat counts), but not beyond the session's lifetime.
func TestWebEventStreamEndsWhenItsSessionExpires(t *testing.T) {
	w := newWebServer(t)
	clock := w.clock()
	w.s.heartbeat = 10 * time.Millisecond
	auth := w.auth()
	ws, _ := w.s.web.use(auth[1])
	resp := w.call("GET", api.PathEvents, "", auth...)
	wantStatusOnly(t, resp, http.StatusOK, "the event stream")
	<-w.f.subscribed
	lines := bufio.NewReader(resp.Body)
	for range 3 { // longer than the idle time, in steps its heartbeats cover
		clock.advance(sessionIdle - time.Second)
		waitHeartbeat(t, lines, w, ws)
	}
	if _, ok := w.s.web.touch(ws.key); !ok {
		t.Fatal("a session whose stream is open idled out")
	}
	clock.advance(sessionLifetime)
	if _, err := io.Copy(io.Discard, lines); err != nil {
		t.Fatalf("the event stream did not end cleanly when its session expired: %v", err)
	}
	wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusUnauthorized, "the session after its lifetime")
}

// waitHeartbeat reads the stream's keep-alives until one has marked ws used at the
// clock's time.
func waitHeartbeat(t *testing.T, r *bufio.Reader, w *webServer, ws *webSession) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the event stream ended while its session was in use: %v", err)
		}
		w.s.web.mu.Lock()
		touched := !ws.used.Before(w.s.web.now())
		w.s.web.mu.Unlock()
		if touched && strings.HasPrefix(line, ": keep-alive") {
			return
		}
	}
}

// wantStatusOnly checks the status without reading the body (a stream).
func wantStatusOnly(t *testing.T, resp *http.Response, status int, what string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %s, want %d", what, resp.Status, status)
	}
}

// restart is the same node started again: a new Server on the same sessions file.
func (w *webServer) restart(path string) {
	w.t.Helper()
	w.srv.Close()
	w.s = New(w.f, testToken, nil)
	if w.now != nil {
		w.s.web.now = w.now
	}
	if err := w.s.KeepSessions(path); err != nil {
		w.t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.s)
	w.t.Cleanup(w.srv.Close)
}

// TestWebSessionSurvivesRestart: a login outlives a restart of the node (the page
// needs no new `parley open`), the file holds no token and is 0600, and what ended
// before the restart stays ended after it.
func TestWebSessionSurvivesRestart(t *testing.T) {
	w := newWebServer(t)
	path := filepath.Join(t.TempDir(), api.SessionsFile)
	w.restart(path)
	kept, ended := w.session(), w.session()
	wantStatus(t, w.call("DELETE", api.PathWebSession, "", api.SessionHeader, ended, api.CSRFHeader, "1"), http.StatusOK, "signing one session out")

	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, kept), http.StatusOK, "the kept session after a restart")
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, ended), http.StatusUnauthorized, "a signed-out session after a restart")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), kept) || strings.Contains(string(data), ended) {
		t.Fatalf("%s holds a session token: %s", path, data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}

	wantStatus(t, w.call("DELETE", api.PathWebSessions, "", "Authorization", "Bearer "+testToken, api.CSRFHeader, "1"), http.StatusOK, "ending every session")
	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, kept), http.StatusUnauthorized, "a session ended everywhere, after a restart")
}

// TestWebSessionExpiresAcrossRestart: the expiry times are kept too, so a session
// unused for sessionIdle is refused by the restarted node.
func TestWebSessionExpiresAcrossRestart(t *testing.T) {
	w := newWebServer(t)
	path := filepath.Join(t.TempDir(), api.SessionsFile)
	c := w.clock()
	w.restart(path)
	token := w.session()
	c.advance(sessionIdle - time.Minute)
	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token), http.StatusOK, "before the idle expiry")
	c.advance(sessionIdle - time.Minute) // past the login's idle expiry, not the last use's
	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token), http.StatusOK, "after a use saved before the restart")
	c.advance(sessionIdle + time.Minute)
	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token), http.StatusUnauthorized, "after the idle expiry")
}

// TestWebSessionsFileDamaged: a file the node cannot read costs the logins it held,
// never the start of the node.
func TestWebSessionsFileDamaged(t *testing.T) {
	w := newWebServer(t)
	path := filepath.Join(t.TempDir(), api.SessionsFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := New(w.f, testToken, nil)
	if err := s.KeepSessions(path); err == nil || !strings.Contains(err.Error(), "parley open") {
		t.Fatalf("KeepSessions on a damaged file = %v, want an error that says to log in again", err)
	}
	w.srv.Close() // KeepSessions still keeps new sessions in the file
	w.s, w.srv = s, httptest.NewServer(s)
	t.Cleanup(w.srv.Close)
	token := w.session()
	w.restart(path)
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token), http.StatusOK, "a session made after the damage")
}

// FuzzSessionsFile: whatever the sessions file holds, loading it never panics, keeps
// at most maxSessions, and keeps none that has expired.
func FuzzSessionsFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"sessions":[{"sha256":"` + strings.Repeat("ab", 32) + `","created":"2026-12-04T10:00:00Z","used":"2026-12-04T11:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"sessions":[{"sha256":"zz","created":"0001-01-01T00:00:00Z","used":"9999-12-31T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{`))
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), api.SessionsFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a := newWebAuth()
		a.now = func() time.Time { return now }
		a.keep(path, nil)
		if len(a.sessions) > maxSessions {
			t.Fatalf("%d sessions kept, at most %d", len(a.sessions), maxSessions)
		}
		for _, s := range a.sessions {
			if s.expired(now) || s.created.After(now) || s.used.After(now) {
				t.Fatalf("an expired session, or one from the future, was kept: %+v", s)
			}
		}
	})
}
