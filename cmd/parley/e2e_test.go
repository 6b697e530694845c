package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/daemon"
)

// waitLong bounds waits for things that take milliseconds on loopback but may take
// seconds on a loaded runner under the race detector.
const waitLong = 60 * time.Second

// node is a daemon.Run in a goroutine of the test: loopback only, mDNS off.
type node struct {
	name string
	home string
	st   api.Status
	stop func() // cancels Run and waits for it; also done at cleanup
}

// startNode runs a node named name, connected to the given full /p2p/ addresses, and
// stops it (waiting for Run to return nil) at cleanup.
func startNode(t *testing.T, name string, peers ...string) *node {
	t.Helper()
	return startNodeWith(t, name, func(o *daemon.Options) { o.StaticPeers = peers })
}

// startNodeWith is startNode with options changed by set.
func startNodeWith(t *testing.T, name string, set func(*daemon.Options)) *node {
	t.Helper()
	n := &node{name: name, home: t.TempDir()}
	ready := make(chan api.Status, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	o := daemon.Options{
		Home: n.home, Name: name, MDNS: false, // never advertise on this machine's network
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, APIAddr: "127.0.0.1:0",
		Ready: func(st api.Status, _ string, _ bool) { ready <- st },
	}
	set(&o)
	go func() { done <- daemon.Run(ctx, o) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run = %v", name, err)
				}
			case <-time.After(waitLong):
				t.Errorf("%s: Run did not return after cancel", name)
			}
		})
	}
	t.Cleanup(n.stop)
	select {
	case n.st = <-ready:
	case err := <-done:
		t.Fatalf("%s: Run ended before it was ready: %v", name, err)
	case <-time.After(waitLong):
		t.Fatalf("%s: not ready in time", name)
	}
	return n
}

// parley runs the CLI for this node's home.
func (n *node) parley(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return parley(t, stdin, append([]string{"--home", n.home}, args...)...)
}

