package localapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/transfer"
)

// Uploads: a browser cannot name a path on the node's machine, so the web app sends the
// file's bytes; the node stores them under HOME/outbox/<random id>/<name> and offers that
// path like `parley send-file`. The files stay there while a transfer may resume from
// them; the node prunes them afterwards (api.OutboxDir).
const (
	uploadIdle       = 30 * time.Second // longest wait for the next bytes of an upload
	uploadSpareBytes = 64 << 20         // free space an upload must leave on the disk
)

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	to, name := r.URL.Query().Get("to"), r.URL.Query().Get("name")
	if err := checkUploadName(name); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	if to == "" {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "upload: ?to= must name the peer to send the file to")
		return
	}
	path, status, err := s.storeUpload(w, r, name)
	if err != nil {
		writeError(w, status, api.CodeBadRequest, err.Error())
		return
	}
	t, err := s.backend.SendFiles(r.Context(), to, []string{path})
	if err != nil {
		os.RemoveAll(filepath.Dir(path))
		s.writeBackendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// checkUploadName accepts one plain file name that is safe on every system.
func checkUploadName(name string) error {
	if strings.Contains(name, "/") {
		return fmt.Errorf("upload: the name %q has a slash: send one file, named without folders", name)
	}
	if err := transfer.ValidatePath(name); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}

// storeUpload writes the request body to a new folder of the outbox and returns the
// file's path. It refuses bodies larger than the disk can hold with room to spare, and
// removes what it wrote when it fails.
func (s *Server) storeUpload(w http.ResponseWriter, r *http.Request, name string) (string, int, error) {
	outbox := filepath.Join(s.backend.Status().Home, api.OutboxDir)
	if err := os.MkdirAll(outbox, 0o700); err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("upload: create %s: %w", outbox, err)
	}
	limit, err := uploadLimit(outbox, r.ContentLength)
	if err != nil {
		return "", http.StatusRequestEntityTooLarge, err
	}
	dir := filepath.Join(outbox, randomToken()[:32])
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("upload: %w", err)
	}
	path := filepath.Join(dir, name)
	if err := copyBody(w, r, path, limit); err != nil {
		os.RemoveAll(dir)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", http.StatusRequestEntityTooLarge, fmt.Errorf("upload: the file does not fit on the node's disk (%d bytes free for it): free some space", limit)
		}
		return "", http.StatusBadRequest, fmt.Errorf("upload of %q broke off: %w; try again", name, err)
	}
	return path, 0, nil
}

// uploadLimit is how many bytes an upload into dir may have; it fails at once when the
// announced length is already too much.
func uploadLimit(dir string, announced int64) (int64, error) {
	free, err := freeSpace(dir)
	if err != nil {
		return 1 << 62, nil // unknown here: a full disk shows up as a write error
	}
	limit := max(free-uploadSpareBytes, 0)
	if announced > limit {
		return 0, fmt.Errorf("upload: the file has %d bytes and the node's disk has room for %d: free some space", announced, limit)
	}
	return limit, nil
}

func copyBody(w http.ResponseWriter, r *http.Request, path string, limit int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	body := &idleReader{r: http.MaxBytesReader(w, r.Body, limit), rc: http.NewResponseController(w)}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// idleReader sets a read deadline before every read, so an upload may take as long as
// it needs but a stalled one ends.
type idleReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.rc.SetReadDeadline(time.Now().Add(uploadIdle))
	return ir.r.Read(p)
}
