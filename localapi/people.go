package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/parley-im/parley/api"
)

// Verifier is the part of the Backend behind `parley contacts verify`.
type Verifier interface {
	// Verification is what to compare with the peer's user: both fingerprints and the
	// safety number.
	Verification(ctx context.Context, who string) (api.Verification, error)
	// Verify marks a contact verified and returns its Verification.
	Verify(ctx context.Context, who string) (api.Verification, error)
}

func (s *Server) routePeople() {
	s.mux.HandleFunc("GET "+api.PathContacts, s.listContacts)
	s.mux.HandleFunc("POST "+api.PathContacts, s.addContact)
	s.mux.HandleFunc("DELETE "+api.PathContacts+"/{peer}", s.removeContact)
	s.mux.HandleFunc("POST "+api.PathContacts+"/{peer}/block", s.blockContact(true))
	s.mux.HandleFunc("POST "+api.PathContacts+"/{peer}/unblock", s.blockContact(false))
	s.mux.HandleFunc("GET "+api.PathContacts+"/{peer}/verify", s.verification(s.backend.Verification))
	s.mux.HandleFunc("POST "+api.PathContacts+"/{peer}/verify", s.verification(s.backend.Verify))
	s.mux.HandleFunc("POST "+api.PathRead, s.markRead)
	s.mux.HandleFunc("GET "+api.PathExport, s.export)
	s.mux.HandleFunc("GET "+api.PathReport, s.report)
	s.mux.HandleFunc("POST "+api.PathPurge, s.purge)
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	cs, err := s.backend.Contacts(r.Context())
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	if cs == nil {
		cs = []api.Contact{}
	}
	writeJSON(w, http.StatusOK, api.ContactList{Contacts: cs})
}

func (s *Server) addContact(w http.ResponseWriter, r *http.Request) {
	var req api.ContactRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, err := s.backend.AddContact(r.Context(), req)
	s.writeResult(w, c, err)
}

func (s *Server) removeContact(w http.ResponseWriter, r *http.Request) {
	err := s.backend.RemoveContact(r.Context(), r.PathValue("peer"))
	s.writeResult(w, struct{}{}, err)
}

func (s *Server) blockContact(blocked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.backend.SetBlocked(r.Context(), r.PathValue("peer"), blocked)
		s.writeResult(w, c, err)
	}
}

func (s *Server) verification(get func(context.Context, string) (api.Verification, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context(), r.PathValue("peer"))
		s.writeResult(w, v, err)
	}
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	var req api.ReadRequest
	if !decodeBody(w, r, &req) {
		return
	}
	marked, err := s.backend.MarkConversationRead(r.Context(), req.Peer)
	s.writeResult(w, api.ReadResult{Marked: marked}, err)
}

// export streams JSON lines. Once the first line is out an error can only end the
// stream early, so the client checks that the last line is complete.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	if _, err := s.backend.Export(r.Context(), w, q); err != nil {
		s.log.Error("export failed", "err", err)
		panic(http.ErrAbortHandler) // cut the stream so the client sees it is incomplete
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	since, err1 := parseTime(v.Get("since"))
	until, err2 := parseTime(v.Get("until"))
	gap, err3 := parseDuration(v.Get("gap"))
	minSession, err4 := parseDuration(v.Get("min"))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad report query: "+err.Error())
			return
		}
	}
	if v.Get("min") == "" {
		minSession = -1 // the node's default
	}
	rep, err := s.backend.Report(r.Context(), since, until, gap, minSession)
	s.writeResult(w, rep, err)
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("%q is negative", s)
	}
	return d, err
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	var req api.PurgeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	deleted, err := s.backend.Purge(r.Context(), req.Before)
	s.writeResult(w, api.PurgeResult{Deleted: deleted}, err)
}

// decodeBody reads a JSON request body of at most maxBodyBytes with no unknown fields,
// answering 400 itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
