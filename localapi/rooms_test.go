package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/parley-im/parley/api"
)

// roomCalls records the room calls the fake backend got, as "method room peer".
var roomCalls = make(chan string, 8)

func (f *fakeBackend) Rooms(context.Context) (api.RoomList, error) {
	return api.RoomList{Rooms: []api.Room{{ID: "ab", Name: "ops"}}, Invites: []api.RoomInvite{{ID: "cd", Name: "x"}}}, nil
}

func (f *fakeBackend) CreateRoom(_ context.Context, req api.RoomCreateRequest) (api.Room, error) {
	roomCalls <- fmt.Sprintf("create %s %v", req.Name, req.Announce)
	return api.Room{Name: req.Name, Announce: req.Announce}, nil
}

func (f *fakeBackend) JoinRoom(_ context.Context, id string) (api.Room, error) {
	roomCalls <- "join " + id
	if id == "missing" {
		return api.Room{}, fmt.Errorf("%w: no invitation", api.ErrNotFound)
	}
	return api.Room{ID: id}, nil
}

func (f *fakeBackend) DeclineRoom(_ context.Context, id string) (api.RoomInvite, error) {
	roomCalls <- "decline " + id
	return api.RoomInvite{ID: id}, nil
}

func (f *fakeBackend) InviteToRoom(_ context.Context, room, peer string) (api.Room, error) {
	roomCalls <- "invite " + room + " " + peer
	return api.Room{Name: room}, nil
}

func (f *fakeBackend) RemoveFromRoom(_ context.Context, room, peer string) (api.Room, error) {
	roomCalls <- "remove " + room + " " + peer
	return api.Room{Name: room}, nil
}

func (f *fakeBackend) LeaveRoom(_ context.Context, room string) (api.Room, error) {
	roomCalls <- "leave " + room
	return api.Room{Name: room}, nil
}

func TestRoomRoutes(t *testing.T) {
	s := New(newFake(), testToken, nil)
	for _, tc := range []struct{ method, path, body, call string }{
		{http.MethodPost, api.PathRooms, `{"name":"ops","announce":true}`, "create ops true"},
		{http.MethodPost, api.PathRooms + "/join", `{"id":"ab12"}`, "join ab12"},
		{http.MethodPost, api.PathRooms + "/decline", `{"id":"ab12"}`, "decline ab12"},
		{http.MethodPost, api.PathRooms + "/ops/invite", `{"peer":"bob"}`, "invite ops bob"},
		{http.MethodPost, api.PathRooms + "/ops/remove", `{"peer":"bob"}`, "remove ops bob"},
		{http.MethodPost, api.PathRooms + "/ops/leave", ``, "leave ops"},
	} {
		w := do(t, s, tc.method, tc.path, tc.body)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, w.Code, w.Body)
		}
		if got := <-roomCalls; got != tc.call {
			t.Errorf("%s %s called %q, want %q", tc.method, tc.path, got, tc.call)
		}
	}
	w := do(t, s, http.MethodGet, api.PathRooms, "")
	var l api.RoomList
	if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil || len(l.Rooms) != 1 || len(l.Invites) != 1 {
		t.Fatalf("GET rooms: %s, %v", w.Body, err)
	}
	w = do(t, s, http.MethodPost, api.PathRooms+"/join", `{"id":"missing"}`)
	<-roomCalls
	wantError(t, w, http.StatusNotFound, api.CodeNotFound)
	w = do(t, s, http.MethodPost, api.PathRooms+"/ops/invite", `{"peer":`)
	wantError(t, w, http.StatusBadRequest, api.CodeBadRequest)
}
