// Package localapi serves the node's HTTP+JSON API on a loopback address: status, peers,
// sending, history and the live event stream, all behind a bearer token or a web app
// session (web.go). The CLI (via the client package) and the web app use it; nothing
// else talks to the node. Outside /v1 it serves the web app's static files.
package localapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
)

// Backend is what the server needs from the node.
type Backend interface {
	Status() api.Status
	Peers() []api.Peer
	Send(ctx context.Context, to, text string) (api.SendResult, error)
	Ping(ctx context.Context, to string) (time.Duration, error)
	Presence() api.Presence
	SetPresence(presence, status string) (api.Presence, error)

	Contacts(ctx context.Context) ([]api.Contact, error)
	AddContact(ctx context.Context, req api.ContactRequest) (api.Contact, error)
	RemoveContact(ctx context.Context, who string) error
	SetBlocked(ctx context.Context, who string, blocked bool) (api.Contact, error)
	Verifier
	MarkConversationRead(ctx context.Context, who string) (int, error)
	Export(ctx context.Context, w io.Writer, q api.HistoryQuery) (int, error)
	Report(ctx context.Context, since, until time.Time, gap, minSession time.Duration) (api.Report, error)
	Purge(ctx context.Context, before time.Time) (int64, error)
	History(ctx context.Context, q api.HistoryQuery) ([]api.Message, error)
	Subscribe(buffer int) (<-chan api.Event, func())

	SendFiles(ctx context.Context, to string, paths []string) (api.Transfer, error)
	Transfers() []api.Transfer
	Transfer(id string) (api.Transfer, error)
	AcceptTransfer(id string) (api.Transfer, error)
	CancelTransfer(id string) (api.Transfer, error)

	RoomBackend
}

// Limits of the API.
const (
	maxBodyBytes   = 1 << 20
	eventBuffer    = 256
	heartbeatEvery = 15 * time.Second
	eventWriteWait = 10 * time.Second
)

// Server is an http.Handler for the local API.
type Server struct {
	backend Backend
	token   string
	log     *slog.Logger
	mux     *http.ServeMux
	web     *webAuth     // login codes and browser sessions (web.go)
	pages   http.Handler // everything outside /v1: the web app's files

	// heartbeat is how often an idle event stream gets a keep-alive and its web
	// session is checked (heartbeatEvery; tests shorten it).
	heartbeat time.Duration
}

// New returns a server that answers only requests bearing token.
func New(b Backend, token string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{backend: b, token: token, log: log, mux: http.NewServeMux(), web: newWebAuth(), heartbeat: heartbeatEvery}
	s.mux.HandleFunc("GET "+api.PathStatus, s.status)
	s.mux.HandleFunc("GET "+api.PathPeers, s.peers)
	s.mux.HandleFunc("POST "+api.PathSend, s.send)
	s.mux.HandleFunc("GET "+api.PathHistory, s.history)
	s.mux.HandleFunc("GET "+api.PathEvents, s.eventStream)
	s.mux.HandleFunc("POST "+api.PathPing, s.ping)
	s.mux.HandleFunc("GET "+api.PathPresence, s.getPresence)
	s.mux.HandleFunc("POST "+api.PathPresence, s.setPresence)
	s.routeTransfers()
	s.routePeople()
	s.routeRooms()
	s.mux.HandleFunc("GET "+api.PathMailbox, s.mailboxStatus)
	s.pages = s.routeWeb()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isAPIPath(r.URL.Path) {
		s.pages.ServeHTTP(w, r) // the web app's static files: they hold no data
		return
	}
	if isLoginExchange(r) {
		s.startSession(w, r) // the one-time code is its authority
		return
	}
	if !s.authorized(r) {
		ws, status, err := s.authorizeSession(r)
		if err != nil {
			writeError(w, status, api.CodeUnauthorized, err.Error())
			return
		}
		r = withSession(r, ws)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.backend.Status())
}

// MailboxBackend is a Backend that knows about mailboxes (the node does).
type MailboxBackend interface {
	MailboxStatus(ctx context.Context) (api.MailboxStatus, error)
}

func (s *Server) mailboxStatus(w http.ResponseWriter, r *http.Request) {
	mb, ok := s.backend.(MailboxBackend)
	if !ok {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "this node has no mailboxes")
		return
	}
	st, err := mb.MailboxStatus(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.PeerList{Peers: s.backend.Peers()})
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad send request: "+err.Error())
		return
	}
	res, err := s.backend.Send(r.Context(), req.To, req.Text)
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("peer")
	rtt, err := s.backend.Ping(r.Context(), to)
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.PingResult{PeerID: to, RoundTrip: rtt})
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	msgs, err := s.backend.History(r.Context(), q)
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	if msgs == nil {
		msgs = []api.Message{}
	}
	writeJSON(w, http.StatusOK, api.MessageList{Messages: msgs})
}

func parseHistoryQuery(r *http.Request) (api.HistoryQuery, error) {
	v := r.URL.Query()
	q := api.HistoryQuery{Peer: v.Get("peer"), Search: v.Get("search")}
	var err error
	if q.Since, err = parseTime(v.Get("since")); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = parseTime(v.Get("until")); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 0 {
			return q, fmt.Errorf("limit %q is not a non-negative number", s)
		}
	}
	return q, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// eventStream sends events as server-sent events until the client goes away, the
// node stops, or the web session it came with ends. A client that cannot keep up
// within eventWriteWait is disconnected. An open stream counts as use of its session.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	ws := webSessionOf(r)
	var ended <-chan struct{} // nil for the API token: never ready
	if ws != nil {
		ended = ws.ended
	}
	events, cancel := s.backend.Subscribe(eventBuffer)
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		var chunk []byte
		select {
		case <-r.Context().Done():
			return
		case <-ended:
			return
		case <-heartbeat.C:
			if ws != nil {
				if _, ok := s.web.touch(ws.key); !ok {
					return // expired while streaming
				}
			}
			chunk = []byte(": keep-alive\n\n")
		case e, ok := <-events:
			if !ok {
				return
			}
			data, _ := json.Marshal(e)
			chunk = fmt.Appendf(nil, "event: %s\ndata: %s\n\n", e.Type, data)
		}
		rc.SetWriteDeadline(time.Now().Add(eventWriteWait))
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) writeBackendError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, api.ErrUnknownPeer):
		writeError(w, http.StatusNotFound, api.CodeUnknownPeer, err.Error())
	case errors.Is(err, api.ErrAmbiguousPeer):
		writeError(w, http.StatusConflict, api.CodeAmbiguousPeer, err.Error())
	case errors.Is(err, api.ErrNotFound):
		writeError(w, http.StatusNotFound, api.CodeNotFound, err.Error())
	case errors.Is(err, api.ErrBlocked):
		writeError(w, http.StatusConflict, api.CodeBlocked, err.Error())
	case errors.Is(err, api.ErrBadRequest):
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
	default:
		s.log.Error("api request failed", "err", err)
		writeError(w, http.StatusInternalServerError, api.CodeInternal, err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.Error{Error: msg, Code: code})
}
