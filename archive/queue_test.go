package archive

import (
	"context"
	"slices"
	"testing"
	"time"
)

func outgoing(id, to, text string, sentAt time.Time, st State) Message {
	return Message{ID: id, From: "me", To: to, FromName: "Me", Text: text, SentAt: sentAt, Direction: Outgoing, State: st}
}

func mustQueued(t *testing.T, s *Store, to string) []Message {
	t.Helper()
	got, err := s.Queued(context.Background(), to)
	if err != nil {
		t.Fatalf("Queued(%q): %v", to, err)
	}
	return got
}

func TestQueuedOrder(t *testing.T) {
	s := openTestStore(t)
	mustPut(t, s,
		outgoing("z", "bob", "x", base, StateQueued),
		outgoing("b", "bob", "x", base, StateQueued),
		outgoing("late", "bob", "x", base.Add(time.Second), StateQueued),
		outgoing("y", "bob", "x", base, StateQueued),
		outgoing("early", "bob", "x", base.Add(-time.Second), StateQueued), // stored last, sent first
		outgoing("sent", "bob", "x", base, StateSent),
		outgoing("carol", "carol", "x", base, StateQueued),
		newMessage("in", "bob", "me", "x", base),
	)
	want := []Message{
		outgoing("early", "bob", "x", base.Add(-time.Second), StateQueued),
		outgoing("z", "bob", "x", base, StateQueued),
		outgoing("b", "bob", "x", base, StateQueued),
		outgoing("y", "bob", "x", base, StateQueued),
		outgoing("late", "bob", "x", base.Add(time.Second), StateQueued),
	}
	got := mustQueued(t, s, "bob")
	if !slices.EqualFunc(got, want, sameMessage) {
		t.Errorf("Queued(bob) = %s, want %s", ids(got), ids(want))
	}
	// Delivered messages leave the queue; the rest keep their order.
	if err := s.SetState(context.Background(), want[1].Key(), StateDelivered); err != nil {
		t.Fatal(err)
	}
	if got := ids(mustQueued(t, s, "bob")); got != "early,b,y,late" {
		t.Errorf("Queued(bob) after one delivery = %s", got)
	}
	if got := mustQueued(t, s, "dave"); len(got) != 0 {
		t.Errorf("Queued(dave) = %s, want none", ids(got))
	}
}

func TestQueuedRecipients(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	room := outgoing("room", "", "x", base, StateQueued)
	room.Room = "lunch"
	mustPut(t, s,
		outgoing("c1", "carol", "x", base, StateQueued),
		outgoing("b1", "bob", "x", base, StateQueued),
		outgoing("c2", "carol", "x", base, StateQueued),
		outgoing("d1", "dave", "x", base, StateDelivered),
		room,
	)
	got, err := s.QueuedRecipients(ctx)
	if err != nil || !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("QueuedRecipients = %q, %v; want [bob carol]", got, err)
	}
	for _, k := range []Key{{ID: "c1", From: "me", To: "carol"}, {ID: "b1", From: "me", To: "bob"}, {ID: "c2", From: "me", To: "carol"}} {
		if err := s.SetState(ctx, k, StateDelivered); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.QueuedRecipients(ctx); err != nil || len(got) != 0 {
		t.Errorf("QueuedRecipients after delivery = %q, %v; want none", got, err)
	}
}

func TestHeldMessagesStayQueued(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	m := Message{ID: "h1", From: "ann", To: "bob", Text: "hi", SentAt: time.Now(), Direction: Outgoing, State: StateQueued}
	if _, err := s.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHeld(ctx, m.Key(), []string{"boxA", "boxB"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	q, err := s.Queued(ctx, "bob")
	if err != nil || len(q) != 1 || q[0].State != StateHeld || len(q[0].HeldAt) != 2 || q[0].HeldAt[1] != "boxB" {
		t.Fatalf("queued after held: %+v, %v", q, err)
	}
	if gone, err := s.ReleaseExpiredHolds(ctx, time.Now()); err != nil || len(gone) != 0 {
		t.Fatalf("released before expiry: %v, %v", gone, err)
	}
	gone, err := s.ReleaseExpiredHolds(ctx, time.Now().Add(2*time.Hour))
	if err != nil || len(gone) != 1 || gone[0].State != StateQueued {
		t.Fatalf("released after expiry: %+v, %v", gone, err)
	}
	if q := mustQueued(t, s, "bob"); len(q) != 1 || q[0].State != StateQueued || q[0].HeldAt != nil {
		t.Fatalf("after the mailbox let it go: %+v", q)
	}
	if err := s.PutPeerMail(ctx, "bob", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPeerMail(ctx, "bob", []byte{3}); err != nil {
		t.Fatal(err)
	}
	pm, err := s.PeerMail(ctx)
	if err != nil || len(pm) != 1 || string(pm["bob"]) != "\x03" {
		t.Fatalf("peer mail: %v, %v", pm, err)
	}
}
