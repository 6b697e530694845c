package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/localapi"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeNode is the Backend behind a real localapi server, so these tests check the
// client against the server it is written for.
type fakeNode struct {
	mu     sync.Mutex
	query  api.HistoryQuery
	events chan api.Event
	subs   chan struct{} // one value per Subscribe
	unsubs chan struct{} // one value per cancel
}

func (f *fakeNode) Status() api.Status {
	return api.Status{PeerID: "12D3KooWA", Name: "ann", Version: api.Version}
}

func (f *fakeNode) Peers() []api.Peer {
	return []api.Peer{{PeerID: "12D3KooWB", Name: "bob", Presence: api.PresenceOnline}}
}

func (f *fakeNode) Send(_ context.Context, to, text string) (api.SendResult, error) {
	switch to {
	case "bob":
		return api.SendResult{Message: api.Message{To: "12D3KooWB", Text: text, State: api.StateDelivered}}, nil
	case "twins":
		return api.SendResult{}, fmt.Errorf("%w %q", api.ErrAmbiguousPeer, to)
	}
	return api.SendResult{}, fmt.Errorf("%w %q: no peer of that name has been seen", api.ErrUnknownPeer, to)
}

func (f *fakeNode) Ping(context.Context, string) (time.Duration, error) { return time.Millisecond, nil }

func (f *fakeNode) History(_ context.Context, q api.HistoryQuery) ([]api.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = q
	return []api.Message{{ID: "m1", Text: "hi"}}, nil
}

func (f *fakeNode) Subscribe(int) (<-chan api.Event, func()) {
	f.subs <- struct{}{}
	var once sync.Once
	return f.events, func() { once.Do(func() { f.unsubs <- struct{}{} }) }
}

// serve runs a local API for a fake node and writes api.addr and api.token into a new
// home, as the daemon does.
func serve(t *testing.T) (*fakeNode, string) {
	t.Helper()
	checkGoroutines(t)
	f := &fakeNode{events: make(chan api.Event, 4), subs: make(chan struct{}, 4), unsubs: make(chan struct{}, 4)}
	srv := httptest.NewServer(localapi.New(f, testToken, nil))
	t.Cleanup(srv.Close)
	home := t.TempDir()
	writeHome(t, home, srv.Listener.Addr().String(), testToken)
	return f, home
}

func writeHome(t *testing.T, home, addr, token string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(home, api.AddrFile), []byte(addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, api.TokenFile), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newClient(t *testing.T, home string) *Client {
	t.Helper()
	c, err := New(home)
	if err != nil {
		t.Fatal(err)
	}
	// The server closes idle connections when it stops, but only this ends the
	// transport's goroutines before checkGoroutines looks.
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

func wantNotRunning(t *testing.T, err error, home string) {
	t.Helper()
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("error %v, want one wrapping ErrNotRunning", err)
	}
	for _, want := range []string{"parley is not running for home " + home, "start it with `parley up`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestNewWithoutNode(t *testing.T) {
	home := t.TempDir()
	_, err := New(home)
	wantNotRunning(t, err, home)
}

func TestNewWithoutHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "never-created")
	_, err := New(home)
	wantNotRunning(t, err, home)
}

func TestNewWithoutToken(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, api.AddrFile), []byte("127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(home)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, api.TokenFile)) {
		t.Errorf("error %v, want one naming %s", err, api.TokenFile)
	}
}

// A node killed with -9 leaves api.addr behind; the port it names answers no more.
func TestStaleAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	home := t.TempDir()
	writeHome(t, home, addr, testToken)
	c := newClient(t, home)
	_, err = c.Status(context.Background())
	wantNotRunning(t, err, home)
	if !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("error %q does not say the API does not answer", err)
	}
	err = c.Events(context.Background(), func(api.Event) error { return nil })
	wantNotRunning(t, err, home)
}

func TestCanceledIsNotNotRunning(t *testing.T) {
	_, home := serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newClient(t, home).Status(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotRunning) {
		t.Errorf("error %v, want context.Canceled and not ErrNotRunning", err)
	}
}

