package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lukechampine.com/blake3"
)

// source is where the sender reads one entry of its manifest.
type source struct {
	Path    string `json:"path"`     // absolute local path; "" for directories
	MtimeNs int64  `json:"mtime_ns"` // modification time when hashed
}

// local is an entry found on the sender's disk, before hashing.
type local struct {
	Entry
	source
}

// hashSegment is the unit of work of one hashing worker: up to this many consecutive
// chunks of one file, read in order (friendly to disks that prefer sequential reads).
const hashSegment = 16

// collect walks the paths given to Send: files and whole folders, each named in the
// offer by its base name (a folder keeps its tree, empty files and directories too).
func collect(paths []string, log func(msg string, args ...any)) ([]local, error) {
	if len(paths) == 0 {
		return nil, errors.New("nothing to send: give at least one file or folder")
	}
	var out []local
	for _, p := range paths {
		items, err := collectOne(p, log)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

func collectOne(p string, log func(string, ...any)) ([]local, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("cannot send %s: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("cannot send %s: %w", p, err)
	}
	name := filepath.Base(abs)
	if !fi.IsDir() {
		it, err := localItem(name, abs, fi)
		return []local{it}, err
	}
	return walkDir(name, abs, log)
}

func walkDir(name, root string, log func(string, ...any)) ([]local, error) {
	var out []local
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("cannot send %s: %w", path, err)
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			log("not sending a symlink or special file", "path", path)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("cannot send %s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		it, err := localItem(filepath.ToSlash(filepath.Join(name, rel)), path, fi)
		out = append(out, it)
		return err
	})
	return out, err
}

func localItem(rel, abs string, fi fs.FileInfo) (local, error) {
	if err := ValidatePath(rel); err != nil {
		return local{}, fmt.Errorf("cannot send %s: %w; rename it and send again", abs, err)
	}
	if fi.IsDir() {
		return local{Entry: Entry{Path: rel, Kind: KindDir, Mode: 0755}}, nil
	}
	if !fi.Mode().IsRegular() {
		return local{}, fmt.Errorf("cannot send %s: not a regular file", abs)
	}
	mode := uint32(0644)
	if fi.Mode().Perm()&0111 != 0 {
		mode = 0755
	}
	e := Entry{Path: rel, Kind: KindFile, Size: fi.Size(), Mode: mode}
	return local{Entry: e, source: source{Path: abs, MtimeNs: fi.ModTime().UnixNano()}}, nil
}

// hasher computes the chunk hashes of the files to send, with a cache of earlier runs.
type hasher struct {
	chunkSize int64
	cacheDir  string // "" disables the cache
	progress  func(n int64)
}

type hashJob struct {
	item  *local
	first int64
	count int64
}

// hash fills the chunk and file hashes of every file in items, with up to
// runtime.NumCPU() workers across files and chunks.
func (h *hasher) hash(ctx context.Context, items []local) error {
	var jobs []hashJob
	for i := range items {
		it := &items[i]
		if it.Kind == KindDir {
			continue
		}
		it.Chunks = make([]byte, it.NumChunks(h.chunkSize)*HashSize)
		if h.fromCache(it) {
			h.progress(it.Size)
			continue
		}
		jobs = append(jobs, h.segments(it)...)
	}
	if err := h.run(ctx, jobs); err != nil {
		return err
	}
	return h.finish(items)
}

func (h *hasher) segments(it *local) []hashJob {
	var jobs []hashJob
	n := it.NumChunks(h.chunkSize)
	for first := int64(0); first < n; first += hashSegment {
		jobs = append(jobs, hashJob{item: it, first: first, count: min(hashSegment, n-first)})
	}
	return jobs
}

func (h *hasher) run(ctx context.Context, jobs []hashJob) error {
	return forEach(ctx, len(jobs), h.chunkSize, func(i int, buf []byte) error {
		return h.hashSegment(jobs[i], buf)
	})
}

// forEach runs f(i, buf) for every i in [0, n) on up to runtime.NumCPU() goroutines,
// each with its own buffer of bufSize bytes. It stops at the first error or when ctx ends.
func forEach(ctx context.Context, n int, bufSize int64, f func(i int, buf []byte) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), n) {
		wg.Go(func() {
			buf := make([]byte, bufSize)
			for i := next.Add(1) - 1; i < int64(n) && ctx.Err() == nil; i = next.Add(1) - 1 {
				if err := f(int(i), buf); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (h *hasher) hashSegment(j hashJob, buf []byte) error {
	f, err := os.Open(j.item.source.Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", j.item.source.Path, err)
	}
	defer f.Close()
	for c := j.first; c < j.first+j.count; c++ {
		n := j.item.ChunkLen(c, h.chunkSize)
		if _, err := f.ReadAt(buf[:n], c*h.chunkSize); err != nil {
			return fmt.Errorf("read %s: %w (did it change while being hashed?)", j.item.source.Path, err)
		}
		sum := blake3.Sum256(buf[:n])
		copy(j.item.Chunks[c*HashSize:], sum[:])
		h.progress(n)
	}
	return nil
}

// finish computes the file hashes, checks no file changed while it was read, and
// caches the chunk hashes.
func (h *hasher) finish(items []local) error {
	for i := range items {
		it := &items[i]
		if it.Kind == KindDir {
			continue
		}
		if err := unchanged(it.source, it.Size); err != nil {
			return err
		}
		it.Hash = FileHash(it.Chunks)
		h.toCache(it)
	}
	return nil
}

// unchanged reports an error if the file at s no longer has size and s's mtime.
func unchanged(s source, size int64) error {
	fi, err := os.Stat(s.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path, err)
	}
	switch {
	case fi.Size() != size:
		return fmt.Errorf("%s changed since it was hashed (now %d bytes, was %d): send it again", s.Path, fi.Size(), size)
	case fi.ModTime().UnixNano() != s.MtimeNs:
		return fmt.Errorf("%s changed since it was hashed (modified %s): send it again", s.Path, fi.ModTime().Format(time.RFC3339))
	}
	return nil
}

// The cache maps (path, size, mtime, chunk size) to the chunk hashes of a file, stored
// with their own hash so a torn write is never taken for the truth.
func (h *hasher) cacheFile(it *local) string {
	key := it.source.Path + "\x00" + strconv.FormatInt(it.Size, 10) + "\x00" +
		strconv.FormatInt(it.MtimeNs, 10) + "\x00" + strconv.FormatInt(h.chunkSize, 10)
	sum := blake3.Sum256([]byte(key))
	return filepath.Join(h.cacheDir, hex.EncodeToString(sum[:16]))
}

func (h *hasher) fromCache(it *local) bool {
	if h.cacheDir == "" || it.Size == 0 {
		return false
	}
	b, err := os.ReadFile(h.cacheFile(it))
	if err != nil || len(b) != len(it.Chunks)+HashSize {
		return false
	}
	chunks, sum := b[:len(it.Chunks)], b[len(it.Chunks):]
	if FileHash(chunks) != [HashSize]byte(sum) {
		return false
	}
	copy(it.Chunks, chunks)
	return true
}

func (h *hasher) toCache(it *local) {
	if h.cacheDir == "" || it.Size == 0 {
		return
	}
	sum := FileHash(it.Chunks)
	b := append(append([]byte(nil), it.Chunks...), sum[:]...)
	_ = writeFileAtomic(h.cacheFile(it), b, false) // a cache: losing it costs a rehash
}

// readFullAt reads len(buf) bytes at off, tolerating io.EOF when they all arrived.
func readFullAt(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
