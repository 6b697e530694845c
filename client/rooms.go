package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/parley-im/parley/api"
)

// Rooms lists the rooms this node is in and the invitations waiting for JoinRoom.
func (c *Client) Rooms(ctx context.Context) (api.RoomList, error) {
	var l api.RoomList
	return l, c.do(ctx, http.MethodGet, api.PathRooms, nil, &l)
}

// CreateRoom makes a room owned by this node.
func (c *Client) CreateRoom(ctx context.Context, name string, announce bool) (api.Room, error) {
	var r api.Room
	return r, c.do(ctx, http.MethodPost, api.PathRooms, api.RoomCreateRequest{Name: name, Announce: announce}, &r)
}

// JoinRoom accepts the pending invitation to the room with this ID.
func (c *Client) JoinRoom(ctx context.Context, id string) (api.Room, error) {
	var r api.Room
	return r, c.do(ctx, http.MethodPost, api.PathRooms+"/join", api.RoomJoinRequest{ID: id}, &r)
}

// DeclineRoom turns down the pending invitation to the room with this ID.
func (c *Client) DeclineRoom(ctx context.Context, id string) (api.RoomInvite, error) {
	var inv api.RoomInvite
	return inv, c.do(ctx, http.MethodPost, api.PathRooms+"/decline", api.RoomJoinRequest{ID: id}, &inv)
}

// InviteToRoom invites a peer to a room this node owns.
func (c *Client) InviteToRoom(ctx context.Context, room, peer string) (api.Room, error) {
	var r api.Room
	return r, c.do(ctx, http.MethodPost, roomPath(room, "invite"), api.RoomPeerRequest{Peer: peer}, &r)
}

// RemoveFromRoom removes a member from a room this node owns; the room's key rotates.
func (c *Client) RemoveFromRoom(ctx context.Context, room, peer string) (api.Room, error) {
	var r api.Room
	return r, c.do(ctx, http.MethodPost, roomPath(room, "remove"), api.RoomPeerRequest{Peer: peer}, &r)
}

// LeaveRoom leaves a room.
func (c *Client) LeaveRoom(ctx context.Context, room string) (api.Room, error) {
	var r api.Room
	return r, c.do(ctx, http.MethodPost, roomPath(room, "leave"), nil, &r)
}

func roomPath(room, action string) string {
	return api.PathRooms + "/" + url.PathEscape(strings.TrimPrefix(room, "#")) + "/" + action
}
