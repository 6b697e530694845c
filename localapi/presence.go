package localapi

import (
	"encoding/json"
	"net/http"

	"github.com/parley-im/parley/api"
)

func (s *Server) getPresence(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.backend.Presence())
}

func (s *Server) setPresence(w http.ResponseWriter, r *http.Request) {
	var req api.Presence
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad presence request: "+err.Error())
		return
	}
	p, err := s.backend.SetPresence(req.Presence, req.Status)
	if err != nil {
		s.writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
