package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeBackend records what the server asks of the node and answers with canned values:
// the server's job is the mapping between HTTP and the Backend, so that is what these
// tests look at.
type fakeBackend struct {
	status  api.Status
	peers   []api.Peer
	history []api.Message
	result  api.SendResult
	err     error // returned by Send, Ping and History
	rtt     time.Duration

	mu    sync.Mutex
	sends []api.SendRequest
	pings []string
	query *api.HistoryQuery

	events     chan api.Event
	subscribed chan int      // receives the buffer size of each Subscribe
	canceled   chan struct{} // closed when the subscription's cancel func is called
	cancelOnce sync.Once
}

func newFake() *fakeBackend {
	return &fakeBackend{
		events:     make(chan api.Event, 4),
		subscribed: make(chan int, 1),
		canceled:   make(chan struct{}),
	}
}

func (f *fakeBackend) Status() api.Status { return f.status }
func (f *fakeBackend) Peers() []api.Peer  { return f.peers }

func (f *fakeBackend) Send(_ context.Context, to, text string) (api.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, api.SendRequest{To: to, Text: text})
	return f.result, f.err
}

func (f *fakeBackend) Ping(_ context.Context, to string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, to)
	return f.rtt, f.err
}

func (f *fakeBackend) History(_ context.Context, q api.HistoryQuery) ([]api.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = &q
	return f.history, f.err
}

func (f *fakeBackend) Subscribe(buffer int) (<-chan api.Event, func()) {
	f.subscribed <- buffer
	return f.events, func() { f.cancelOnce.Do(func() { close(f.canceled) }) }
}

func (f *fakeBackend) sent() []api.SendRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.SendRequest(nil), f.sends...)
}

func (f *fakeBackend) lastQuery() *api.HistoryQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.query
}

