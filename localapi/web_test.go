package localapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

// webServer is the API on a real loopback socket (the Host check compares the Host
// header with the connection's own address) and an HTTP client that keeps no cookies
// and follows no redirects, so each test says exactly what it sends.
type webServer struct {
	t    *testing.T
	s    *Server
	f    *fakeBackend
	srv  *httptest.Server
	http *http.Client
	now  func() time.Time // the fake clock, if any: a restart keeps it
}

func newWebServer(t *testing.T) *webServer {
	t.Helper()
	f := newFake()
	f.status.Home = t.TempDir()
	s := New(f, testToken, nil)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &webServer{t: t, s: s, f: f, srv: srv, http: c}
}

// call sends one request; headers are name, value pairs.
func (w *webServer) call(method, target, body string, headers ...string) *http.Response {
	w.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = w.srv.URL + target
	}
	r, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			r.Host = headers[i+1]
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := w.http.Do(r)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// loginLink asks for a one-time link with the bearer token.
func (w *webServer) loginLink() api.WebLogin {
	w.t.Helper()
	resp := w.call("POST", api.PathWebLogin, "", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("login link: %s", resp.Status)
	}
	var l api.WebLogin
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		w.t.Fatal(err)
	}
	return l
}

// codeOf is the one-time code in a login link's fragment.
func codeOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	code, ok := strings.CutPrefix(u.Fragment, "login=")
	if !ok {
		t.Fatalf("login link %q has no #login= fragment", link)
	}
	return code
}

// exchange trades a login code for a session as the page does; headers are extra
// name, value pairs (they may replace the CSRF header).
func (w *webServer) exchange(code string, headers ...string) *http.Response {
	w.t.Helper()
	body, _ := json.Marshal(api.WebSessionRequest{Code: code})
	return w.call("POST", api.PathWebSession, string(body), append([]string{api.CSRFHeader, "1"}, headers...)...)
}

// session logs in with a fresh link and returns the session token.
func (w *webServer) session() string {
	w.t.Helper()
	resp := w.exchange(codeOf(w.t, w.loginLink().URL))
	var s api.WebSession
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil || len(s.Token) != 64 {
		w.t.Fatalf("login: %s, want 200 and a 256-bit token", resp.Status)
	}
	return s.Token
}

func wantStatus(t *testing.T, resp *http.Response, status int, what string) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Errorf("%s: %s, want %d (%s)", what, resp.Status, status, body)
	}
	return string(body)
}