// jsonOf runs a --json command that must succeed and decodes its output into v.
func (n *node) jsonOf(t *testing.T, v any, args ...string) {
	t.Helper()
	r := n.parley(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("parley %s: %s", strings.Join(args, " "), r)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("parley %s printed no JSON document: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// waitSees waits until n's `peers --json` lists other, by name, as online.
func (n *node) waitSees(t *testing.T, other *node) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		var l api.PeerList
		n.jsonOf(t, &l, "peers", "--json")
		if slices.ContainsFunc(l.Peers, func(p api.Peer) bool {
			return p.PeerID == other.st.PeerID && p.Name == other.name && p.Presence == api.PresenceOnline
		}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not see %s online: %+v", n.name, other.name, l.Peers)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) history(t *testing.T, args ...string) []api.Message {
	t.Helper()
	var l api.MessageList
	n.jsonOf(t, &l, append([]string{"history", "--json"}, args...)...)
	return l.Messages
}

// pair starts ann and bob, bob connected to ann by address, and waits until each sees
// the other online by name.
func pair(t *testing.T) (ann, bob *node) {
	t.Helper()
	ann = startNode(t, "ann")
	bob = startNode(t, "bob", ann.st.Addrs[0])
	bob.waitSees(t, ann)
	ann.waitSees(t, bob)
	return ann, bob
}

func TestEndToEnd(t *testing.T) {
	ann, bob := pair(t)

	var st api.Status
	ann.jsonOf(t, &st, "id", "--json")
	if st.PeerID != ann.st.PeerID || st.Name != "ann" || st.Home != ann.home {
		t.Errorf("id --json = %+v, want ann's status", st)
	}
	wantOutput(t, ann.parley(t, nil, "id"), 0, []string{"Name:         ann", "Peer ID:      " + ann.st.PeerID, "Addresses:"}, nil)
	wantOutput(t, bob.parley(t, nil, "peers"), 0, []string{"NAME", "PRESENCE", "ann", "online", "static", "direct", ann.st.PeerID}, nil)

	r := bob.parley(t, nil, "send", "ann", "hello", "world")
	if r.code != 0 || r.stdout != "delivered\n" || r.stderr != "" {
		t.Fatalf("send: %s", r)
	}
	var sent api.SendResult
	bob.jsonOf(t, &sent, "send", "--json", ann.st.PeerID, "by", "peer", "ID")
	if sent.Message.State != api.StateDelivered || sent.Message.Text != "by peer ID" || sent.Message.To != ann.st.PeerID || sent.RoundTrip <= 0 || sent.Error != "" {
		t.Errorf("send --json = %+v", sent)
	}

	r = bob.parley(t, nil, "send", "nobody", "hi")
	wantOutput(t, r, 1, nil, []string{"parley: ", "unknown peer", "nobody"})
	if r.stdout != "" {
		t.Errorf("a refused send printed %q", r.stdout)
	}

	got := ann.history(t)
	if len(got) != 2 {
		t.Fatalf("ann's history has %d messages, want 2: %+v", len(got), got)
	}
	m := got[0]
	if m.Text != "hello world" || m.State != api.StateReceived || m.Direction != "in" ||
		m.From != bob.st.PeerID || m.FromName != "bob" || m.To != ann.st.PeerID || m.ReceivedAt.IsZero() {
		t.Errorf("ann received %+v", m)
	}
	if out := bob.history(t, "ann"); len(out) != 2 || out[0].Text != "hello world" || out[0].State != api.StateDelivered || out[0].Direction != "out" {
		t.Errorf("bob's history with ann: %+v", out)
	}

	r = ann.parley(t, nil, "history", "--search", "hello")
	wantOutput(t, r, 0, []string{"received", "bob → me: hello world"}, nil)
	if strings.Contains(r.stdout, "by peer ID") {
		t.Errorf("search for hello also found the other message:\n%s", r.stdout)
	}
	if found := ann.history(t, "--search", "zebra"); len(found) != 0 {
		t.Errorf("search for zebra found %+v", found)
	}
	if last := ann.history(t, "--limit", "1"); len(last) != 1 || last[0].Text != "by peer ID" {
		t.Errorf("history --limit 1 = %+v, want the newest message", last)
	}
	if since := ann.history(t, "--since", "1h"); len(since) != 2 {
		t.Errorf("history --since 1h = %d messages, want 2", len(since))
	}
	if until := ann.history(t, "--until", "2000-01-01"); len(until) != 0 {
		t.Errorf("history --until 2000-01-01 = %+v, want none", until)
	}
	if byName := ann.history(t, "bob"); len(byName) != 2 {
		t.Errorf("history bob = %d messages, want 2", len(byName))
	}
	wantOutput(t, ann.parley(t, nil, "history", "nobody"), 1, nil, []string{"unknown peer", "nobody"})
	wantOutput(t, ann.parley(t, nil, "history", "--search", "!!!"), 1, nil, []string{"no letters or digits"})
}

func TestChatSendsTypedLines(t *testing.T) {
	ann, bob := pair(t)
	r := bob.parley(t, strings.NewReader("line one\n\n  \nline two\n"), "chat", "ann")
	wantOutput(t, r, 0, []string{"Chatting with ann"}, nil)
	if r.stderr != "" {
		t.Errorf("chat wrote to stderr: %q", r.stderr)
	}
	var texts []string
	for _, m := range ann.history(t) {
		texts = append(texts, m.Text)
	}
	if !slices.Equal(texts, []string{"line one", "line two"}) {
		t.Errorf("ann received %q, want the two non-empty lines", texts)
	}

	r = bob.parley(t, strings.NewReader("hi\n"), "chat", "nobody")
	wantOutput(t, r, 0, nil, []string{"! unknown peer"})
}

// TestChatShowsIncoming: `chat` without a peer shows what arrives and sends `@NAME text`.
func TestChatShowsIncoming(t *testing.T) {
	ann, bob := pair(t)
	stdin, typing := io.Pipe()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"parley", "--home", ann.home, "chat"}, stdin, &stdout, &stderr)
	}()
	waitOutput(t, &stdout, "Showing all incoming messages")

	// The banner is printed once the event stream is being opened, not once it is
	// open: bob sends until a message shows up.
	deadline := time.Now().Add(waitLong)
	for i := 0; ; i++ {
		text := fmt.Sprintf("ping %d", i)
		if r := bob.parley(t, nil, "send", "ann", text); r.code != 0 {
			t.Fatalf("send: %s", r)
		}
		if waitOutputFor(&stdout, "] bob: "+text, time.Second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ann's chat never showed bob's messages:\n%s", stdout.String())
		}
	}

	fmt.Fprintln(typing, "no recipient")
	fmt.Fprintln(typing, "@bob sent with an at")
	typing.Close()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("chat exited %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(waitLong):
		t.Fatal("chat did not end at end of input")
	}
	if !strings.Contains(stderr.String(), "! to send, start the line with @NAME") {
		t.Errorf("a line without @NAME was not refused with a hint; stderr:\n%s", stderr.String())
	}
	if got := bob.history(t, "--search", "with an at"); len(got) != 1 || got[0].Text != "sent with an at" || got[0].Direction != "in" {
		t.Errorf("bob's history for the @bob line: %+v", got)
	}
}

func TestChatEndsWhenTheNodeStops(t *testing.T) {
	ann := startNode(t, "ann")
	stdin, typing := io.Pipe()
	defer typing.Close()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(context.Background(), []string{"parley", "--home", ann.home, "chat"}, stdin, &stdout, &stderr)
	}()
	waitOutput(t, &stdout, "Showing all incoming messages")
	ann.stop()
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("chat exited %d, want 1", code)
		}
	case <-time.After(waitLong):
		t.Fatal("chat went on after its node stopped")
	}
	// Either the stream was open and the node closed it, or the node was already gone.
	want := "parley: parley is not running for home " + ann.home
	if got := stderr.String(); !strings.HasPrefix(got, want) || strings.Contains(got, "<nil>") {
		t.Errorf("stderr %q, want it to start with %q", got, want)
	}
	t.Logf("stderr: %s", stderr.String())
}

func waitOutput(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	if !waitOutputFor(b, want, waitLong) {
		t.Fatalf("output lacks %q:\n%s", want, b.String())
	}
}

func waitOutputFor(b *syncBuffer, want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