// do runs one request through the server in memory.
func do(t *testing.T, s *Server, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// wantError checks an answer is the JSON api.Error with the given status and code.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) api.Error {
	t.Helper()
	if w.Code != status {
		t.Errorf("status %d, want %d (body %s)", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e api.Error
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body is not an api.Error: %v", err)
	}
	if e.Code != code || e.Error == "" {
		t.Errorf("error body %+v, want code %q and a message", e, code)
	}
	return e
}

func TestUnauthorized(t *testing.T) {
	headers := map[string]string{
		"none":              "",
		"wrong token":       "Bearer wrong",
		"token of a prefix": "Bearer " + testToken[:10],
		"token plus more":   "Bearer " + testToken + "x",
		"no scheme":         testToken,
		"other scheme":      "Basic " + testToken,
	}
	paths := []string{
		"GET " + api.PathStatus, "GET " + api.PathPeers, "POST " + api.PathSend,
		"GET " + api.PathHistory, "GET " + api.PathEvents, "POST " + api.PathPing, "GET /v1/nope",
	}
	f := newFake()
	s := New(f, testToken, nil)
	for name, h := range headers {
		for _, p := range paths {
			t.Run(name+" "+p, func(t *testing.T) {
				method, path, _ := strings.Cut(p, " ")
				r := httptest.NewRequest(method, path, strings.NewReader(`{"to":"x","text":"y"}`))
				if h != "" {
					r.Header.Set("Authorization", h)
				}
				w := httptest.NewRecorder()
				s.ServeHTTP(w, r)
				e := wantError(t, w, http.StatusUnauthorized, api.CodeUnauthorized)
				if !strings.Contains(e.Error, api.TokenFile) {
					t.Errorf("message %q does not say where the token is", e.Error)
				}
			})
		}
	}
	if len(f.sent()) != 0 || f.lastQuery() != nil || len(f.subscribed) != 0 {
		t.Error("an unauthorized request reached the backend")
	}
}

var (
	t0 = time.Date(2026, 11, 21, 15, 4, 5, 0, time.UTC)
	t1 = t0.Add(1500 * time.Millisecond)
)

// The JSON documents are the API's wire format (the web UI reads them too), so their
// exact shape is pinned here.
func TestStatusJSON(t *testing.T) {
	f := newFake()
	f.status = api.Status{
		PeerID: "12D3KooWA", Name: "ann", Fingerprint: "abcd-efgh", Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWA"},
		Home: "/home/ann/.config/parley", Version: "0.1.0", StartedAt: t0,
	}
	w := do(t, New(f, testToken, nil), http.MethodGet, api.PathStatus, "")
	wantJSON(t, w, `{"peer_id":"12D3KooWA","name":"ann","fingerprint":"abcd-efgh",`+
		`"addrs":["/ip4/127.0.0.1/tcp/1/p2p/12D3KooWA"],"home":"/home/ann/.config/parley",`+
		`"version":"0.1.0","started_at":"2026-11-21T15:04:05Z"}`)
}

func TestPeersJSON(t *testing.T) {
	f := newFake()
	f.peers = []api.Peer{{
		PeerID: "12D3KooWB", Name: "bob", Presence: api.PresenceOnline, Via: "static",
		Connected: true, Addrs: []string{"/ip4/127.0.0.1/tcp/2"}, LastSeen: t0,
	}}
	w := do(t, New(f, testToken, nil), http.MethodGet, api.PathPeers, "")
	wantJSON(t, w, `{"peers":[{"peer_id":"12D3KooWB","name":"bob","presence":"online","status":"",`+
		`"via":"static","connected":true,"relayed":false,"addrs":["/ip4/127.0.0.1/tcp/2"],`+
		`"last_seen":"2026-11-21T15:04:05Z"}]}`)
}

func TestHistoryJSON(t *testing.T) {
	f := newFake()
	f.history = []api.Message{
		{ID: "m1", From: "A", FromName: "ann", To: "B", Text: "hi", SentAt: t0, Direction: "out", State: api.StateDelivered},
		{ID: "m2", From: "B", To: "A", Text: "yo", SentAt: t0, ReceivedAt: t1, Direction: "in", State: api.StateReceived},
	}
	w := do(t, New(f, testToken, nil), http.MethodGet, api.PathHistory, "")
	wantJSON(t, w, `{"messages":[`+
		`{"id":"m1","from":"A","from_name":"ann","to":"B","text":"hi","sent_at":"2026-11-21T15:04:05Z","direction":"out","state":"delivered"},`+
		`{"id":"m2","from":"B","to":"A","text":"yo","sent_at":"2026-11-21T15:04:05Z","received_at":"2026-11-21T15:04:06.5Z","direction":"in","state":"received"}]}`)
}

func TestHistoryEmptyIsAList(t *testing.T) {
	w := do(t, New(newFake(), testToken, nil), http.MethodGet, api.PathHistory, "")
	wantJSON(t, w, `{"messages":[]}`)
}

func wantJSON(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %s)", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if got := strings.TrimSuffix(w.Body.String(), "\n"); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestSend(t *testing.T) {
	f := newFake()
	f.result = api.SendResult{Message: api.Message{ID: "m1", Text: "hello", State: api.StateDelivered}, RoundTrip: 3 * time.Millisecond}
	w := do(t, New(f, testToken, nil), http.MethodPost, api.PathSend, `{"to":"bob","text":"hello"}`)
	wantJSON(t, w, `{"message":{"id":"m1","from":"","to":"","text":"hello","sent_at":"0001-01-01T00:00:00Z",`+
		`"direction":"","state":"delivered"},"round_trip_ns":3000000}`)
	if got := f.sent(); len(got) != 1 || got[0] != (api.SendRequest{To: "bob", Text: "hello"}) {
		t.Errorf("backend got %+v, want one send of hello to bob", got)
	}
}

func TestSendAcceptsABodyJustUnder1MiB(t *testing.T) {
	text := strings.Repeat("x", maxBodyBytes-len(`{"to":"bob","text":""}`))
	f := newFake()
	w := do(t, New(f, testToken, nil), http.MethodPost, api.PathSend, `{"to":"bob","text":"`+text+`"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %.200s)", w.Code, w.Body)
	}
	if got := f.sent(); len(got) != 1 || got[0].Text != text {
		t.Error("the backend did not get the whole text")
	}
}

func TestSendBackendErrors(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unknown peer", fmt.Errorf("%w %q: not seen", api.ErrUnknownPeer, "zed"), http.StatusNotFound, api.CodeUnknownPeer},
		{"ambiguous peer", fmt.Errorf("%w %q", api.ErrAmbiguousPeer, "bob"), http.StatusConflict, api.CodeAmbiguousPeer},
		{"bad request", fmt.Errorf("%w: the text is empty", api.ErrBadRequest), http.StatusBadRequest, api.CodeBadRequest},
		{"blocked", fmt.Errorf("not sent: bob is %w", api.ErrBlocked), http.StatusConflict, api.CodeBlocked},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, api.CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			f.err = c.err
			w := do(t, New(f, testToken, nil), http.MethodPost, api.PathSend, `{"to":"zed","text":"hi"}`)
			e := wantError(t, w, c.status, c.code)
			if e.Error != c.err.Error() {
				t.Errorf("message %q, want the backend's %q", e.Error, c.err)
			}
		})
	}
}

func TestSendRejectsBadBodies(t *testing.T) {
	huge := `{"to":"bob","text":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	bodies := map[string]string{
		"empty":         "",
		"not JSON":      "to=bob&text=hi",
		"truncated":     `{"to":"bob","text":"hi`,
		"wrong type":    `{"to":1,"text":"hi"}`,
		"unknown field": `{"to":"bob","text":"hi","room":"x"}`,
		"array":         `[{"to":"bob","text":"hi"}]`,
		"over 1 MiB":    huge,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			w := do(t, New(f, testToken, nil), http.MethodPost, api.PathSend, body)
			e := wantError(t, w, http.StatusBadRequest, api.CodeBadRequest)
			if !strings.HasPrefix(e.Error, "bad send request: ") {
				t.Errorf("message %q does not say what was wrong", e.Error)
			}
			if body == huge && !strings.Contains(e.Error, "too large") {
				t.Errorf("message %q does not say the body is too large", e.Error)
			}
			if len(f.sent()) != 0 {
				t.Error("a rejected body reached the backend")
			}
		})
	}
}