func TestWebLoginLinkAndSession(t *testing.T) {
	w := newWebServer(t)
	l := w.loginLink()
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(w.srv.URL) + `/#login=[0-9a-f]{64}$`)
	if !want.MatchString(l.URL) {
		t.Fatalf("login URL %q, want %s/#login=<64 hex digits>", l.URL, w.srv.URL)
	}
	if d := time.Until(l.ExpiresAt); d <= 0 || d > loginCodeTTL {
		t.Errorf("link expires in %v, want within %v", d, loginCodeTTL)
	}
	// The link itself is the app's page: the code in the fragment never reaches the node.
	wantStatus(t, w.call("GET", l.URL, ""), http.StatusOK, "opening the link")

	resp := w.exchange(codeOf(t, l.URL))
	body := wantStatus(t, resp, http.StatusOK, "trading the code")
	var s api.WebSession
	if err := json.Unmarshal([]byte(body), &s); err != nil || len(s.Token) != 64 {
		t.Fatalf("answer %q is not a session with a 256-bit token (%v)", body, err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || len(resp.Cookies()) != 0 {
		t.Errorf("the session answer: Cache-Control %q and %d cookies, want no-store and none", resp.Header.Get("Cache-Control"), len(resp.Cookies()))
	}
	if d := time.Until(s.ExpiresAt); d <= sessionLifetime-time.Minute || d > sessionLifetime || s.IdleTimeout != sessionIdle {
		t.Errorf("session expires in %v, idle after %v; want %v and %v", d, s.IdleTimeout, sessionLifetime, sessionIdle)
	}

	auth := []string{api.SessionHeader, s.Token}
	wantStatus(t, w.call("GET", api.PathStatus, "", auth...), http.StatusOK, "GET with the session")
	wantStatus(t, w.call("POST", api.PathPresence, `{"presence":"busy"}`, append(auth, api.CSRFHeader, "1")...),
		http.StatusOK, "POST with the session and the CSRF header")
}

func TestWebNoSessionIsRefused(t *testing.T) {
	w := newWebServer(t)
	token := w.session()
	for what, headers := range map[string][]string{
		"nothing":                      nil,
		"a made-up session":            {api.SessionHeader, strings.Repeat("ab", 32)},
		"an empty session":             {api.SessionHeader, ""},
		"a session cut short":          {api.SessionHeader, token[:63]},
		"the session as bearer token":  {"Authorization", "Bearer " + token},
		"the API token as the session": {api.SessionHeader, testToken},
	} {
		for _, target := range []string{"GET " + api.PathStatus, "GET " + api.PathEvents, "POST " + api.PathSend, "GET /v1/nope"} {
			method, path, _ := strings.Cut(target, " ")
			resp := w.call(method, path, `{"to":"x","text":"y"}`, append(headers, api.CSRFHeader, "1")...)
			body := wantStatus(t, resp, http.StatusUnauthorized, what+": "+target)
			if !strings.Contains(body, "parley open") {
				t.Errorf("%s: answer %q does not say how a browser logs in", what, body)
			}
		}
	}
	if len(w.f.sent()) != 0 || len(w.f.subscribed) != 0 {
		t.Error("a request without a session reached the backend")
	}
}

func TestWebLoginCodeWorksOnce(t *testing.T) {
	w := newWebServer(t)
	code := codeOf(t, w.loginLink().URL)
	wantStatus(t, w.exchange(code), http.StatusOK, "first use")
	body := wantStatus(t, w.exchange(code), http.StatusForbidden, "second use")
	if !strings.Contains(body, "parley open") {
		t.Errorf("answer %q does not say how to get a new link", body)
	}
	for _, bad := range []string{"", "x", strings.Repeat("0", 64), code[:63]} {
		wantStatus(t, w.exchange(bad), http.StatusForbidden, "code "+bad)
	}
	wantStatus(t, w.call("POST", api.PathWebSession, "{", api.CSRFHeader, "1"), http.StatusBadRequest, "a malformed request")
}

func TestWebLoginCodeExpires(t *testing.T) {
	w := newWebServer(t)
	clock := w.clock()
	fresh := codeOf(t, w.loginLink().URL)
	stale := codeOf(t, w.loginLink().URL)
	clock.advance(loginCodeTTL - time.Second)
	wantStatus(t, w.exchange(fresh), http.StatusOK, "a code just before it expires")
	clock.advance(time.Second)
	wantStatus(t, w.exchange(stale), http.StatusForbidden, "a code at its expiry")
}

func TestWebPendingCodesAreBounded(t *testing.T) {
	w := newWebServer(t)
	first := codeOf(t, w.loginLink().URL)
	for range maxPendingLogins {
		w.loginLink()
	}
	if n := len(w.s.web.codes); n != maxPendingLogins {
		t.Errorf("%d codes kept, want at most %d", n, maxPendingLogins)
	}
	wantStatus(t, w.exchange(first), http.StatusForbidden, "the oldest code, pushed out")
}

func TestWebSessionsAreBounded(t *testing.T) {
	w := newWebServer(t)
	clock := w.clock()
	tokens := make([]string, maxSessions)
	for i := range tokens {
		tokens[i] = w.session()
		clock.advance(time.Second)
	}
	// The first session was used last: the second, unused longest, makes room.
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, tokens[0]), http.StatusOK, "the first session")
	w.session()
	if n := len(w.s.web.sessions); n != maxSessions {
		t.Errorf("%d sessions kept, want at most %d", n, maxSessions)
	}
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, tokens[1]), http.StatusUnauthorized, "the session unused longest")
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, tokens[0]), http.StatusOK, "the first session, used since")
}

func TestWebWrongHostIsRefused(t *testing.T) {
	w := newWebServer(t)
	token := w.session()
	_, port, _ := strings.Cut(strings.TrimPrefix(w.srv.URL, "http://"), ":")
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "localhost", "10.0.0.1:" + port} {
		body := wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token, "Host", host), http.StatusForbidden, "Host "+host)
		if !strings.Contains(body, "not this node's API address") {
			t.Errorf("Host %s: answer %q does not say what is wrong", host, body)
		}
		code := codeOf(t, w.loginLink().URL)
		wantStatus(t, w.exchange(code, "Host", host), http.StatusForbidden, "trading a code with Host "+host)
		wantStatus(t, w.exchange(code), http.StatusOK, "the same code with the right Host") // not spent by the refusal
	}
	wantStatus(t, w.call("GET", api.PathStatus, "", api.SessionHeader, token, "Host", "localhost:"+port), http.StatusOK, "Host localhost")
	// The CLI's bearer token is not a browser's: no Host check applies to it.
	wantStatus(t, w.call("GET", api.PathStatus, "", "Authorization", "Bearer "+testToken, "Host", "anything"), http.StatusOK, "bearer token")
}

