package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"lukechampine.com/blake3"
)

// Where an incoming transfer keeps its data, relative to the downloads folder (every
// operation goes through the os.Root of that folder):
//
//	.parley-partial/<id>/<path>.part     while chunks arrive (0600), until released
//	<top (n)>/<rest of path>             once released: verified, scanned, fsynced, 0644
//	.parley-quarantine/<id>/<path>.part  files the scanner refused
func stagingDir(t *transfer) string { return path.Join(partialDir, t.id) }

func partName(t *transfer, f int) string {
	return path.Join(stagingDir(t), t.man.Entries[f].Path) + ".part"
}

// openPart opens (creating) the .part file of entry f for writing chunks into.
func (m *Manager) openPart(t *transfer, f int) (*os.File, error) {
	name := partName(t, f)
	if err := m.root.MkdirAll(path.Dir(name), 0700); err != nil {
		return nil, diskError(err)
	}
	file, err := m.root.OpenFile(name, os.O_RDWR|os.O_CREATE, 0600)
	if err != nil {
		return nil, diskError(err)
	}
	return file, nil
}

// diskError explains a failed write in the downloads folder; the transfer pauses and
// tries again, so a disk that was full goes on once there is room.
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("the disk of the downloads folder is full (free some space and the transfer goes on): %w", err)
	}
	return fmt.Errorf("cannot write in the downloads folder: %w", err)
}

// removeStaging deletes an incoming transfer's partial data.
func (m *Manager) removeStaging(t *transfer) {
	if err := m.root.RemoveAll(stagingDir(t)); err != nil {
		m.log.Warn("cannot remove partial data", "id", t.id, "err", err)
	}
	m.root.Remove(partialDir) // only if empty
}

// verifyOnce re-verifies what is on disk the first time an incoming transfer runs (in
// this process, or since it restarted), so a resume re-fetches only what is missing.
func (m *Manager) verifyOnce(ctx context.Context, t *transfer) error {
	t.mu.Lock()
	done := t.verified
	t.mu.Unlock()
	if done {
		return nil
	}
	n, err := m.verifyDisk(ctx, t)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.verified, t.resumed = true, n
	t.mu.Unlock()
	if n > 0 {
		m.log.Info("resuming a transfer from verified data on disk", "id", t.id, "bytes", n)
		m.emit(t)
	}
	return nil
}

// verifyDisk hashes every whole chunk present in the .part files and keeps those that
// match the manifest. It returns the bytes found good (including released files).
func (m *Manager) verifyDisk(ctx context.Context, t *transfer) (int64, error) {
	var good atomic.Int64
	good.Add(m.markReleased(t))
	var jobs []partJob
	for f := range t.man.Entries {
		jobs = append(jobs, m.partSegments(t, f)...)
	}
	err := forEach(ctx, len(jobs), t.man.ChunkSize, func(i int, buf []byte) error {
		n, err := m.verifySegment(t, jobs[i], buf)
		good.Add(n)
		return err
	})
	return good.Load(), err
}

// partJob is a run of chunks of one .part file to re-verify.
type partJob struct {
	file  int // entry index
	first int64
	count int64
}

// partSegments lists the whole chunks present in entry f's .part file.
func (m *Manager) partSegments(t *transfer, f int) []partJob {
	e := &t.man.Entries[f]
	if e.Kind != KindFile || e.Size == 0 {
		return nil
	}
	fi, err := m.root.Stat(partName(t, f))
	if err != nil {
		return nil
	}
	cs := t.man.ChunkSize
	whole := min(e.NumChunks(cs), fi.Size()/cs)
	if fi.Size() >= e.Size {
		whole = e.NumChunks(cs)
	}
	var jobs []partJob
	for first := int64(0); first < whole; first += hashSegment {
		jobs = append(jobs, partJob{file: f, first: first, count: min(hashSegment, whole-first)})
	}
	return jobs
}

// verifySegment keeps the chunks of j whose data on disk matches the manifest.
func (m *Manager) verifySegment(t *transfer, j partJob, buf []byte) (int64, error) {
	file, err := m.root.Open(partName(t, j.file))
	if err != nil {
		return 0, nil // gone since listed: fetch it again
	}
	defer file.Close()
	e := &t.man.Entries[j.file]
	var good int64
	for c := j.first; c < j.first+j.count; c++ {
		data := buf[:e.ChunkLen(c, t.man.ChunkSize)]
		if err := readFullAt(file, data, c*t.man.ChunkSize); err != nil {
			return good, nil
		}
		if sum := blake3.Sum256(data); bytes.Equal(sum[:], e.ChunkHash(c)) {
			t.markChunk(j.file, c, int64(len(data)))
			good += int64(len(data))
		}
	}
	return good, nil
}

// markReleased marks as done the files an interrupted release already placed: their
// .part is gone and the final name holds a file of the right size.
func (m *Manager) markReleased(t *transfer) int64 {
	t.mu.Lock()
	names := t.names
	t.mu.Unlock()
	if names == nil {
		return 0
	}
	var n int64
	for f := range t.man.Entries {
		if m.released(t, f, names) {
			t.markFile(f)
			n += t.man.Entries[f].Size
		}
	}
	return n
}

func (m *Manager) released(t *transfer, f int, names map[string]string) bool {
	e := &t.man.Entries[f]
	if e.Kind != KindFile {
		return false
	}
	if _, err := m.root.Lstat(partName(t, f)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	fi, err := m.root.Lstat(finalName(names, e.Path))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == e.Size
}

// markFile marks every chunk of entry f as done.
func (t *transfer) markFile(f int) {
	for c := range t.man.Entries[f].NumChunks(t.man.ChunkSize) {
		t.markChunk(f, c, t.man.Entries[f].ChunkLen(c, t.man.ChunkSize))
	}
}

// finalName maps an offered path to its name in the downloads folder: the top-level
// component is replaced by the name chosen for it.
func finalName(names map[string]string, p string) string {
	top, rest, _ := strings.Cut(p, "/")
	if mapped, ok := names[top]; ok {
		top = mapped
	}
	if rest == "" {
		return top
	}
	return top + "/" + rest
}

// absPath is the path of a name under the downloads folder, for the scanner.
func (m *Manager) absPath(name string) string {
	return filepath.Join(m.cfg.Downloads, filepath.FromSlash(name))
}
