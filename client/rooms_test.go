package client

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-im/parley/api"
)

func (f *fakeNode) Rooms(context.Context) (api.RoomList, error) {
	return api.RoomList{Rooms: []api.Room{{ID: "ab", Name: "ops"}}}, nil
}

func (f *fakeNode) CreateRoom(_ context.Context, req api.RoomCreateRequest) (api.Room, error) {
	return api.Room{Name: req.Name, Announce: req.Announce}, nil
}

func (f *fakeNode) JoinRoom(_ context.Context, id string) (api.Room, error) {
	if id == "missing" {
		return api.Room{}, api.ErrNotFound
	}
	return api.Room{ID: id}, nil
}

func (f *fakeNode) DeclineRoom(_ context.Context, id string) (api.RoomInvite, error) {
	return api.RoomInvite{ID: id}, nil
}

func (f *fakeNode) InviteToRoom(_ context.Context, room, peer string) (api.Room, error) {
	return api.Room{Name: room, Members: []api.RoomMember{{PeerID: peer}}}, nil
}

func (f *fakeNode) RemoveFromRoom(_ context.Context, room, _ string) (api.Room, error) {
	return api.Room{Name: room, Epoch: 2}, nil
}

func (f *fakeNode) LeaveRoom(_ context.Context, room string) (api.Room, error) {
	return api.Room{Name: room}, nil
}

func TestRoomCalls(t *testing.T) {
	_, home := serve(t)
	c := newClient(t, home)
	ctx := context.Background()
	if l, err := c.Rooms(ctx); err != nil || l.Rooms[0].Name != "ops" {
		t.Fatalf("Rooms = %+v, %v", l, err)
	}
	if r, err := c.CreateRoom(ctx, "ops", true); err != nil || !r.Announce {
		t.Fatalf("CreateRoom = %+v, %v", r, err)
	}
	if r, err := c.InviteToRoom(ctx, "#ops/x", "bob"); err != nil || r.Name != "ops/x" || r.Members[0].PeerID != "bob" {
		t.Fatalf("InviteToRoom = %+v, %v", r, err)
	}
	if r, err := c.RemoveFromRoom(ctx, "ops", "bob"); err != nil || r.Epoch != 2 {
		t.Fatalf("RemoveFromRoom = %+v, %v", r, err)
	}
	if r, err := c.LeaveRoom(ctx, "#ops"); err != nil || r.Name != "ops" {
		t.Fatalf("LeaveRoom = %+v, %v", r, err)
	}
	if inv, err := c.DeclineRoom(ctx, "ab"); err != nil || inv.ID != "ab" {
		t.Fatalf("DeclineRoom = %+v, %v", inv, err)
	}
	if _, err := c.JoinRoom(ctx, "missing"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("JoinRoom(missing) = %v, want ErrNotFound", err)
	}
}