func TestWrongMethod(t *testing.T) {
	w := do(t, New(newFake(), testToken, nil), http.MethodGet, api.PathSend, "")
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: status %d, want 405", api.PathSend, w.Code)
	}
}

func TestPing(t *testing.T) {
	f := newFake()
	f.rtt = 2 * time.Millisecond
	w := do(t, New(f, testToken, nil), http.MethodPost, api.PathPing+"?peer=bob", "")
	wantJSON(t, w, `{"peer_id":"bob","round_trip_ns":2000000}`)

	f = newFake()
	f.err = fmt.Errorf("%w %q", api.ErrUnknownPeer, "zed")
	w = do(t, New(f, testToken, nil), http.MethodPost, api.PathPing+"?peer=zed", "")
	wantError(t, w, http.StatusNotFound, api.CodeUnknownPeer)
}

func TestHistoryQuery(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	until := time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600))
	f := newFake()
	target := api.PathHistory + "?peer=bob&search=hello+world&since=2026-01-02T03:04:05.6Z" +
		"&until=2026-02-03T04:05:06%2B01:00&limit=7"
	if w := do(t, New(f, testToken, nil), http.MethodGet, target, ""); w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %s)", w.Code, w.Body)
	}
	q := f.lastQuery()
	if q == nil {
		t.Fatal("the backend was not asked")
	}
	if q.Peer != "bob" || q.Search != "hello world" || q.Limit != 7 || !q.Since.Equal(since) || !q.Until.Equal(until) {
		t.Errorf("backend got %+v\nwant peer bob, search %q, since %v, until %v, limit 7", *q, "hello world", since, until)
	}

	f = newFake()
	if w := do(t, New(f, testToken, nil), http.MethodGet, api.PathHistory, ""); w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if q := f.lastQuery(); q == nil || *q != (api.HistoryQuery{}) {
		t.Errorf("no parameters: backend got %+v, want the zero query", q)
	}
}

func TestHistoryQueryRejects(t *testing.T) {
	queries := map[string]string{
		"since garbage":  "since=yesterday",
		"since a date":   "since=2026-01-02",
		"until garbage":  "until=soon",
		"negative limit": "limit=-1",
		"limit a word":   "limit=ten",
		"limit a float":  "limit=1.5",
	}
	for name, query := range queries {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			w := do(t, New(f, testToken, nil), http.MethodGet, api.PathHistory+"?"+query, "")
			e := wantError(t, w, http.StatusBadRequest, api.CodeBadRequest)
			param, _, _ := strings.Cut(query, "=")
			if !strings.Contains(e.Error, param) {
				t.Errorf("message %q does not name %s", e.Error, param)
			}
			if f.lastQuery() != nil {
				t.Error("a rejected query reached the backend")
			}
		})
	}
}

func TestHistoryBackendError(t *testing.T) {
	f := newFake()
	f.err = fmt.Errorf("%w %q", api.ErrAmbiguousPeer, "bob")
	w := do(t, New(f, testToken, nil), http.MethodGet, api.PathHistory+"?peer=bob", "")
	wantError(t, w, http.StatusConflict, api.CodeAmbiguousPeer)
}

