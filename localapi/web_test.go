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
	"sync"
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

// session logs in with a fresh link and returns the "name=value" of the cookie.
func (w *webServer) session() string {
	w.t.Helper()
	resp := w.call("GET", w.loginLink().URL, "")
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 {
		w.t.Fatalf("login: %s with %d cookies, want 303 and one session cookie", resp.Status, len(cookies))
	}
	return cookies[0].Name + "=" + cookies[0].Value
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
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(w.srv.URL) + `/login\?code=[0-9a-f]{64}$`)
	if !want.MatchString(l.URL) {
		t.Fatalf("login URL %q, want %s/login?code=<64 hex digits>", l.URL, w.srv.URL)
	}
	if d := time.Until(l.ExpiresAt); d <= 0 || d > loginCodeTTL {
		t.Errorf("link expires in %v, want within %v", d, loginCodeTTL)
	}

	resp := w.call("GET", l.URL, "")
	wantStatus(t, resp, http.StatusSeeOther, "opening the link")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("redirect to %q, want /", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	_, port, _ := strings.Cut(strings.TrimPrefix(w.srv.URL, "http://"), ":")
	if c.Name != sessionCookieBase+port || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) != 64 {
		t.Errorf("cookie %+v, want %s%s, HttpOnly, SameSite=Strict, Path=/, 256 bits", c, sessionCookieBase, port)
	}

	cookie := c.Name + "=" + c.Value
	wantStatus(t, w.call("GET", api.PathStatus, "", "Cookie", cookie), http.StatusOK, "GET with the session")
	wantStatus(t, w.call("POST", api.PathPresence, `{"presence":"busy"}`, "Cookie", cookie, api.CSRFHeader, "1"),
		http.StatusOK, "POST with the session and the CSRF header")
}

func TestWebNoSessionIsRefused(t *testing.T) {
	w := newWebServer(t)
	cookie := w.session()
	name, _, _ := strings.Cut(cookie, "=")
	for what, headers := range map[string][]string{
		"nothing":            nil,
		"a made-up session":  {"Cookie", name + "=" + strings.Repeat("ab", 32)},
		"another port's one": {"Cookie", sessionCookieBase + "1=" + strings.TrimPrefix(cookie, name+"=")},
		"an empty cookie":    {"Cookie", name + "="},
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
	link := w.loginLink().URL
	wantStatus(t, w.call("GET", link, ""), http.StatusSeeOther, "first use")
	resp := w.call("GET", link, "")
	body := wantStatus(t, resp, http.StatusForbidden, "second use")
	if len(resp.Cookies()) != 0 {
		t.Error("a used code set a cookie")
	}
	if !strings.Contains(body, "parley open") {
		t.Errorf("answer %q does not say how to get a new link", body)
	}
	u, _ := url.Parse(link)
	for _, bad := range []string{"", "x", strings.Repeat("0", 64), u.Query().Get("code")[:63]} {
		wantStatus(t, w.call("GET", "/login?code="+bad, ""), http.StatusForbidden, "code "+bad)
	}
}

func TestWebLoginCodeExpires(t *testing.T) {
	w := newWebServer(t)
	now := time.Now()
	var mu sync.Mutex
	w.s.web.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	fresh := w.loginLink().URL
	stale := w.loginLink().URL
	advance(loginCodeTTL - time.Second)
	wantStatus(t, w.call("GET", fresh, ""), http.StatusSeeOther, "a code just before it expires")
	advance(time.Second)
	wantStatus(t, w.call("GET", stale, ""), http.StatusForbidden, "a code at its expiry")
}

func TestWebPendingCodesAreBounded(t *testing.T) {
	w := newWebServer(t)
	first := w.loginLink().URL
	for range maxPendingLogins {
		w.loginLink()
	}
	if n := len(w.s.web.codes); n != maxPendingLogins {
		t.Errorf("%d codes kept, want at most %d", n, maxPendingLogins)
	}
	wantStatus(t, w.call("GET", first, ""), http.StatusForbidden, "the oldest code, pushed out")
}

func TestWebWrongHostIsRefused(t *testing.T) {
	w := newWebServer(t)
	cookie := w.session()
	_, port, _ := strings.Cut(strings.TrimPrefix(w.srv.URL, "http://"), ":")
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "localhost", "10.0.0.1:" + port} {
		body := wantStatus(t, w.call("GET", api.PathStatus, "", "Cookie", cookie, "Host", host), http.StatusForbidden, "Host "+host)
		if !strings.Contains(body, "not this node's API address") {
			t.Errorf("Host %s: answer %q does not say what is wrong", host, body)
		}
		wantStatus(t, w.call("GET", w.loginLink().URL, "", "Host", host), http.StatusForbidden, "login link with Host "+host)
	}
	wantStatus(t, w.call("GET", api.PathStatus, "", "Cookie", cookie, "Host", "localhost:"+port), http.StatusOK, "Host localhost")
	// The CLI's bearer token is not a browser's: no Host check applies to it.
	wantStatus(t, w.call("GET", api.PathStatus, "", "Authorization", "Bearer "+testToken, "Host", "anything"), http.StatusOK, "bearer token")
}

func TestWebChangesNeedTheCSRFHeader(t *testing.T) {
	w := newWebServer(t)
	cookie := w.session()
	for _, h := range []string{"", "0", "true"} {
		body := wantStatus(t, w.call("POST", api.PathSend, `{"to":"bob","text":"hi"}`, "Cookie", cookie, api.CSRFHeader, h),
			http.StatusForbidden, "X-Parley: "+h)
		if !strings.Contains(body, api.CSRFHeader) {
			t.Errorf("answer %q does not name the missing header", body)
		}
	}
	if len(w.f.sent()) != 0 {
		t.Fatal("a POST without the CSRF header reached the backend")
	}
	wantStatus(t, w.call("POST", api.PathSend, `{"to":"bob","text":"hi"}`, "Cookie", cookie, api.CSRFHeader, "1"), http.StatusOK, "with the header")
}

func TestWebSessionCannotMakeLoginLinks(t *testing.T) {
	w := newWebServer(t)
	cookie := w.session()
	wantStatus(t, w.call("POST", api.PathWebLogin, "", "Cookie", cookie, api.CSRFHeader, "1"), http.StatusForbidden, "login link by session")
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
	cookie := w.session()
	resp := w.call("POST", api.PathUploads+"?to=bob&name=notes.txt", "hello", "Cookie", cookie, api.CSRFHeader, "1")
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
