package main

import (
	"context"
	"encoding/json"
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

// startNodeWith is startNode with options changed by set (which may name the home of
// a stopped node, to restart it).
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
	n.home = o.Home
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

// TestFlagsAfterArguments: the examples on a real pair. Flags after the text are
// flags; `--` makes the rest text, flag-like words included.
func TestFlagsAfterArguments(t *testing.T) {
	ann, bob := pair(t)
	var sent api.SendResult
	bob.jsonOf(t, &sent, "send", "ann", "hello", "--json")
	if sent.Message.Text != "hello" || sent.Message.State != api.StateDelivered {
		t.Errorf("send ann hello --json = %+v, want hello delivered", sent)
	}
	if r := bob.parley(t, nil, "send", "ann", "--", "--json", "is", "a", "flag"); r.code != 0 || r.stdout != "delivered\n" {
		t.Errorf("send ann -- --json is a flag: %s", r)
	}
	var texts []string
	for _, m := range ann.history(t, "bob", "--limit", "5") {
		texts = append(texts, m.Text)
	}
	if !slices.Equal(texts, []string{"hello", "--json is a flag"}) {
		t.Errorf("ann received %q", texts)
	}
	var p api.Presence
	bob.jsonOf(t, &p, "status", "away", "back at 2", "--json")
	if p.Presence != api.PresenceAway || p.Status != "back at 2" {
		t.Errorf("status away \"back at 2\" --json = %+v", p)
	}
	var ct api.Contact
	bob.jsonOf(t, &ct, "contacts", "add", "ann", "--name", "Annie", "--group", "sales", "--json")
	if ct.PeerID != ann.st.PeerID || ct.Nickname != "Annie" || ct.Group != "sales" {
		t.Errorf("contacts add ann --name Annie --group sales = %+v", ct)
	}
	if last := bob.history(t, "ann", "--limit", "1"); len(last) != 1 || last[0].Text != "--json is a flag" {
		t.Errorf("history ann --limit 1 = %+v", last)
	}
}

// TestSendToBlocked: the node refuses a message to a peer you blocked, says so and how
// to undo it, and keeps nothing (it used to answer "queued").
func TestSendToBlocked(t *testing.T) {
	ann, bob := pair(t)
	if r := bob.parley(t, nil, "contacts", "block", "ann"); r.code != 0 {
		t.Fatalf("block: %s", r)
	}
	for _, to := range []string{"ann", ann.st.PeerID} {
		r := bob.parley(t, nil, "send", to, "are you there?")
		wantOutput(t, r, 1, nil, []string{"parley: ", "ann", "is blocked", "parley contacts unblock ann"})
		if r.stdout != "" {
			t.Errorf("send to a blocked peer printed %q", r.stdout)
		}
	}
	if got := bob.history(t); len(got) != 0 {
		t.Errorf("bob's archive kept messages to a blocked peer: %+v", got)
	}
	if r := bob.parley(t, nil, "contacts", "unblock", "ann"); r.code != 0 {
		t.Fatalf("unblock: %s", r)
	}
	if r := bob.parley(t, nil, "send", "ann", "back"); r.code != 0 {
		t.Errorf("send after unblock: %s", r)
	}
}

// TestSendFromStdin: `echo text | parley send ann -` sends what was piped in.
func TestSendFromStdin(t *testing.T) {
	ann, bob := pair(t)
	if r := bob.parley(t, strings.NewReader("line one\nline two\n"), "send", "ann", "-"); r.code != 0 || r.stdout != "delivered\n" {
		t.Fatalf("send ann -: %s", r)
	}
	if got := ann.history(t); len(got) != 1 || got[0].Text != "line one\nline two" {
		t.Errorf("ann received %+v, want the two piped lines", got)
	}
}

// TestListingsReadWell: contacts ls and room ls have column headers, counts are in the
// right number, and a room's name given as a peer suggests '#NAME'.
func TestListingsReadWell(t *testing.T) {
	ann, bob := pair(t)
	if r := bob.parley(t, nil, "contacts", "add", "ann"); r.code != 0 {
		t.Fatalf("contacts add: %s", r)
	}
	r := bob.parley(t, nil, "contacts", "ls")
	wantOutput(t, r, 0, []string{"NAME", "PRESENCE", "STATUS", "VERIFIED", "PEER ID", ann.st.PeerID}, nil)
	if !strings.HasPrefix(r.stdout, "NAME") {
		t.Errorf("contacts ls does not start with its header:\n%s", r.stdout)
	}
	r = bob.parley(t, nil, "room", "create", "ops")
	wantOutput(t, r, 0, []string{"created #ops: 1 member,"}, nil)
	r = bob.parley(t, nil, "room", "ls")
	wantOutput(t, r, 0, []string{"ROOM", "ROLE", "MEMBERS", "ID", "#ops", "1 member "}, nil)
	if strings.Contains(r.stdout, "1 members") {
		t.Errorf("room ls says 1 members:\n%s", r.stdout)
	}
	r = bob.parley(t, nil, "send", "ops", "hello")
	wantOutput(t, r, 1, nil, []string{`unknown peer "ops"`, "'#ops'"})
}

// TestJSONErrorsFromTheNode: the node's refusals keep their API code under --json, and
// `open --json` prints the login link as a document.
func TestJSONErrorsFromTheNode(t *testing.T) {
	ann, bob := pair(t)
	r := bob.parley(t, nil, "send", "nobody", "hi", "--json")
	if msg, code := jsonError(t, r); r.code != 1 || code != api.CodeUnknownPeer || !strings.Contains(msg, "nobody") {
		t.Errorf("send nobody --json: exit %d, %q %q", r.code, code, msg)
	}
	bob.parley(t, nil, "contacts", "block", "ann")
	r = bob.parley(t, nil, "send", "ann", "hi", "--json")
	if msg, code := jsonError(t, r); r.code != 1 || code != api.CodeBlocked || !strings.Contains(msg, "parley contacts unblock ann") {
		t.Errorf("send to blocked --json: exit %d, %q %q", r.code, code, msg)
	}
	var link api.WebLogin
	ann.jsonOf(t, &link, "open", "--no-browser", "--json")
	if !strings.HasPrefix(link.URL, "http://127.0.0.1:") || link.ExpiresAt.IsZero() {
		t.Errorf("open --json = %+v", link)
	}
}
