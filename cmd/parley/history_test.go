package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

func texts(msgs []api.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

// TestHistorySearchesWordPrefixes: `--search hel` finds words that start with "hel",
// every word of the search must match, FTS5 syntax in it is only text, and a search
// that matches nothing says so.
func TestHistorySearchesWordPrefixes(t *testing.T) {
	ann, bob := pair(t)
	for _, text := range []string{"hello world", "help me move", "a shell script", "Helsinki NEAR(x)"} {
		if r := bob.parley(t, nil, "send", "ann", text); r.code != 0 {
			t.Fatalf("send: %s", r)
		}
	}
	for search, want := range map[string][]string{
		"hel":       {"hello world", "help me move", "Helsinki NEAR(x)"},
		"HEL wor":   {"hello world"},
		"he m":      {"help me move"},
		`near(x) "`: {"Helsinki NEAR(x)"},
		"shell":     {"a shell script"},
	} {
		if got := texts(ann.history(t, "--search", search)); !slices.Equal(got, want) {
			t.Errorf("history --search %q = %q, want %q", search, got, want)
		}
	}
	r := ann.parley(t, nil, "history", "--search", "zebra")
	wantOutput(t, r, 0, []string{`no messages match "zebra"`}, nil)
	r = ann.parley(t, nil, "history", "--since", "2000-01-01", "--until", "2000-01-02")
	wantOutput(t, r, 0, []string{"no messages"}, nil)
}

// TestHistoryWithoutANode: with the node stopped, history reads the archive read-only
// (by peer name, search and --json included), says that it did, and changes nothing.
func TestHistoryWithoutANode(t *testing.T) {
	ann, bob := pair(t)
	// bob's archive names ann by the name on her message (they are not contacts).
	if r := ann.parley(t, nil, "send", "bob", "hi bob"); r.code != 0 {
		t.Fatalf("send: %s", r)
	}
	for _, text := range []string{"hello ann", "second line"} {
		if r := bob.parley(t, nil, "send", "ann", text); r.code != 0 {
			t.Fatalf("send: %s", r)
		}
	}
	bob.stop()
	r := bob.parley(t, nil, "history", "ann")
	wantOutput(t, r, 0, []string{"me → ann: hello ann", "me → ann: second line", "delivered"}, []string{"not running", "read-only"})
	if got := texts(bob.history(t, "--search", "hel")); !slices.Equal(got, []string{"hello ann"}) {
		t.Errorf("offline history --search hel = %q", got)
	}
	if got := bob.history(t, ann.st.PeerID); len(got) != 3 || got[1].ToName != "ann" || got[1].State != api.StateDelivered {
		t.Errorf("offline history by peer ID = %+v", got)
	}
	wantOutput(t, bob.parley(t, nil, "history", "nobody"), 1, nil, []string{"nobody"})
	wantOutput(t, bob.parley(t, nil, "history", "--search", "zebra"), 0, []string{"no messages match"}, nil)
	// Tools that write still need the node.
	wantOutput(t, bob.parley(t, nil, "history", "--retain", "1d"), 1, nil, []string{"parley is not running", "parley up"})
}

// TestStampShowsTheDateOnceOlderThanToday: listings show the time alone for today's
// messages and the date too for older ones.
func TestStampShowsTheDateOnceOlderThanToday(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 30, 0, 0, time.Local)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 12, 4, 0, 1, 0, 0, time.Local), "00:01"},
		{time.Date(2026, 12, 3, 23, 59, 0, 0, time.Local), "2026-12-03 23:59"},
		{time.Date(2025, 12, 4, 10, 30, 0, 0, time.Local), "2025-12-04 10:30"},
	} {
		if got := stamp(tc.t, now); got != tc.want {
			t.Errorf("stamp(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	old := api.Message{Text: "old", From: "p", FromName: "bob", Direction: "in", SentAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.Local)}
	if line := chatLine(old, now); !strings.HasPrefix(line, "[2026-12-01 09:00] bob: old") {
		t.Errorf("chat line of an old message = %q, want its date", line)
	}
}