// startStream serves s on a real loopback server and opens the event stream. The
// server, its client and every goroutine they started are gone when the test ends.
func startStream(t *testing.T, f *fakeBackend) (*http.Response, context.CancelFunc) {
	t.Helper()
	checkGoroutines(t)
	srv := httptest.NewServer(New(f, testToken, nil))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+api.PathEvents, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	select {
	case n := <-f.subscribed:
		if n <= 0 {
			t.Errorf("subscribed with buffer %d: a slow client would lose every event", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not subscribe to the backend's events")
	}
	return resp, cancel
}

func TestEventStream(t *testing.T) {
	f := newFake()
	resp, _ := startStream(t, f)
	sent := []api.Event{
		{Type: api.EventMessage, Time: t0, Message: &api.Message{ID: "m1", Text: "hi", Direction: "in", State: api.StateReceived}},
		{Type: api.EventPeer, Time: t1, Peer: &api.Peer{PeerID: "12D3KooWB", Name: "bob", Presence: api.PresenceOnline}},
	}
	for _, e := range sent {
		f.events <- e
	}
	r := bufio.NewReader(resp.Body)
	for i, want := range sent {
		typ, data := readEvent(t, r)
		if typ != want.Type {
			t.Errorf("event %d: type %q, want %q", i, typ, want.Type)
		}
		var got api.Event
		if err := json.Unmarshal([]byte(data), &got); err != nil {
			t.Fatalf("event %d: data %q: %v", i, data, err)
		}
		wantData, _ := json.Marshal(want)
		if gotData, _ := json.Marshal(got); string(gotData) != string(wantData) {
			t.Errorf("event %d:\n got %s\nwant %s", i, gotData, wantData)
		}
	}

	close(f.events) // the node stops
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if strings.Contains(string(rest), "data:") {
		t.Errorf("more events after the backend closed its channel: %q", rest)
	}
	waitClosed(t, f.canceled, "unsubscribe after the stream ended")
}

// readEvent reads one server-sent event, skipping comments (keep-alives).
func readEvent(t *testing.T, r *bufio.Reader) (typ, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (event %q, data %q)", err, typ, data)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data != "":
			return typ, data
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEventStreamClientGone(t *testing.T) {
	f := newFake()
	resp, cancel := startStream(t, f)
	cancel()
	resp.Body.Close()
	waitClosed(t, f.canceled, "unsubscribe after the client went away")
	// checkGoroutines (registered by startStream) then sees the handler gone.
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting to %s", what)
	}
}

// checkGoroutines fails the test if, once it and its cleanups are done, more goroutines
// run than before it started. Register it first so that it runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines left behind (%d before, %d after):\n%s", n-before, before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// FuzzSendBody: whatever a local process posts, the server answers 200 or 400 with a
// JSON document and hands the backend only what decoded.
func FuzzSendBody(f *testing.F) {
	for _, seed := range []string{`{"to":"bob","text":"hi"}`, `{"to":"bob"}`, `{}`, `[]`, `{"to":1}`, `{"x":1}`, "", "\x00", `{"to":"a","text":"b"} trailing`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := newFake()
		w := do(t, New(b, testToken, nil), http.MethodPost, api.PathSend, body)
		switch w.Code {
		case http.StatusOK:
			if len(b.sent()) != 1 {
				t.Fatalf("200 but the backend got %d sends", len(b.sent()))
			}
		case http.StatusBadRequest:
			if len(b.sent()) != 0 {
				t.Fatal("400 but the backend got the send")
			}
		default:
			t.Fatalf("status %d for body %q", w.Code, body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
	})
}

// FuzzHistoryQuery: any query string is either rejected with 400 or reaches the backend
// with a non-negative limit.
func FuzzHistoryQuery(f *testing.F) {
	for _, seed := range []string{"", "limit=5", "limit=-1", "since=2026-01-02T03:04:05Z", "since=x", "peer=a&search=b%20c", "limit=99999999999999999999", "%zz"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		b := newFake()
		r := httptest.NewRequest(http.MethodGet, api.PathHistory, nil)
		r.URL.RawQuery = query
		r.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		New(b, testToken, nil).ServeHTTP(w, r)
		q := b.lastQuery()
		switch w.Code {
		case http.StatusOK:
			if q == nil || q.Limit < 0 {
				t.Fatalf("200 with backend query %+v", q)
			}
		case http.StatusBadRequest:
			if q != nil {
				t.Fatal("400 but the backend was asked")
			}
		default:
			t.Fatalf("status %d for query %q", w.Code, query)
		}
	})
}
