package node

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
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
