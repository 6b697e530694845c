package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

const mailboxMessages = 20

// TestMailboxWhileApart: Ann, Bob and a mailbox host (Max, `up --mailbox`) on one LAN,
// found by mDNS. Ann writes 20 messages while Bob is down, which the mailbox holds
// (sealed), and stops; the mailbox is SIGKILLed and restarted; Bob starts and has all
// 20, once each and in order, reads them and stops; Ann starts and sees them delivered
// and read while Bob is still down. Max's files never contain the messages' text.
func TestMailboxWhileApart(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	max := testnode.Start(t, testnode.Options{Name: "Max", Host: lab.AddHost("max"), Args: []string{"--mailbox"}})
	p := startPairIn(t, lab)
	maxID := max.Status().PeerID
	for _, n := range []*testnode.Node{p.ann, p.bob} {
		waitMailboxFound(t, n, maxID)
	}
	// A status change pushes Bob's profile, which names his mailbox, to Ann.
	p.bob.CLI("status", "online", "mail goes to Max")
	testnode.WaitFor(t, 30*time.Second, "Ann to see Bob's new profile", func() bool {
		b, ok := p.ann.Peer(p.bobID)
		return ok && b.Status == "mail goes to Max"
	})

	p.bob.Stop()
	testnode.WaitFor(t, 30*time.Second, "Ann to see Bob offline", func() bool {
		b, ok := p.ann.Peer(p.bobID)
		return ok && !b.Connected
	})
	var texts []string
	for i := 1; i <= mailboxMessages; i++ {
		texts = append(texts, fmt.Sprintf("mailbox message %d of %d", i, mailboxMessages))
		p.ann.CLI("send", "Bob", texts[i-1])
	}
	testnode.WaitFor(t, 60*time.Second, "Ann's messages held at Max", func() bool {
		sent := messagesWith(p.ann.History(), p.bobID, "out")
		return allInState(sent, mailboxMessages, api.StateHeld) && slices.Contains(sent[0].HeldAt, maxID)
	})
	p.ann.Stop()
	max.Kill() // between deposit and fetch: what it acknowledged is committed
	max.Restart()

	p.bob.Restart()
	back := time.Now()
	testnode.WaitFor(t, 60*time.Second, "Bob to have Ann's messages", func() bool {
		return len(messagesWith(p.bob.History(), p.annID, "in")) >= mailboxMessages
	})
	t.Logf("all %d in Bob's archive %v after his node started", mailboxMessages, time.Since(back).Round(time.Millisecond))
	got := messagesWith(p.bob.History(), p.annID, "in")
	if len(got) != mailboxMessages {
		t.Fatalf("Bob has %d messages from Ann, want %d once each", len(got), mailboxMessages)
	}
	for i, m := range got {
		if m.Text != texts[i] {
			t.Fatalf("Bob's message #%d is %q, want %q (in order)", i+1, m.Text, texts[i])
		}
	}
	p.bob.History("Ann") // Bob reads them: the read receipt goes to Ann's mailbox
	testnode.WaitFor(t, 30*time.Second, "Max to hold Bob's receipts for Ann", func() bool {
		st := mailboxStatus(t, max)
		for _, h := range st.Held {
			if h.Recipient == p.annID && h.Count >= mailboxMessages+1 {
				return true
			}
		}
		return false
	})
	p.bob.Stop()

	p.ann.Restart()
	testnode.WaitFor(t, 60*time.Second, "Ann to see all read, Bob still down", func() bool {
		return allInState(messagesWith(p.ann.History(), p.bobID, "out"), mailboxMessages, api.StateRead)
	})
	assertNoPlaintext(t, max.Home, texts)
}

// waitMailboxFound waits until n fetches from the mailbox maxID.
func waitMailboxFound(t *testing.T, n *testnode.Node, maxID string) {
	t.Helper()
	testnode.WaitFor(t, 60*time.Second, "the mailbox found on the LAN", func() bool {
		st := mailboxStatus(t, n)
		return slices.ContainsFunc(st.Mine, func(m api.MailboxMine) bool { return m.Mailbox == maxID })
	})
}

