package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/mailbox"
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
	tr := startTrio(t, MailboxConfig{Serve: true})
	box, ann, bob, maxHome, bobHome, annHome, mc := tr.box, tr.ann, tr.bob, tr.maxHome, tr.bobHome, tr.annHome, tr.mc
	annID, bobID := ann.ID().String(), bob.ID().String()
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

type trio struct {
	box, ann, bob             *Node
	maxHome, annHome, bobHome string
	mc                        MailboxConfig
}

// startTrio starts a mailbox host (Max, with serve), and Ann and Bob, contacts of each
// other who fetch from it, and waits until each has the other's mailboxes.
func startTrio(t *testing.T, serve MailboxConfig) trio {
	t.Helper()
	tr := trio{maxHome: t.TempDir(), annHome: t.TempDir(), bobHome: t.TempDir()}
	tr.box = startAt(t, tr.maxHome, "Max", serve)
	tr.mc = MailboxConfig{Peers: []string{fullAddr(tr.box)}}
	tr.ann = startAt(t, tr.annHome, "Ann", tr.mc)
	tr.bob = startAt(t, tr.bobHome, "Bob", tr.mc, fullAddr(tr.ann))
	waitUntil(t, "each has the other's mailboxes", func() bool {
		a, okA := tr.ann.mail.of(tr.bob.ID())
		b, okB := tr.bob.mail.of(tr.ann.ID())
		return okA && okB && len(a.boxes) == 1 && len(b.boxes) == 1
	})
	for _, c := range []struct{ n, of *Node }{{tr.ann, tr.bob}, {tr.bob, tr.ann}} {
		if _, err := c.n.AddContact(context.Background(), api.ContactRequest{Peer: c.of.ID().String()}); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// TestMailboxDropsForgedEnvelopes: envelopes that do not open (garbage, or tampered
// with after sealing) are dropped, logged and acknowledged by the recipient, and
// the real mail behind them arrives.
func TestMailboxDropsForgedEnvelopes(t *testing.T) {
	ctx := context.Background()
	tr := startTrio(t, MailboxConfig{Serve: true})
	bobID := tr.bob.ID()
	tr.bob.Close()
	waitUntil(t, "Ann sees Bob gone", func() bool { return !tr.ann.reachable(bobID) })
	pm, _ := tr.ann.mail.of(bobID)
	tampered, err := mailbox.Seal(tr.ann.cfg.Identity.Key, mailbox.Letter{To: bobID, ID: "x", Body: []byte{1}}, pm.binding)
	if err != nil {
		t.Fatal(err)
	}
	tampered[len(tampered)-1] ^= 1
	for _, env := range [][]byte{[]byte("\x01not an envelope"), tampered} {
		if _, err := tr.ann.mail.client.Deposit(ctx, tr.box.ID(), mailbox.Deposit{To: mailbox.PeerAddress(bobID), Envelope: env}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.ann.Send(ctx, bobID.String(), "the real one"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "held", func() bool { return states(t, tr.ann, bobID.String())[api.StateHeld] == 1 })
	bob := startAt(t, tr.bobHome, "Bob", tr.mc)
	waitUntil(t, "Bob has the real one", func() bool { return states(t, bob, tr.ann.ID().String())[api.StateReceived] == 1 })
	waitUntil(t, "the mailbox keeps nothing for Bob", func() bool {
		for _, h := range tr.box.MailboxServer().Holdings() {
			if string(h.To.ID) == string(bobID) {
				return false
			}
		}
		return true
	})
}

// TestMailboxExpiryRequeues: when the mailboxes' TTL runs out before the recipient
// fetched, the sender's message says so (queued again, no longer held) and is kept, and
// then deposited again.
func TestMailboxExpiryRequeues(t *testing.T) {
	ctx := context.Background()
	tr := startTrio(t, MailboxConfig{Serve: true, TTL: time.Second})
	bobID := tr.bob.ID().String()
	tr.bob.Close()
	waitUntil(t, "Ann sees Bob gone", func() bool { return !tr.ann.reachable(tr.bob.ID()) })
	events, stop := tr.ann.Subscribe(64)
	defer stop()
	if _, err := tr.ann.Send(ctx, bobID, "soon gone"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "held", func() bool { return states(t, tr.ann, bobID)[api.StateHeld] == 1 })
	time.Sleep(1100 * time.Millisecond) // past the mailbox's TTL
	tr.ann.releaseExpiredHolds()
	var seen []string
	waitUntil(t, "queued again, then held again", func() bool {
		select {
		case e := <-events:
			if e.Type == api.EventState && e.Message != nil {
				seen = append(seen, e.Message.State)
			}
		default:
		}
		return strings.Contains(strings.Join(seen, " "), "held queued held")
	})
}

// TestPeerMailKeptAcrossRestarts: what a peer published about its mail survives our
// restart (the archive keeps it), and a later profile without mailboxes (the peer just
// started) does not erase them.
func TestPeerMailKeptAcrossRestarts(t *testing.T) {
	home := t.TempDir()
	n := startAt(t, home, "Ann", MailboxConfig{})
	pm := mailProfile(t).Mail
	n.notePeerMail(fuzzOwner, pm)
	n.notePeerMail(fuzzOwner, peerMail{binding: pm.binding})
	n.Close()
	n = startAt(t, home, "Ann", MailboxConfig{})
	got, ok := n.mail.of(fuzzOwner)
	if !ok || len(got.boxes) != 1 || got.boxes[0].ID != pm.boxes[0].ID || !bytes.Equal(got.binding.Public, pm.binding.Public) {
		t.Fatalf("after a restart: %+v, %v", got, ok)
	}
}
