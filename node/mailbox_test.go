package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
)

// startAt runs a node on loopback in home (creating its identity on first use).
func startAt(t *testing.T, home, name string, mc MailboxConfig, peers ...string) *Node {
	t.Helper()
	id, _, err := crypto.LoadOrCreate(home, name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StaticPeers: peers, Mailbox: mc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func states(t *testing.T, n *Node, peerID string) map[string]int {
	t.Helper()
	msgs, err := n.History(context.Background(), api.HistoryQuery{Peer: peerID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range msgs {
		out[m.State]++
	}
	return out
}

// TestMailboxCarriesMessagesAndReceipts: Ann writes 20 messages while Bob is away and
// leaves; Bob comes back and has all 20, once each and in order, reads them and leaves;
// Ann comes back and sees them delivered and read, Bob still away. The mailbox's file
// never holds the text.
func TestMailboxCarriesMessagesAndReceipts(t *testing.T) {
	ctx := context.Background()
	maxHome, annHome, bobHome := t.TempDir(), t.TempDir(), t.TempDir()
	box := startAt(t, maxHome, "Max", MailboxConfig{Serve: true})
	mc := MailboxConfig{Peers: []string{fullAddr(box)}}
	ann := startAt(t, annHome, "Ann", mc)
	bob := startAt(t, bobHome, "Bob", mc, fullAddr(ann))
	annID, bobID := ann.ID().String(), bob.ID().String()
	waitUntil(t, "each has the other's mailboxes", func() bool {
		a, okA := ann.mail.of(bob.ID())
		b, okB := bob.mail.of(ann.ID())
		return okA && okB && len(a.boxes) == 1 && len(b.boxes) == 1
	})
	for _, c := range []struct{ n, of *Node }{{ann, bob}, {bob, ann}} {
		if _, err := c.n.AddContact(ctx, api.ContactRequest{Peer: c.of.ID().String()}); err != nil {
			t.Fatal(err)
		}
	}
	bob.Close()
	waitUntil(t, "Ann sees Bob gone", func() bool { return !ann.reachable(bob.ID()) })
	var texts []string
	for i := range 20 {
		texts = append(texts, fmt.Sprintf("secret note number %02d", i))
		if _, err := ann.Send(ctx, bobID, texts[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "all 20 held", func() bool { return states(t, ann, bobID)[api.StateHeld] == 20 })
	msgs, _ := ann.History(ctx, api.HistoryQuery{Peer: bobID, Limit: 1})
	if len(msgs[0].HeldAt) != 1 || msgs[0].HeldAt[0] != box.ID().String() {
		t.Fatalf("held at %v, want the mailbox %s", msgs[0].HeldAt, box.ID())
	}
	ann.Close()

	bob = startAt(t, bobHome, "Bob", mc)
	waitUntil(t, "Bob has the 20", func() bool { return states(t, bob, annID)[api.StateReceived] == 20 })
	got, _ := bob.History(ctx, api.HistoryQuery{Peer: annID, Limit: 100})
	for i, m := range got {
		if m.Text != texts[i] || m.Direction != "in" {
			t.Fatalf("message %d is %q, want %q", i, m.Text, texts[i])
		}
	}
	if n, err := bob.MarkConversationRead(ctx, annID); err != nil || n != 20 {
		t.Fatalf("read: %d, %v", n, err)
	}
	waitUntil(t, "the mailbox holds Bob's receipts for Ann", func() bool {
		for _, h := range box.MailboxServer().Holdings() {
			if string(h.To.ID) == string(ann.ID()) && h.Count == 21 {
				return true
			}
		}
		return false
	})
	bob.Close()

	ann = startAt(t, annHome, "Ann", mc)
	waitUntil(t, "Ann sees all 20 read", func() bool { return states(t, ann, bobID)[api.StateRead] == 20 })
	assertNoText(t, maxHome, texts)
}

// assertNoText fails if any file under dir contains one of texts.
func assertNoText(t *testing.T, dir string, texts []string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range texts {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds the text %q", p, s)
			}
		}
		return nil
	})
}