// assertNoPlaintext fails if a file under dir contains one of texts.
func assertNoPlaintext(t *testing.T, dir string, texts []string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
			return nil
		}
		for _, s := range texts {
			if strings.Contains(string(b), s) {
				t.Errorf("the mailbox host's %s contains %q", path, s)
			}
		}
		return nil
	})
}

// mailboxStatus is `parley mailbox status --json` on n.
func mailboxStatus(t *testing.T, n *testnode.Node) api.MailboxStatus {
	t.Helper()
	var st api.MailboxStatus
	if err := json.Unmarshal([]byte(n.CLI("mailbox", "status", "--json")), &st); err != nil {
		t.Fatalf("mailbox status --json: %v", err)
	}
	return st
}

// TestMailboxThroughRendezvous: Bob on another subnet, reached only through the office's
// rendezvous server, which also keeps mail (`rendezvous serve --mailbox`): both find it
// as their mailbox by themselves; Ann's messages written while Bob is down reach him
// when he is back and Ann is gone, and his receipts reach her the same way.
func TestMailboxThroughRendezvous(t *testing.T) {
	t.Parallel()
	office, field := netlab.New(t), netlab.NewSubnet(t, 2)
	office.AddRouter("router", field)
	srvHost, annHost, bobHost := office.AddHost("server"), office.AddHost("ann"), field.AddHost("bob")
	for _, h := range []*netlab.Host{srvHost, annHost} {
		addRoute(t, h, field, office)
	}
	addRoute(t, bobHost, office, field)
	srv := startRendezvous(t, srvHost, t.TempDir(), "--mailbox")
	srvID := srv.addr[strings.LastIndex(srv.addr, "/")+1:]
	withServer := []string{"--rendezvous", srv.addr}
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: annHost, Args: withServer})
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Host: bobHost, Args: withServer})
	annID, bobID := ann.Status().PeerID, bob.Status().PeerID
	waitOnlineVia(t, ann, "Bob", "rendezvous")
	waitOnlineVia(t, bob, "Ann", "rendezvous")
	ann.AddContact("Bob", bobID)
	bob.AddContact("Ann", annID)
	waitMailboxFound(t, ann, srvID)
	waitMailboxFound(t, bob, srvID)
	bob.CLI("status", "online", "mail goes to the server")
	testnode.WaitFor(t, 30*time.Second, "Ann to see Bob's new profile", func() bool {
		b, ok := ann.Peer(bobID)
		return ok && b.Status == "mail goes to the server"
	})

	bob.Stop()
	testnode.WaitFor(t, 30*time.Second, "Ann to see Bob offline", func() bool {
		b, ok := ann.Peer(bobID)
		return ok && !b.Connected
	})
	const count = 5
	for i := 1; i <= count; i++ {
		ann.CLI("send", "Bob", fmt.Sprintf("through the server %d", i))
	}
	testnode.WaitFor(t, 60*time.Second, "held at the server", func() bool {
		return allInState(messagesWith(ann.History(), bobID, "out"), count, api.StateHeld)
	})
	ann.Stop()
	bob.Restart()
	testnode.WaitFor(t, 60*time.Second, "Bob to have them", func() bool {
		return len(messagesWith(bob.History(), annID, "in")) == count
	})
	bob.History("Ann")
	testnode.WaitFor(t, 30*time.Second, "Bob to leave the read receipt at Ann's mailbox", func() bool {
		return strings.Contains(bob.Log(), "read receipts left at the sender's mailboxes")
	})
	bob.Stop()
	ann.Restart()
	testnode.WaitFor(t, 60*time.Second, "Ann to see them read, Bob down", func() bool {
		return allInState(messagesWith(ann.History(), bobID, "out"), count, api.StateRead)
	})
}
