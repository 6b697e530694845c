package node

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
)

// startRoom starts a creator and members that dial it and take it as a contact, makes a
// room and waits until every member holds it with all of them.
func startRoom(t *testing.T, name string, members ...string) (*Node, []*Node, room.ID) {
	t.Helper()
	ctx := context.Background()
	creator := startNode(t, "creator")
	var nodes []*Node
	for _, m := range members {
		n := startNode(t, m, fullAddr(creator))
		waitUntil(t, "the member to see the creator", func() bool { return hasOnline(n.Peers(), "creator") })
		if _, err := n.AddContact(ctx, api.ContactRequest{Peer: creator.ID().String()}); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	created, err := creator.CreateRoom(ctx, api.RoomCreateRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	id, err := room.ParseID(created.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitUntil(t, "the member to be online", func() bool { return creator.reachable(n.ID()) })
		if _, err := creator.InviteToRoom(ctx, name, n.ID().String()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range append(nodes, creator) {
		waitUntil(t, "every member in the room", func() bool {
			r, ok := n.roomEngine.Room(id)
			return ok && len(r.Members) == len(members)+1 && len(n.roomEngine.Peers(id)) > 0
		})
	}
	return creator, nodes, id
}

// TestStaleMemberAsksCreator: a member that missed a rotation (the creator's push never
// came, and it stays connected, so no push on connect either) sees a post under the new
// epoch, asks the creator for the state, gets it and posts again under the new key.
func TestStaleMemberAsksCreator(t *testing.T) {
	ctx := context.Background()
	creator, members, id := startRoom(t, "plans", "Bob", "Cy")
	bob, cy := members[0], members[1]

	// The creator removes Cy without telling anyone: Bob missed the push.
	creator.roomMu.Lock()
	next, err := creator.roomEngine.Rotate(id, cy.ID())
	if err == nil {
		err = creator.saveRoom(ctx, next, archive.RoomJoined, "")
	}
	creator.roomMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creator.Send(ctx, "#plans", "under the new key"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Bob to ask the creator and hold the new epoch", func() bool {
		r, _ := bob.roomEngine.Room(id)
		return r.Epoch == next.Epoch && !r.IsMember(cy.ID())
	})
	if _, err := bob.Send(ctx, "#plans", "Bob under the new key"); err != nil {
		t.Fatalf("Bob after asking the creator: %v", err)
	}
	waitUntil(t, "Bob's post at the creator", func() bool {
		h, _ := creator.History(ctx, api.HistoryQuery{Peer: "#plans"})
		return slices.ContainsFunc(h, func(m api.Message) bool { return m.Text == "Bob under the new key" })
	})
}

// TestDMCannotTakeARoomMessagesID: a member DMs another, first, with the ID of a room
// message that member has not received yet; the room message still arrives and is
// stored, beside the DM. The same DM again is a duplicate, stored once.
func TestDMCannotTakeARoomMessagesID(t *testing.T) {
	ctx := context.Background()
	creator, members, id := startRoom(t, "board", "Bob", "Mal")
	bob, mal := members[0], members[1]
	if err := mal.host.Connect(ctx, peer.AddrInfo{ID: bob.ID(), Addrs: bob.host.Addrs()}); err != nil {
		t.Fatal(err)
	}

	real := room.Message{Author: creator.ID(), Clock: time.Now(), Lamport: 1, Text: "the real room message"}
	rand.Read(real.ID[:])
	if err := room.SignMessage(&real, id, creator.cfg.Identity.Key); err != nil {
		t.Fatal(err)
	}
	fake := dm.Message{ID: real.ID.String(), SentAt: time.Now().UTC(), Text: "a DM that takes the room message's ID", FromName: "Mal"}
	for _, want := range []dm.AckStatus{dm.AckStored, dm.AckDuplicate} {
		if ack, err := mal.dm.Send(ctx, bob.ID(), fake); err != nil || ack.Status != want {
			t.Fatalf("Mal's DM: %+v, %v; want status %d", ack, err, want)
		}
	}
	if !bob.roomEngine.Deliver(id, real) { // as a sync from the creator brings it
		t.Fatal("Bob's engine refused the real room message")
	}
	waitUntil(t, "the real room message in Bob's archive", func() bool {
		h, _ := bob.History(ctx, api.HistoryQuery{Peer: "#board"})
		return slices.ContainsFunc(h, func(m api.Message) bool { return m.Text == real.Text && m.From == creator.ID().String() })
	})
	h, err := bob.History(ctx, api.HistoryQuery{Peer: mal.ID().String()})
	if err != nil || len(h) != 1 || h[0].Text != fake.Text {
		t.Errorf("Bob's DMs from Mal: %+v, %v; want the one DM, once", h, err)
	}
}
