package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/daemon"
)

// chatRun is one `parley chat` run in this process with piped input.
type chatRun struct {
	typing         *io.PipeWriter
	stdout, stderr syncBuffer
	exited         chan int
	cancel         context.CancelFunc
}

// startChat runs `parley --home HOME chat ARGS...`; it is ended at cleanup.
func startChat(t *testing.T, home string, args ...string) *chatRun {
	t.Helper()
	stdin, typing := io.Pipe()
	c := &chatRun{typing: typing, exited: make(chan int, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitLong)
	c.cancel = cancel
	go func() {
		c.exited <- run(ctx, append([]string{"parley", "--home", home, "chat"}, args...), stdin, &c.stdout, &c.stderr)
	}()
	t.Cleanup(func() {
		typing.Close()
		select {
		case <-c.exited:
		case <-time.After(waitLong):
			t.Errorf("chat did not end at end of input")
		}
		cancel()
	})
	return c
}

func (c *chatRun) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c.typing, line); err != nil {
		t.Fatalf("type %q: %v", line, err)
	}
}

// wait waits for the chat to exit at end of input and returns its exit status.
func (c *chatRun) wait(t *testing.T) int {
	t.Helper()
	c.typing.Close()
	select {
	case code := <-c.exited:
		c.exited <- code // for cleanup
		t.Logf("the chat showed:\n%s", c.stdout.String())
		return code
	case <-time.After(waitLong):
		t.Fatalf("chat did not end at end of input\nstdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderr.String())
	}
	return -1
}

func TestChatSendsTypedLines(t *testing.T) {
	ann, bob := pair(t)
	r := bob.parley(t, strings.NewReader("line one\n\n  \nline two\n"), "chat", "ann")
	wantOutput(t, r, 0, []string{"Chatting with ann", "delivered: line one", "delivered: line two"}, nil)
	if r.stderr != "" {
		t.Errorf("chat wrote to stderr: %q", r.stderr)
	}
	if texts := texts(ann.history(t)); !slices.Equal(texts, []string{"line one", "line two"}) {
		t.Errorf("ann received %q, want the two non-empty lines", texts)
	}
}

// TestChatRefusesAnUnknownPeerAtOnce: `chat nobody` fails before reading any input.
func TestChatRefusesAnUnknownPeerAtOnce(t *testing.T) {
	ann := startNode(t, "ann")
	c := startChat(t, ann.home, "nobody") // its input stays open
	select {
	case code := <-c.exited:
		c.exited <- code
		if code != 1 || !strings.Contains(c.stderr.String(), "unknown peer") || strings.Contains(c.stdout.String(), "Chatting") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
		}
	case <-time.After(waitLong):
		t.Fatal("chat with an unknown peer waits for input instead of failing")
	}
}

// TestChatShowsRecentStatesAndPresence: opening a chat shows the last 20 messages; a
// sent line shows delivered, then read once the other side has seen it; the other
// side's presence changes appear.
func TestChatShowsRecentStatesAndPresence(t *testing.T) {
	ann, bob := pair(t)
	for i := range 25 {
		if r := bob.parley(t, nil, "send", "ann", fmt.Sprintf("old %02d", i)); r.code != 0 {
			t.Fatalf("send: %s", r)
		}
	}
	c := startChat(t, ann.home, "bob")
	waitOutput(t, &c.stdout, "bob: old 24")
	if out := c.stdout.String(); strings.Contains(out, "old 04") || !strings.Contains(out, "bob: old 05") {
		t.Errorf("the chat does not open on the last 20 messages:\n%s", out)
	}
	c.typeLine(t, "hello bob")
	waitOutput(t, &c.stdout, "delivered: hello bob")
	bob.parley(t, nil, "history", "ann") // bob reads: ann's node gets a receipt
	waitOutput(t, &c.stdout, "read: hello bob")
	if r := bob.parley(t, nil, "status", "away", "at lunch"); r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	waitOutput(t, &c.stdout, "bob is away: at lunch")
	if code := c.wait(t); code != 0 {
		t.Errorf("chat exited %d\nstderr:\n%s", code, c.stderr.String())
	}
}

