package localapi

import (
	"context"
	"net/http"

	"github.com/parley-im/parley/api"
)

// RoomBackend is what the room routes need from the node.
type RoomBackend interface {
	Rooms(ctx context.Context) (api.RoomList, error)
	CreateRoom(ctx context.Context, req api.RoomCreateRequest) (api.Room, error)
	JoinRoom(ctx context.Context, id string) (api.Room, error)
	DeclineRoom(ctx context.Context, id string) (api.RoomInvite, error)
	InviteToRoom(ctx context.Context, room, peer string) (api.Room, error)
	RemoveFromRoom(ctx context.Context, room, peer string) (api.Room, error)
	LeaveRoom(ctx context.Context, room string) (api.Room, error)
}

func (s *Server) routeRooms() {
	s.mux.HandleFunc("GET "+api.PathRooms, s.listRooms)
	s.mux.HandleFunc("POST "+api.PathRooms, s.createRoom)
	s.mux.HandleFunc("POST "+api.PathRooms+"/join", s.joinRoom)
	s.mux.HandleFunc("POST "+api.PathRooms+"/decline", s.declineRoom)
	s.mux.HandleFunc("POST "+api.PathRooms+"/{room}/invite", s.roomPeer(s.backend.InviteToRoom))
	s.mux.HandleFunc("POST "+api.PathRooms+"/{room}/remove", s.roomPeer(s.backend.RemoveFromRoom))
	s.mux.HandleFunc("POST "+api.PathRooms+"/{room}/leave", s.leaveRoom)
}

func (s *Server) listRooms(w http.ResponseWriter, r *http.Request) {
	l, err := s.backend.Rooms(r.Context())
	s.writeResult(w, l, err)
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	var req api.RoomCreateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	room, err := s.backend.CreateRoom(r.Context(), req)
	s.writeResult(w, room, err)
}

func (s *Server) joinRoom(w http.ResponseWriter, r *http.Request) {
	var req api.RoomJoinRequest
	if !decodeBody(w, r, &req) {
		return
	}
	room, err := s.backend.JoinRoom(r.Context(), req.ID)
	s.writeResult(w, room, err)
}

func (s *Server) declineRoom(w http.ResponseWriter, r *http.Request) {
	var req api.RoomJoinRequest
	if !decodeBody(w, r, &req) {
		return
	}
	inv, err := s.backend.DeclineRoom(r.Context(), req.ID)
	s.writeResult(w, inv, err)
}

func (s *Server) roomPeer(act func(ctx context.Context, room, peer string) (api.Room, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req api.RoomPeerRequest
		if !decodeBody(w, r, &req) {
			return
		}
		room, err := act(r.Context(), r.PathValue("room"), req.Peer)
		s.writeResult(w, room, err)
	}
}

func (s *Server) leaveRoom(w http.ResponseWriter, r *http.Request) {
	room, err := s.backend.LeaveRoom(r.Context(), r.PathValue("room"))
	s.writeResult(w, room, err)
}
