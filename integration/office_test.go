package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// pingBot is the README's example bot, as a script file: it answers every message that
// starts with "!ping" with "pong". `parley` must be in its PATH; PARLEY_HOME, which the
// node sets for it, makes that `parley` talk to the node that runs the bot.
const pingBot = `#!/bin/sh
# pingbot: answers every message that starts with "!ping" with "pong".
# Run it with:  parley up --on-message /path/to/pingbot
case "$PARLEY_TEXT" in
'!ping'*) exec parley send "$PARLEY_FROM" pong ;;
esac
`

// TestOnMessageBot: Bob's node runs `up --on-message` with the ping bot (and a line
// that records what the command was given). Ann sends "hello" and then "!ping": she gets
// exactly one "pong" back, and the command saw each message's sender, name, text, ID
// and Bob's home in its environment, and the text on stdin.
func TestOnMessageBot(t *testing.T) {
	lab := netlab.New(t) // skips here, before the build, when namespaces cannot be made
	dir := t.TempDir()
	bot := filepath.Join(dir, "pingbot")
	if err := os.WriteFile(bot, []byte(pingBot), 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "hook.log")
	// The test records first (it reads stdin), then runs the bot with the CLI on PATH.
	onMessage := fmt.Sprintf(`{ env | grep '^PARLEY_' | sort; echo "stdin=$(cat)"; echo --; } >> '%s'; PATH='%s':"$PATH" '%s'`,
		record, filepath.Dir(testnode.Build(t)), bot)
	p := startPairIn(t, lab, "--on-message", onMessage)

	hello := sendJSON(t, p.ann, "Bob", "hello")
	ping := sendJSON(t, p.ann, "Bob", "!ping")
	testnode.WaitFor(t, 30*time.Second, "the bot's pong", func() bool {
		return len(messagesWith(p.ann.History(), p.bobID, "in")) > 0
	})
	time.Sleep(time.Second) // a second answer (to "hello") would have come by now
	got := messagesWith(p.ann.History(), p.bobID, "in")
	if len(got) != 1 || got[0].Text != "pong" {
		t.Fatalf("Ann got %+v from the bot, want one pong", got)
	}

	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	runs := strings.Split(strings.TrimSuffix(string(data), "--\n"), "--\n")
	if len(runs) != 2 {
		t.Fatalf("the command ran %d times for 2 incoming messages:\n%s", len(runs), data)
	}
	for i, m := range []api.Message{hello.Message, ping.Message} {
		for _, want := range []string{
			"PARLEY_FROM=" + p.annID, "PARLEY_FROM_NAME=Ann", "PARLEY_TEXT=" + m.Text,
			"PARLEY_MESSAGE_ID=" + m.ID, "PARLEY_HOME=" + p.bob.Home, "stdin=" + m.Text,
		} {
			if !hasLine(runs[i], want) {
				t.Errorf("run %d of the command lacks %q:\n%s", i+1, want, runs[i])
			}
		}
	}
}

func hasLine(s, line string) bool {
	for l := range strings.SplitSeq(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// TestOfficeArchive: after Ann and Bob exchange messages, `history --export FILE` on
// Ann's node writes JSON lines that decode to exactly what `history --json` lists (and
// --since narrows both alike); `history --report --json` lists Bob with a session and
// the message count. `history --retain` deletes by age and keeps queued messages,
// which are still delivered when Bob is back.
func TestOfficeArchive(t *testing.T) {
	p := startPair(t)
	for i := range 3 {
		sendJSON(t, p.ann, "Bob", fmt.Sprintf("invoice question %d", i+1))
	}
	since := time.Now()
	sendJSON(t, p.bob, "Ann", "answer 1")
	sendJSON(t, p.bob, "Ann", "answer 2")

	all := p.ann.History()
	if len(all) != 5 {
		t.Fatalf("Ann's history has %d messages, want 5: %+v", len(all), all)
	}
	assertExport(t, p.ann, all)
	assertExport(t, p.ann, p.ann.History("--since", since.Format(time.RFC3339Nano)), "--since", since.Format(time.RFC3339Nano))

	var rep api.Report
	p.ann.JSON(&rep, "history", "--report")
	if len(rep.Peers) != 1 || rep.Peers[0].PeerID != p.bobID || rep.Peers[0].Sessions < 1 ||
		rep.Peers[0].Messages != 5 || rep.Peers[0].Duration <= 0 {
		t.Fatalf("report: %+v, want Bob with ≥ 1 session, 5 messages and some time", rep)
	}
	t.Logf("report: %s, %d session(s), %d messages, %v", rep.Peers[0].Name, rep.Peers[0].Sessions, rep.Peers[0].Messages, rep.Peers[0].Duration)

	p.bob.Stop()
	if res := sendJSON(t, p.ann, "Bob", "kept while queued"); res.Message.State != api.StateQueued {
		t.Fatalf("send to stopped Bob: %+v, want queued", res)
	}
	if deleted := purge(t, p.ann, "1h"); deleted != 0 {
		t.Fatalf("--retain 1h deleted %d messages of the last minute", deleted)
	}
	if deleted := purge(t, p.ann, "0d"); deleted != 5 {
		t.Fatalf("--retain 0d deleted %d messages, want the 5 not queued", deleted)
	}
	left := p.ann.History()
	if len(left) != 1 || left[0].Text != "kept while queued" || left[0].State != api.StateQueued {
		t.Fatalf("after --retain 0d Ann's history is %+v, want only the queued message", left)
	}
	p.bob.Restart()
	testnode.WaitFor(t, 60*time.Second, "the queued message to be delivered", func() bool {
		return allInState(p.ann.History(), 1, api.StateDelivered)
	})
	assertReceived(t, p.bob, []string{"kept while queued"})
}

// assertExport runs `history --export FILE args...` on n and checks the file's JSON
// lines decode to want, in order (to_name is not exported: it is what n calls the
// recipient, not part of the message).
func assertExport(t *testing.T, n *testnode.Node, want []api.Message, args ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.jsonl")
	n.CLI(append([]string{"history", "--export", file}, args...)...)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []api.Message
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m api.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %d %q: %v", len(got)+1, sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != len(want) {
		t.Fatalf("export %v: %d lines, history lists %d messages", args, len(got), len(want))
	}
	for i := range want {
		w := want[i]
		w.ToName = ""
		if !sameMessage(got[i], w) {
			t.Errorf("export %v line %d:\n got %+v\nwant %+v", args, i+1, got[i], w)
		}
	}
}

func sameMessage(a, b api.Message) bool {
	return a.ID == b.ID && a.From == b.From && a.FromName == b.FromName && a.To == b.To && a.ToName == b.ToName &&
		a.Room == b.Room && a.Text == b.Text && a.SentAt.Equal(b.SentAt) && a.ReceivedAt.Equal(b.ReceivedAt) &&
		a.Direction == b.Direction && a.State == b.State
}

// purge is `parley history --retain AGE --json` and returns how many were deleted.
func purge(t *testing.T, n *testnode.Node, age string) int64 {
	t.Helper()
	var r api.PurgeResult
	n.JSON(&r, "history", "--retain", age)
	return r.Deleted
}
