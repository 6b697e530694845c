package localapi

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// sessionsFile is the sessions file's JSON: SHA-256 of each token, never a token.
type sessionsFile struct {
	Version  int            `json:"version"`
	Sessions []sessionEntry `json:"sessions"`
}

type sessionEntry struct {
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created"`
	Used    time.Time `json:"used"`
}

const sessionsFileVersion = 1

// KeepSessions keeps the web sessions in the file at path (mode 0600) from now on, so
// they outlive a restart of the node, and takes up those the file holds that have not
// expired. A file it cannot read costs only the logins in it: the error says so, and
// the sessions are kept in the file from now on all the same.
func (s *Server) KeepSessions(path string) error {
	return s.web.keep(path, func(err error) {
		s.log.Warn("cannot save the web sessions: a restart will log the web app out", "err", err)
	})
}

func (a *webAuth) keep(path string, saveErr func(error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.file, a.saveErr = path, saveErr
	entries, err := readSessions(path)
	now := a.now()
	for _, e := range entries {
		var key sessionKey
		if b, err := hex.DecodeString(e.SHA256); err != nil || len(b) != len(key) {
			continue
		}
		hex.Decode(key[:], []byte(e.SHA256))
		ws := &webSession{key: key, created: e.Created, used: e.Used, saved: e.Used, ended: make(chan struct{})}
		// A time after now (a clock set back, a file written by hand) would stretch the
		// expiry: such a session is dropped, which costs only a login.
		future := e.Created.After(now) || e.Used.After(now) || e.Used.Before(e.Created)
		if !future && !ws.expired(now) && len(a.sessions) < maxSessions {
			a.sessions[key] = ws
		}
	}
	if err != nil {
		return fmt.Errorf("web sessions in %s: %w: browsers that were logged in need `parley open` again", path, err)
	}
	return nil
}

// readSessions reads the entries of the sessions file; a missing file holds none.
func readSessions(path string) ([]sessionEntry, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var file sessionsFile
	if err := json.NewDecoder(io.LimitReader(f, maxSessionsFile)).Decode(&file); err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	if file.Version != sessionsFileVersion {
		return nil, fmt.Errorf("version %d, this node reads %d", file.Version, sessionsFileVersion)
	}
	return file.Sessions, nil
}

// saveLocked writes the live sessions to the file, if there is one: to a temporary
// file, synced, then renamed into place, so a crash leaves the old or the new list.
func (a *webAuth) saveLocked() {
	if a.file == "" {
		return
	}
	file := sessionsFile{Version: sessionsFileVersion, Sessions: []sessionEntry{}}
	for _, s := range a.sessions {
		file.Sessions = append(file.Sessions, sessionEntry{SHA256: hex.EncodeToString(s.key[:]), Created: s.created, Used: s.used})
		s.saved = s.used
	}
	data, _ := json.Marshal(file)
	if err := writeSynced(a.file, data); err != nil && a.saveErr != nil {
		a.saveErr(err)
	}
}

func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
