package archive

import (
	"context"
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
	got, err := s.Recipients(context.Background())
	if err != nil || !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("Recipients = %q, %v; want [bob carol]", got, err)
	}
}
