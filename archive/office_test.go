package archive

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// ftsMatches counts the full-text index entries for word, looking at the
// index itself rather than through the messages table as List does.
func ftsMatches(t *testing.T, s *Store, word string) int {
	t.Helper()
	var n int
	err := s.writer.QueryRow("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", word).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPurge(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	day := 24 * time.Hour
	mustPut(t, s,
		newMessage("old1", "bob", "me", "ancient history", base.Add(-10*day)),
		outgoing("old2", "bob", "ancient reply", base.Add(-9*day), StateRead),
		outgoing("oldq", "bob", "ancient but still queued", base.Add(-8*day), StateQueued),
		newMessage("edge", "bob", "me", "exactly at the cut", base),
		newMessage("new1", "bob", "me", "fresh news", base.Add(day)),
	)
	if n := ftsMatches(t, s, "ancient"); n != 3 {
		t.Fatalf("index entries for 'ancient' before the purge = %d, want 3", n)
	}
	n, err := s.Purge(ctx, base)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2, nil", n, err)
	}
	if got := ids(mustList(t, s, Query{})); got != "oldq,edge,new1" {
		t.Errorf("left after the purge: %s, want oldq,edge,new1", got)
	}
	if got := ids(mustList(t, s, Query{Search: "ancient"})); got != "oldq" {
		t.Errorf("search 'ancient' after the purge = %q, want oldq", got)
	}
	if n := ftsMatches(t, s, "ancient"); n != 1 {
		t.Errorf("index entries for 'ancient' after the purge = %d, want 1 (the queued message)", n)
	}
	if n := ftsMatches(t, s, "history"); n != 0 {
		t.Errorf("index entries for 'history' after the purge = %d, want 0", n)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
	// Purging again finds nothing; the queued message outlives any purge.
	if n, err := s.Purge(ctx, base.Add(100*day)); err != nil || n != 2 {
		t.Errorf("second Purge = %d, %v; want 2 (edge, new1)", n, err)
	}
	if got := ids(mustList(t, s, Query{})); got != "oldq" {
		t.Errorf("left after purging everything: %s, want oldq", got)
	}
	if _, err := s.Purge(ctx, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Purge(zero time) = %v, want ErrInvalid", err)
	}
}

// TestPurgeInBatches runs Purge's loop with small batches (the real size
// makes a slow test under -race), ending on a full batch and a part one.
func TestPurgeInBatches(t *testing.T) {
	const batch = 10
	for _, total := range []int{2 * batch, 2*batch + 7} {
		s := openTestStore(t)
		ctx := context.Background()
		putMany(t, s, total+3, func(i int) Message {
			m := newMessage(fmt.Sprint("m", i), "bob", "me", "batch words", base.Add(time.Duration(i)*time.Second))
			if i%batch == 0 && i/batch < 3 { // queued: m0, m10, m20
				m.Direction, m.State = Outgoing, StateQueued
			}
			return m
		})
		n, err := s.purge(ctx, base.Add(time.Hour), batch)
		if err != nil || n != int64(total) {
			t.Fatalf("purge of %d = %d, %v", total, n, err)
		}
		if got := ids(mustList(t, s, Query{})); got != "m0,m10,m20" {
			t.Errorf("purge of %d left %s, want the queued m0,m10,m20", total, got)
		}
		if err := s.Check(ctx); err != nil {
			t.Error(err)
		}
	}
}

func TestPurgeCancelled(t *testing.T) {
	s := openTestStore(t)
	mustPut(t, s, newMessage("m1", "bob", "me", "x", base))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Purge(ctx, base.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("Purge with a cancelled context = %v, want context.Canceled", err)
	}
	if n := rowCount(t, s); n != 1 {
		t.Errorf("rows after a cancelled Purge = %d, want 1", n)
	}
}

// putMany stores n messages made by mk in one transaction, which is much
// quicker than n Puts.
func putMany(t *testing.T, s *Store, n int, mk func(i int) Message) {
	t.Helper()
	err := s.inTx(context.Background(), func(tx *sql.Tx) error {
		for i := range n {
			m := mk(i)
			_, err := tx.Exec(insertMessage, m.ID, m.From, m.To, m.Room, m.FromName, m.Text,
				toNanos(m.SentAt), toNanos(m.ReceivedAt), string(m.Direction), string(m.State), int64(m.Lamport), m.Sig)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exportLines runs Export and decodes its output line by line.
func exportLines(t *testing.T, s *Store, q Query) []Message {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.Export(context.Background(), &buf, q)
	if err != nil {
		t.Fatalf("Export(%+v): %v", q, err)
	}
	var out []Message
	lines := bufio.NewScanner(&buf)
	for lines.Scan() {
		var m Message
		dec := json.NewDecoder(bytes.NewReader(lines.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("Export line %d %q: %v", len(out)+1, lines.Text(), err)
		}
		out = append(out, m)
	}
	if n != len(out) {
		t.Errorf("Export returned %d, wrote %d lines", n, len(out))
	}
	return out
}

func TestExport(t *testing.T) {
	s := searchFixture(t)
	odd := Message{ID: "odd", From: "alice", To: "bob", Room: "", FromName: "Ann <&>",
		Text: "line one\nline two\t\"quoted\" <b>&amp; \u2028 ✓", SentAt: base.Add(-time.Hour),
		Direction: Outgoing, State: StateRead}
	room := newMessage("room", "carol", "", "room talk", base.Add(5*time.Second))
	room.Room = "lunch"
	mustPut(t, s, odd, room)

	all := mustList(t, s, Query{Limit: 1000})
	if got := exportLines(t, s, Query{Limit: 1}); !slices.EqualFunc(got, all, sameMessage) {
		t.Errorf("Export of everything (Limit ignored) = %s\nwant %s", ids(got), ids(all))
	}
	for _, q := range []Query{
		{Peer: "bob"},
		{Peer: "carol"},
		{Since: base.Add(time.Second), Until: base.Add(4 * time.Second)},
		{Search: "the"},
		{Search: "the", Peer: "carol", Since: base.Add(4 * time.Second)},
		{Peer: "nobody"},
	} {
		want := mustList(t, s, Query{Peer: q.Peer, Since: q.Since, Until: q.Until, Search: q.Search, Limit: 1000})
		if got := exportLines(t, s, q); !slices.EqualFunc(got, want, sameMessage) {
			t.Errorf("Export(%+v) = %s, want %s", q, ids(got), ids(want))
		}
	}
	if _, err := s.Export(context.Background(), &bytes.Buffer{}, Query{Search: "*"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Export with a search of no words = %v, want ErrInvalid", err)
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestExportWriteError(t *testing.T) {
	s := openTestStore(t)
	putMany(t, s, 100, func(i int) Message {
		return newMessage(fmt.Sprint("m", i), "bob", "me", strings.Repeat("words ", 20), base)
	})
	n, err := s.Export(context.Background(), &failingWriter{limit: 10_000}, Query{})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Export to a failing writer = %d, %v; want errDiskFull", n, err)
	}
	if n >= 100 {
		t.Errorf("Export reported %d messages written though the writer failed", n)
	}
}

func TestReport(t *testing.T) {
	s := openTestStore(t)
	at := func(minutes float64) time.Time { return base.Add(time.Duration(minutes * float64(time.Minute))) }
	room := newMessage("room", "bob", "", "room talk", at(30))
	room.Room = "lunch"
	mustPut(t, s,
		// bob: 0, 2, 4 min, then 60, 61 min, in both directions.
		newMessage("b0", "bob", "me", "x", at(0)),
		outgoing("b2", "bob", "x", at(2), StateDelivered),
		newMessage("b4", "bob", "me", "x", at(4)),
		outgoing("b60", "bob", "x", at(60), StateRead),
		newMessage("b61", "bob", "me", "x", at(61)),
		room, // rooms are not billed
		// carol: one message; counts minSession.
		outgoing("c10", "carol", "x", at(10), StateQueued),
		// dave: exactly gap apart stays one session: 0..20 + 1.
		newMessage("d0", "dave", "me", "x", at(0)),
		newMessage("d10", "dave", "me", "x", at(10)),
		newMessage("d20", "dave", "me", "x", at(20)),
		// erin: just over gap apart splits: (0+1) + (0+1).
		newMessage("e0", "erin", "me", "x", at(0)),
		newMessage("e10+", "erin", "me", "x", at(10).Add(time.Nanosecond)),
		// frank: outside the window below.
		newMessage("f-1", "frank", "me", "x", at(-1)),
		newMessage("f100", "frank", "me", "x", at(100)),
	)
	got, err := s.Report(context.Background(), at(0), at(100), 10*time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []ConversationTime{
		{Peer: "dave", Sessions: 1, Messages: 3, Duration: 21 * time.Minute, First: at(0), Last: at(20)},
		{Peer: "bob", Sessions: 2, Messages: 5, Duration: 7 * time.Minute, First: at(0), Last: at(61)},
		{Peer: "erin", Sessions: 2, Messages: 2, Duration: 2 * time.Minute, First: at(0), Last: at(10).Add(time.Nanosecond)},
		{Peer: "carol", Sessions: 1, Messages: 1, Duration: time.Minute, First: at(10), Last: at(10)},
	}
	assertReport(t, got, want)

	// The window cuts bob's first session; no window takes frank in.
	got, err = s.Report(context.Background(), at(3), time.Time{}, 10*time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want = []ConversationTime{
		{Peer: "dave", Sessions: 1, Messages: 2, Duration: 11 * time.Minute, First: at(10), Last: at(20)},
		{Peer: "bob", Sessions: 2, Messages: 3, Duration: 3 * time.Minute, First: at(4), Last: at(61)},
		{Peer: "carol", Sessions: 1, Messages: 1, Duration: time.Minute, First: at(10), Last: at(10)},
		{Peer: "erin", Sessions: 1, Messages: 1, Duration: time.Minute, First: at(10).Add(time.Nanosecond), Last: at(10).Add(time.Nanosecond)},
		{Peer: "frank", Sessions: 1, Messages: 1, Duration: time.Minute, First: at(100), Last: at(100)},
	}
	assertReport(t, got, want)
}

func TestReportRejectsNegative(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.Report(ctx, time.Time{}, time.Time{}, -time.Minute, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative gap: %v, want ErrInvalid", err)
	}
	if _, err := s.Report(ctx, time.Time{}, time.Time{}, time.Minute, -time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative minSession: %v, want ErrInvalid", err)
	}
	if got, err := s.Report(ctx, time.Time{}, time.Time{}, time.Minute, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("Report of an empty archive = %+v, %v", got, err)
	}
}

func assertReport(t *testing.T, got, want []ConversationTime) {
	t.Helper()
	same := func(a, b ConversationTime) bool {
		return a.Peer == b.Peer && a.Sessions == b.Sessions && a.Messages == b.Messages &&
			a.Duration == b.Duration && a.First.Equal(b.First) && a.Last.Equal(b.Last)
	}
	if !slices.EqualFunc(got, want, same) {
		t.Errorf("Report =\n%s\nwant\n%s", formatReport(got), formatReport(want))
	}
}

func formatReport(r []ConversationTime) string {
	var b strings.Builder
	for _, c := range r {
		fmt.Fprintf(&b, "\t%s: %d sessions, %d messages, %v, %v..%v\n", c.Peer, c.Sessions, c.Messages, c.Duration, c.First, c.Last)
	}
	return b.String()
}
