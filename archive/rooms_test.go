package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRoomsStoredAndReplaced(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	r := Room{ID: "aa", Name: "ops", Status: RoomPending, Inviter: "peerA", UpdatedAt: time.Unix(5, 0).UTC(), State: []byte{1, 2}}
	if err := s.PutRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status, r.State = RoomJoined, []byte{3}
	if err := s.PutRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRoom(ctx, "aa")
	if err != nil || got.Status != RoomJoined || string(got.State) != "\x03" || got.Inviter != "peerA" || !got.UpdatedAt.Equal(r.UpdatedAt) {
		t.Fatalf("GetRoom = %+v, %v", got, err)
	}
	all, err := s.Rooms(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("Rooms = %v, %v", all, err)
	}
	synced := time.Unix(9, 0).UTC()
	if err := s.SetRoomSynced(ctx, "aa", synced); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoom(ctx, r); err != nil { // a state change keeps the sync mark
		t.Fatal(err)
	}
	if got, _ := s.GetRoom(ctx, "aa"); !got.SyncedAt.Equal(synced) {
		t.Fatalf("synced_at after PutRoom = %v, want %v", got.SyncedAt, synced)
	}
	if err := s.DeleteRoom(ctx, "aa"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRoom(ctx, "aa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.PutRoom(ctx, Room{ID: "bb", Status: "member", State: []byte{1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad status: %v", err)
	}
}

func TestRoomMessagesPageInRoomOrder(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	base := time.Unix(1000, 0).UTC()
	// Stored out of order; the room order is Lamport, then clock, then author, then ID.
	for i, lam := range []uint64{3, 1, 2, 2, 5, 4} {
		m := Message{ID: fmt.Sprintf("m%d", i), From: fmt.Sprintf("p%d", i%2), Room: "r1",
			Text: "x", SentAt: base.Add(time.Duration(i) * time.Second), Direction: Incoming,
			State: StateReceived, Lamport: lam, Sig: []byte{byte(i)}}
		if _, err := s.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, Message{ID: "dm", From: "p0", To: "me", Text: "direct", SentAt: base, Direction: Incoming, State: StateReceived}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var cur RoomCursor
	for {
		page, err := s.RoomMessagesAfter(ctx, "r1", time.Time{}, cur, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			ids = append(ids, m.ID)
			cur = RoomCursor{Lamport: m.Lamport, SentAt: m.SentAt, From: m.From, ID: m.ID}
		}
		if len(page) < 4 {
			break
		}
	}
	if want := "[m1 m2 m3 m0 m5 m4]"; fmt.Sprint(ids) != want {
		t.Fatalf("paged order %v, want %s", ids, want)
	}
	since, err := s.RoomMessagesAfter(ctx, "r1", base.Add(4*time.Second), RoomCursor{}, 10)
	if err != nil || len(since) != 2 || since[0].ID != "m5" || since[0].Sig[0] != 5 {
		t.Fatalf("since: %+v, %v", since, err)
	}
	list, err := s.List(ctx, Query{Room: "r1"})
	if err != nil || len(list) != 6 || list[0].ID != "m1" || list[5].ID != "m4" {
		t.Fatalf("List room: %v, %v", list, err)
	}
	conv, err := s.List(ctx, Query{Peer: "p0"})
	if err != nil || len(conv) != 1 || conv[0].ID != "dm" {
		t.Fatalf("a conversation must not include room messages: %v, %v", conv, err)
	}
	latest, err := s.LatestRoomMessage(ctx, "r1")
	if err != nil || !latest.Equal(base.Add(5*time.Second)) {
		t.Fatalf("latest %v, %v", latest, err)
	}
	if l, err := s.MaxRoomLamport(ctx, "r1"); err != nil || l != 5 {
		t.Fatalf("MaxRoomLamport = %d, %v; want 5", l, err)
	}
	if latest, _ := s.LatestRoomMessage(ctx, "none"); !latest.IsZero() {
		t.Fatalf("latest of an empty room %v", latest)
	}
}

// TestRoomOrderKeySortsAsTheArchive: sorting room messages by OrderKey (byte order, as
// clients do) gives the archive's room order, ties on Lamport and clock included, and
// clocks before 1970 too.
func TestRoomOrderKeySortsAsTheArchive(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	base := time.Unix(1000, 0).UTC()
	clocks := []time.Time{base, base.Add(-time.Hour), time.Unix(-5, 0), base, base.Add(time.Nanosecond), time.Unix(-6, 0)}
	authors := []string{"12D3KooWB", "12D3KooWAx", "12D3KooWA", "12D3KooWA", "12D3KooWB", "12D3KooWA"}
	for i, lam := range []uint64{2, 2, 2, 2, 1, 1 << 62} {
		m := Message{ID: fmt.Sprintf("m%d", i), From: authors[i], Room: "r1", Text: "x", SentAt: clocks[i],
			Direction: Incoming, State: StateReceived, Lamport: lam}
		if _, err := s.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.List(ctx, Query{Room: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	byKey := slices.Clone(list)
	slices.SortFunc(byKey, func(a, b Message) int { return strings.Compare(a.OrderKey(), b.OrderKey()) })
	for i := range list {
		if list[i].ID != byKey[i].ID {
			t.Fatalf("by OrderKey %v, archive order %v", ids(byKey), ids(list))
		}
	}
	if (Message{From: "p", ID: "x"}).OrderKey() != "" {
		t.Error("a direct message has an order key; only room messages do")
	}
}
