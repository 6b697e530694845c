package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-im/parley/api"
)

// The web app's uploads (HOME/outbox, one folder each) are copies made only to be sent.
// An upload is removed once no unfinished transfer sends it and nothing in its folder
// changed for outboxKeep: long enough for the upload to be hashed and offered.
const (
	outboxEvery = 10 * time.Minute
	outboxKeep  = time.Hour
)

// pruneOutbox removes the uploads that are no longer needed.
func (n *Node) pruneOutbox() {
	dir := filepath.Join(n.cfg.Home, api.OutboxDir)
	removed, err := pruneUploads(dir, n.sendingFiles(), time.Now().Add(-outboxKeep))
	if err != nil {
		n.log.Warn("prune the web app's uploads", "dir", dir, "err", err)
	}
	if removed > 0 {
		n.log.Info("removed uploads that were sent or given up", "count", removed, "dir", dir)
	}
}

// sendingFiles stats the files unfinished outgoing transfers read from, so that an
// upload is matched to them as a file, whatever path spelled it.
func (n *Node) sendingFiles() []os.FileInfo {
	var files []os.FileInfo
	for path := range n.transfers.Sending() {
		if fi, err := os.Stat(path); err == nil {
			files = append(files, fi)
		}
	}
	return files
}

// pruneUploads removes each folder of dir that holds none of the sending files and
// whose entries all last changed before the given time. It returns how many it removed.
func pruneUploads(dir string, sending []os.FileInfo, before time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		upload := filepath.Join(dir, e.Name())
		if !e.IsDir() || uploadNeeded(upload, sending, before) {
			continue
		}
		if err := os.RemoveAll(upload); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// uploadNeeded reports whether anything in the upload folder is being sent or changed
// after before; an entry it cannot read counts as needed.
func uploadNeeded(upload string, sending []os.FileInfo, before time.Time) bool {
	needed := false
	filepath.WalkDir(upload, func(_ string, d fs.DirEntry, err error) error {
		var fi os.FileInfo
		if err == nil {
			fi, err = d.Info()
		}
		if err != nil || fi.ModTime().After(before) || isSending(fi, sending) {
			needed = true
			return fs.SkipAll
		}
		return nil
	})
	return needed
}

func isSending(fi os.FileInfo, sending []os.FileInfo) bool {
	for _, s := range sending {
		if os.SameFile(fi, s) {
			return true
		}
	}
	return false
}