func TestAPIErrorIs(t *testing.T) {
	sentinels := []error{api.ErrUnknownPeer, api.ErrAmbiguousPeer, api.ErrBadRequest, api.ErrBlocked}
	cases := map[string]error{
		api.CodeBlocked:       api.ErrBlocked,
		api.CodeUnknownPeer:   api.ErrUnknownPeer,
		api.CodeAmbiguousPeer: api.ErrAmbiguousPeer,
		api.CodeBadRequest:    api.ErrBadRequest,
		api.CodeUnauthorized:  nil,
		api.CodeInternal:      nil,
		"":                    nil,
	}
	for code, want := range cases {
		err := fmt.Errorf("send: %w", &APIError{Status: 400, Code: code, Message: "m"})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == want) {
				t.Errorf("code %q: errors.Is(err, %q) = %v", code, s, got)
			}
		}
		if errors.Is(err, ErrNotRunning) {
			t.Errorf("code %q matches ErrNotRunning", code)
		}
	}
}

func TestServerErrors(t *testing.T) {
	_, home := serve(t)
	c := newClient(t, home)
	cases := []struct {
		to     string
		status int
		is     error
	}{
		{"zed", http.StatusNotFound, api.ErrUnknownPeer},
		{"twins", http.StatusConflict, api.ErrAmbiguousPeer},
	}
	for _, tc := range cases {
		_, err := c.Send(context.Background(), tc.to, "hi")
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || !errors.Is(err, tc.is) {
			t.Errorf("send to %s: error %#v, want an APIError with status %d matching %v", tc.to, err, tc.status, tc.is)
			continue
		}
		if !strings.Contains(ae.Message, tc.to) {
			t.Errorf("send to %s: message %q lost the node's words", tc.to, ae.Message)
		}
	}
}