// TestChatShowsIncoming: `chat` without a peer shows what arrives and sends `@NAME text`.
func TestChatShowsIncoming(t *testing.T) {
	ann, bob := pair(t)
	c := startChat(t, ann.home)
	waitOutput(t, &c.stdout, "Showing all incoming messages")
	if r := bob.parley(t, nil, "send", "ann", "ping"); r.code != 0 {
		t.Fatalf("send: %s", r)
	}
	waitOutput(t, &c.stdout, "] bob: ping")
	c.typeLine(t, "no recipient")
	c.typeLine(t, "@bob sent with an at")
	if code := c.wait(t); code != 0 {
		t.Errorf("chat exited %d\nstderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "! to send, start the line with @NAME") {
		t.Errorf("a line without @NAME was not refused with a hint; stderr:\n%s", c.stderr.String())
	}
	if got := bob.history(t, "--search", "with an at"); len(got) != 1 || got[0].Text != "sent with an at" || got[0].Direction != "in" {
		t.Errorf("bob's history for the @bob line: %+v", got)
	}
}

// TestChatReconnectsWhenTheNodeRestarts: the chat outlives a restart of its node: it
// says the node is gone, reconnects, and shows and sends messages again.
func TestChatReconnectsWhenTheNodeRestarts(t *testing.T) {
	ann, bob := pair(t)
	c := startChat(t, ann.home, "bob")
	waitOutput(t, &c.stdout, "Chatting with bob")
	ann.stop()
	waitOutput(t, &c.stdout, "reconnecting")
	ann = startNodeWith(t, "ann", func(o *daemon.Options) { o.Home = ann.home; o.StaticPeers = []string{bob.st.Addrs[0]} })
	ann.waitSees(t, bob)
	waitOutput(t, &c.stdout, "reconnected")
	select {
	case code := <-c.exited:
		t.Fatalf("chat exited %d when its node stopped\nstderr:\n%s", code, c.stderr.String())
	default:
	}
	deadline := time.Now().Add(waitLong)
	for i := 0; !strings.Contains(c.stdout.String(), "bob: after restart"); i++ {
		// bob may still be reconnecting to ann: until then his messages are queued.
		if i == 0 {
			bob.parley(t, nil, "send", "ann", "after restart")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reconnected chat does not show bob's message:\n%s", c.stdout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.typeLine(t, "back again")
	waitOutput(t, &c.stdout, "delivered: back again")
	if code := c.wait(t); code != 0 {
		t.Errorf("chat exited %d\nstderr:\n%s", code, c.stderr.String())
	}
	if got := texts(bob.history(t, "--search", "back again")); !slices.Equal(got, []string{"back again"}) {
		t.Errorf("bob got %q", got)
	}
}

// TestChatShowsQueuedThenDelivered: a line to someone offline shows queued, and then
// delivered once they are back and the queue reaches them.
func TestChatShowsQueuedThenDelivered(t *testing.T) {
	ann, bob := pair(t)
	c := startChat(t, ann.home, "bob")
	waitOutput(t, &c.stdout, "* bob is online")
	bob.stop()
	waitOutput(t, &c.stdout, "* bob is offline")
	c.typeLine(t, "while you were away")
	waitOutput(t, &c.stdout, "queued: while you were away")
	startNodeWith(t, "bob", func(o *daemon.Options) { o.Home = bob.home; o.StaticPeers = []string{ann.st.Addrs[0]} })
	waitOutput(t, &c.stdout, "* bob is online")
	waitOutput(t, &c.stdout, "delivered: while you were away")
	if code := c.wait(t); code != 0 {
		t.Errorf("chat exited %d\nstderr:\n%s", code, c.stderr.String())
	}
}