func TestWebChangesNeedTheCSRFHeader(t *testing.T) {
	w := newWebServer(t)
	token := w.session()
	for _, h := range []string{"", "0", "true"} {
		body := wantStatus(t, w.call("POST", api.PathSend, `{"to":"bob","text":"hi"}`, api.SessionHeader, token, api.CSRFHeader, h),
			http.StatusForbidden, "X-Parley: "+h)
		if !strings.Contains(body, api.CSRFHeader) {
			t.Errorf("answer %q does not name the missing header", body)
		}
		wantStatus(t, w.exchange(codeOf(t, w.loginLink().URL), api.CSRFHeader, h), http.StatusForbidden, "trading a code with X-Parley: "+h)
	}
	if len(w.f.sent()) != 0 {
		t.Fatal("a POST without the CSRF header reached the backend")
	}
	wantStatus(t, w.call("POST", api.PathSend, `{"to":"bob","text":"hi"}`, api.SessionHeader, token, api.CSRFHeader, "1"), http.StatusOK, "with the header")
}

func TestWebSessionCannotMakeLoginLinks(t *testing.T) {
	w := newWebServer(t)
	token := w.session()
	wantStatus(t, w.call("POST", api.PathWebLogin, "", api.SessionHeader, token, api.CSRFHeader, "1"), http.StatusForbidden, "login link by session")
}

func TestWebStaticFilesNeedNoLogin(t *testing.T) {
	w := newWebServer(t)
	for path, ctype := range map[string]string{"/": "text/html", "/js/app.js": "javascript", "/style.css": "text/css"} {
		resp := w.call("GET", path, "")
		body := wantStatus(t, resp, http.StatusOK, path)
		if got := resp.Header.Get("Content-Type"); !strings.Contains(got, ctype) {
			t.Errorf("%s: Content-Type %q, want %s", path, got, ctype)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no CSP or nosniff header", path)
		}
		if body == "" {
			t.Errorf("%s: empty", path)
		}
	}
	wantStatus(t, w.call("GET", "/nope.js", ""), http.StatusNotFound, "a missing file")
	wantStatus(t, w.call("POST", "/", ""), http.StatusMethodNotAllowed, "POST to a static file")
}

func TestUpload(t *testing.T) {
	w := newWebServer(t)
	resp := w.call("POST", api.PathUploads+"?to=bob&name=notes.txt", "hello", append(w.auth(), api.CSRFHeader, "1")...)
	body := wantStatus(t, resp, http.StatusOK, "upload")
	var tr api.Transfer
	if err := json.Unmarshal([]byte(body), &tr); err != nil || len(tr.Files) != 1 {
		t.Fatalf("answer %q is not the transfer: %v", body, err)
	}
	path := tr.Files[0].Path // the fake echoes the path it was asked to send
	outbox := filepath.Join(w.f.status.Home, api.OutboxDir)
	if filepath.Base(path) != "notes.txt" || filepath.Dir(filepath.Dir(path)) != outbox {
		t.Errorf("sent %s, want %s/<id>/notes.txt", path, outbox)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "hello" {
		t.Errorf("stored %q (%v), want the body", data, err)
	}
}

func TestUploadRefusals(t *testing.T) {
	w := newWebServer(t)
	auth := []string{"Authorization", "Bearer " + testToken}
	cases := map[string]int{
		"?to=bob&name=../evil":   http.StatusBadRequest,
		"?to=bob&name=a/b":       http.StatusBadRequest,
		"?to=bob&name=":          http.StatusBadRequest,
		"?to=bob&name=.":         http.StatusBadRequest,
		"?to=bob&name=a%00b":     http.StatusBadRequest,
		"?to=bob&name=CON":       http.StatusBadRequest,
		"?to=&name=ok.txt":       http.StatusBadRequest,
		"?to=nobody&name=ok.txt": http.StatusNotFound, // the backend does not know the peer
	}
	for q, status := range cases {
		wantStatus(t, w.call("POST", api.PathUploads+q, "data", auth...), status, q)
	}
	entries, _ := os.ReadDir(filepath.Join(w.f.status.Home, api.OutboxDir))
	if len(entries) != 0 {
		t.Errorf("%d folders left in the outbox by refused uploads, want none", len(entries))
	}
}

func TestUploadLargerThanTheDiskIsRefused(t *testing.T) {
	w := newWebServer(t)
	free, err := freeSpace(w.f.status.Home)
	if err != nil {
		t.Skipf("free space unknown here: %v", err)
	}
	// The length is announced and never sent: the node must refuse before reading.
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s?to=bob&name=big HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		api.PathUploads, strings.TrimPrefix(w.srv.URL, "http://"), testToken, free)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := wantStatus(t, resp, http.StatusRequestEntityTooLarge, "an upload the disk cannot hold")
	if !strings.Contains(body, "free some space") {
		t.Errorf("answer %q does not say what to do", body)
	}
}

// FuzzUploadName: no name the upload accepts may leave its folder or name a folder.
func FuzzUploadName(f *testing.F) {
	for _, s := range []string{"notes.txt", "../x", "a/b", "..", ".", "", "CON", "a\\b", "ok name (1).pdf", "\x00", "é.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkUploadName(name) != nil {
			return
		}
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		if filepath.Dir(p) != dir || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			t.Fatalf("accepted %q, which leaves the upload's folder", name)
		}
	})
}
