package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
)

const offlineMessages = 100

// TestOfflineDelivery: Bob's node is down while Ann sends 100 messages from a script
// (`parley send` in a shell loop), each of which must say `queued`; Ann's node is
// restarted after the 50th. When Bob's node is back, mDNS brings the two together and
// all 100 reach Bob by themselves, each exactly once (one archive entry per ID and per
// text, with the IDs Ann gave them), in the order Ann sent them (Bob's receive times
// follow the send order), and Ann's history shows them delivered; once Bob opens the
// conversation they show read. Bob goes down cleanly (SIGTERM) or is killed (SIGKILL,
// and then Ann is killed too rather than stopped).
func TestOfflineDelivery(t *testing.T) {
	cases := []struct {
		name string
		down func(*testnode.Node)
	}{
		{"SIGTERM", (*testnode.Node).Stop},
		{"SIGKILL", (*testnode.Node).Kill},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { testOfflineDelivery(t, tc.down) })
	}
}

func testOfflineDelivery(t *testing.T, down func(*testnode.Node)) {
	p := startPair(t)
	down(p.bob)
	start := time.Now()
	sendQueued(t, p.ann, "Bob", 1, offlineMessages/2)
	down(p.ann)
	p.ann.Restart()
	sendQueued(t, p.ann, "Bob", offlineMessages/2+1, offlineMessages)
	t.Logf("%d messages queued in %v (Ann restarted after %d)", offlineMessages, time.Since(start).Round(time.Millisecond), offlineMessages/2)
	sent := messagesWith(p.ann.History(), p.bobID, "out")
	if !allInState(sent, offlineMessages, api.StateQueued) {
		t.Fatalf("Ann's history before Bob is back: want %d queued messages, got %s", offlineMessages, states(sent))
	}
	assertNumbered(t, "Ann's history (by sent_at)", sent)

	p.bob.Restart()
	back := time.Now()
	testnode.WaitFor(t, 90*time.Second, "Bob to receive all queued messages", func() bool {
		return len(messagesWith(p.bob.History(), p.annID, "in")) >= offlineMessages
	})
	t.Logf("all %d arrived %v after Bob's node was up again", offlineMessages, time.Since(back).Round(time.Millisecond))
	assertReceivedOnceInOrder(t, sent, messagesWith(p.bob.History(), p.annID, "in"))
	testnode.WaitFor(t, 30*time.Second, "Ann's history to show all delivered", func() bool {
		return allInState(messagesWith(p.ann.History(), p.bobID, "out"), offlineMessages, api.StateDelivered)
	})

	p.bob.History("Ann") // Bob reads the conversation: read receipts go to Ann
	testnode.WaitFor(t, 30*time.Second, "Ann's history to show all read", func() bool {
		return allInState(messagesWith(p.ann.History(), p.bobID, "out"), offlineMessages, api.StateRead)
	})
}

// offlineText is the text of message i.
func offlineText(i int) string { return fmt.Sprintf("offline message %d of %d", i, offlineMessages) }

// sendQueued sends messages first..last from n to `to` with one shell loop in n's
// namespace, and fails unless every `parley send` printed "queued".
func sendQueued(t *testing.T, n *testnode.Node, to string, first, last int) {
	t.Helper()
	script := fmt.Sprintf(`i=%d
while [ "$i" -le %d ]; do
	parley send %s "offline message $i of %d" || exit 1
	i=$((i+1))
done`, first, last, to, offlineMessages)
	out, err := n.Shell(2*time.Minute, script)
	if err != nil {
		t.Fatalf("send loop: %v\noutput so far:\n%s", err, out)
	}
	lines := strings.Fields(out)
	if len(lines) != last-first+1 {
		t.Fatalf("send loop printed %d lines for %d messages:\n%s", len(lines), last-first+1, out)
	}
	for i, l := range lines {
		if l != api.StateQueued {
			t.Fatalf("send of message %d printed %q, want %q", first+i, l, api.StateQueued)
		}
	}
}

// assertNumbered checks that msgs are offline messages 1..N in this order.
func assertNumbered(t *testing.T, what string, msgs []api.Message) {
	t.Helper()
	for i, m := range msgs {
		if want := offlineText(i + 1); m.Text != want {
			t.Fatalf("%s: message #%d is %q, want %q", what, i+1, m.Text, want)
		}
	}
}

// assertReceivedOnceInOrder checks Bob's incoming messages against what Ann sent: the
// same IDs and texts, each exactly once, sent_at as Ann set it, and received in the
// order sent.
func assertReceivedOnceInOrder(t *testing.T, sent, got []api.Message) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("Bob has %d messages from Ann, want %d", len(got), len(sent))
	}
	byID := map[string]api.Message{}
	byText := map[string]int{}
	for _, m := range got {
		if _, dup := byID[m.ID]; dup {
			t.Errorf("message ID %s archived twice", m.ID)
		}
		byID[m.ID] = m
		byText[m.Text]++
	}
	for _, s := range sent {
		g, ok := byID[s.ID]
		switch {
		case !ok:
			t.Errorf("Bob lacks %q (ID %s)", s.Text, s.ID)
		case g.Text != s.Text || !g.SentAt.Equal(s.SentAt):
			t.Errorf("ID %s: Bob has %q sent %v, Ann sent %q at %v", s.ID, g.Text, g.SentAt, s.Text, s.SentAt)
		case byText[s.Text] != 1:
			t.Errorf("Bob has %q %d times", s.Text, byText[s.Text])
		}
	}
	assertNumbered(t, "Bob's history (by sent_at)", got)
	arrival := slices.Clone(got)
	slices.SortStableFunc(arrival, func(a, b api.Message) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	assertNumbered(t, "Bob's messages by received_at", arrival)
}

// states summarises the states of msgs, for failure messages.
func states(msgs []api.Message) string {
	count := map[string]int{}
	for _, m := range msgs {
		count[m.State]++
	}
	return fmt.Sprintf("%d messages %v", len(msgs), count)
}
