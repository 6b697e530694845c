package archive

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestRecipients: the peers written to are those of outgoing direct messages in any
// state; incoming messages and room messages do not count.
func TestRecipients(t *testing.T) {
	s := openTestStore(t)
	room := outgoing("room", "", "x", base, StateDelivered)
	room.Room = "lunch"
	in := Message{ID: "in", From: "eve", To: "me", Text: "x", SentAt: base, Direction: Incoming, State: StateReceived}
	mustPut(t, s,
		outgoing("c1", "carol", "x", base, StateDelivered),
		outgoing("b1", "bob", "x", base, StateQueued),
		outgoing("c2", "carol", "x", base, StateFailed),
		room, in,
	)
	got, err := s.Recipients(context.Background(), "me")
	if err != nil || !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("Recipients = %q, %v; want [bob carol]", got, err)
	}
}

// BenchmarkRecipients: the node asks for the peers written to at every start. Every
// third of 100,000 messages goes out, to one of 500 peers; the rest come in.
//
//	go test -run XXX -bench Recipients ./archive/
func BenchmarkRecipients(b *testing.B) {
	s := openTestStore(b)
	tx, err := s.writer.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100000 {
		dir, to := "in", "me"
		if i%3 == 0 {
			dir, to = "out", fmt.Sprint("peer", i%500)
		}
		if _, err := tx.Exec("INSERT INTO messages (id, from_peer, to_peer, body, sent_at, direction, state) VALUES (?, 'x', ?, 'text', ?, ?, 'sent')",
			fmt.Sprint(i), to, i, dir); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if got, err := s.Recipients(context.Background(), "me"); err != nil || len(got) != 500 {
			b.Fatalf("%d recipients, %v", len(got), err)
		}
	}
}