func TestWrongToken(t *testing.T) {
	_, home := serve(t)
	writeHome(t, home, mustRead(t, filepath.Join(home, api.AddrFile)), "not-the-token")
	_, err := newClient(t, home).Peers(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != api.CodeUnauthorized {
		t.Errorf("error %#v, want an APIError 401 unauthorized", err)
	}
}

func TestNonJSONErrorAnswer(t *testing.T) {
	checkGoroutines(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>proxy says no</html>", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	home := t.TempDir()
	writeHome(t, home, srv.Listener.Addr().String(), testToken)
	_, err := newClient(t, home).Status(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(ae.Message, "502") {
		t.Errorf("error %#v, want an APIError 502 whose message gives the status", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestCalls(t *testing.T) {
	f, home := serve(t)
	c := newClient(t, home)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.PeerID != "12D3KooWA" || st.Name != "ann" {
		t.Errorf("Status = %+v, %v", st, err)
	}
	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 1 || peers[0].Name != "bob" {
		t.Errorf("Peers = %+v, %v", peers, err)
	}
	res, err := c.Send(ctx, "bob", "hello world")
	if err != nil || res.Message.Text != "hello world" || res.Message.State != api.StateDelivered {
		t.Errorf("Send = %+v, %v", res, err)
	}
	pr, err := c.Ping(ctx, "bob & co")
	if err != nil || pr.PeerID != "bob & co" || pr.RoundTrip != time.Millisecond {
		t.Errorf("Ping = %+v, %v (the peer must survive query escaping)", pr, err)
	}

	q := api.HistoryQuery{
		Peer: "bob & co", Search: "hello world",
		Since: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Until: time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("", -7*3600)),
		Limit: 5,
	}
	msgs, err := c.History(ctx, q)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("History = %+v, %v", msgs, err)
	}
	f.mu.Lock()
	got := f.query
	f.mu.Unlock()
	if got.Peer != q.Peer || got.Search != q.Search || got.Limit != q.Limit || !got.Since.Equal(q.Since) || !got.Until.Equal(q.Until) {
		t.Errorf("the node got %+v\nwant %+v", got, q)
	}
	if _, err := c.History(ctx, api.HistoryQuery{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	got = f.query
	f.mu.Unlock()
	if got != (api.HistoryQuery{}) {
		t.Errorf("the zero query arrived as %+v", got)
	}
}

func TestEvents(t *testing.T) {
	f, home := serve(t)
	c := newClient(t, home)
	sent := []api.Event{
		{Type: api.EventMessage, Message: &api.Message{ID: "m1", Text: "hi"}},
		{Type: api.EventPeer, Peer: &api.Peer{PeerID: "12D3KooWB", Presence: api.PresenceOffline}},
	}
	var got []api.Event
	done := make(chan error, 1)
	go func() {
		done <- c.Events(context.Background(), func(e api.Event) error {
			got = append(got, e)
			return nil
		})
	}()
	waitFor(t, f.subs, "the subscription")
	for _, e := range sent {
		f.events <- e
	}
	close(f.events) // the node stops
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not return after the node closed the stream")
	}
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "not running for home "+home) {
		t.Errorf("Events = %v, want ErrNotRunning naming the home", err)
	}
	if strings.Contains(err.Error(), "<nil>") {
		t.Errorf("error %q shows a nil error to the user", err)
	}
	if len(got) != 2 || got[0].Message == nil || got[0].Message.Text != "hi" ||
		got[1].Peer == nil || got[1].Peer.Presence != api.PresenceOffline {
		t.Errorf("got events %+v, want the two sent", got)
	}
	waitFor(t, f.unsubs, "the server to unsubscribe")
}

func TestEventsStopsWhenFnFails(t *testing.T) {
	f, home := serve(t)
	c := newClient(t, home)
	stop := errors.New("enough")
	done := make(chan error, 1)
	go func() { done <- c.Events(context.Background(), func(api.Event) error { return stop }) }()
	waitFor(t, f.subs, "the subscription")
	f.events <- api.Event{Type: api.EventMessage}
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("Events = %v, want fn's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not return fn's error")
	}
	waitFor(t, f.unsubs, "the server to unsubscribe")
}

func TestEventsStopsWithContext(t *testing.T) {
	f, home := serve(t)
	c := newClient(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Events(ctx, func(api.Event) error { return nil }) }()
	waitFor(t, f.subs, "the subscription")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Events = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not return when its context ended")
	}
	waitFor(t, f.unsubs, "the server to unsubscribe")
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
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

// FuzzDecodeError: whatever an error answer holds, the caller gets an *APIError with the
// status and a message to show.
func FuzzDecodeError(f *testing.F) {
	f.Add(404, `{"error":"unknown peer","code":"unknown_peer"}`)
	f.Add(500, `{"error":""}`)
	f.Add(502, "<html>")
	f.Add(400, `{"error":1}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		resp := &http.Response{StatusCode: status, Status: fmt.Sprint(status), Body: io.NopCloser(strings.NewReader(body))}
		err := decodeError(resp)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != status || ae.Message == "" {
			t.Fatalf("decodeError(%d, %q) = %#v", status, body, err)
		}
	})
}

// FuzzReadEvents: whatever the event stream carries, decoding returns an error or
// events, and never panics.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"message\",\"message\":{\"id\":\"a\",\"text\":\"hi\"}}\n\n: heartbeat\n\n"))
	f.Add([]byte("data: {\"type\":\"room\",\"room\":{\"id\":\"ab\",\"members\":[{\"peer_id\":\"x\"}]}}\n"))
	f.Add([]byte("data: {not json\n"))
	f.Add([]byte("event: x\ndata:\ndata: null\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		n := 0
		err := readEvents(bytes.NewReader(stream), func(api.Event) error { n++; return nil })
		if err == nil {
			t.Fatal("readEvents returned nil; the stream's end must be reported")
		}
	})
}

// TestEventsOpenedRunsOnceSubscribed: opened runs after the node has subscribed the
// stream and before any event, so what a client fetches in it leaves no gap.
func TestEventsOpenedRunsOnceSubscribed(t *testing.T) {
	f, home := serve(t)
	c := newClient(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.EventsOpened(ctx, func() {
			select {
			case <-f.subs:
			default:
				t.Error("opened ran before the node subscribed the stream")
			}
			close(opened)
		}, func(api.Event) error { return nil })
	}()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("opened did not run")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("EventsOpened = %v, want context.Canceled", err)
	}
}
