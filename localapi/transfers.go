package localapi

import (
	"encoding/json"
	"net/http"

	"github.com/parley-im/parley/api"
)

func (s *Server) routeTransfers() {
	s.mux.HandleFunc("GET "+api.PathTransfers, s.listTransfers)
	s.mux.HandleFunc("POST "+api.PathTransfers, s.sendFiles)
	s.mux.HandleFunc("GET "+api.PathTransfers+"/{id}", s.getTransfer)
	s.mux.HandleFunc("POST "+api.PathTransfers+"/{id}/accept", s.acceptTransfer)
	s.mux.HandleFunc("POST "+api.PathTransfers+"/{id}/cancel", s.cancelTransfer)
}

func (s *Server) listTransfers(w http.ResponseWriter, r *http.Request) {
	ts := s.backend.Transfers()
	if ts == nil {
		ts = []api.Transfer{}
	}
	writeJSON(w, http.StatusOK, api.TransferList{Transfers: ts})
}

// sendFiles offers files named by their paths on this machine: for the API token's
// holders only. A web page may send only what the user handed it (uploads), never
// whatever file it names.
func (s *Server) sendFiles(w http.ResponseWriter, r *http.Request) {
	if webSessionOf(r) != nil {
		writeError(w, http.StatusForbidden, api.CodeUnauthorized, "the web app cannot send files by path: "+
			"it sends the files you pick or drop as uploads ("+api.PathUploads+"); "+
			"to send a file of this machine by its path, use `parley send-file`")
		return
	}
	var req api.SendFilesRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "bad send-files request: "+err.Error())
		return
	}
	s.writeTransfer(w)(s.backend.SendFiles(r.Context(), req.To, req.Paths))
}

func (s *Server) getTransfer(w http.ResponseWriter, r *http.Request) {
	s.writeTransfer(w)(s.backend.Transfer(r.PathValue("id")))
}

func (s *Server) acceptTransfer(w http.ResponseWriter, r *http.Request) {
	s.writeTransfer(w)(s.backend.AcceptTransfer(r.PathValue("id")))
}

func (s *Server) cancelTransfer(w http.ResponseWriter, r *http.Request) {
	s.writeTransfer(w)(s.backend.CancelTransfer(r.PathValue("id")))
}

// writeTransfer returns a function writing a backend call's (transfer, error) result.
func (s *Server) writeTransfer(w http.ResponseWriter) func(api.Transfer, error) {
	return func(t api.Transfer, err error) {
		if err != nil {
			s.writeBackendError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	}
}
