package transfer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tamperer corrupts the bytes of one chunk, the first `times` times it is read (or
// forever with times < 0): a sender whose data does not match its offer.
type tamperer struct {
	mu    sync.Mutex
	off   int64 // start of the chunk to corrupt
	times int
	hits  int
}

func (tp *tamperer) open(p string) (Source, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	return &tamperedFile{File: f, tp: tp}, nil
}

type tamperedFile struct {
	*os.File
	tp *tamperer
}

func (f *tamperedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if off <= f.tp.off && f.tp.off < off+int64(n) && f.tp.take() {
		p[f.tp.off-off] ^= 0xff
	}
	return n, err
}

func (tp *tamperer) take() bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.times >= 0 && tp.hits >= tp.times {
		return false
	}
	tp.hits++
	return true
}

func (tp *tamperer) count() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.hits
}

// TestTamperedChunkRefetched: a chunk served corrupted once is caught by its hash,
// fetched again, and the file ends correct.
func TestTamperedChunkRefetched(t *testing.T) {
	tp := &tamperer{off: 5*ChunkSize + 1234, times: 1}
	a, b := pair(t, func(c *Config) { c.OpenSource = tp.open }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 9*ChunkSize)
	info := a.send(b, src)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "f.bin"))
	if n := tp.count(); n != 1 {
		t.Errorf("the chunk was corrupted %d times, want 1", n)
	}
	if sent := mustGet(t, a, info.ID).SentBytes; sent != 10*ChunkSize {
		t.Errorf("sender served %d bytes, want the file plus the one chunk again (%d)", sent, 10*ChunkSize)
	}
}

// TestLyingSenderFails: a sender that always serves bad data for a chunk fails the
// transfer with a clear error on both sides, and nothing is released.
func TestLyingSenderFails(t *testing.T) {
	tp := &tamperer{off: 2 * ChunkSize, times: -1}
	a, b := pair(t, func(c *Config) { c.OpenSource = tp.open }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 4*ChunkSize)
	info := a.send(b, src)
	got, err := b.wait(info.ID)
	if !errors.Is(err, ErrFailed) || !strings.Contains(got.Error, "does not match its offer") || !strings.Contains(got.Error, "f.bin") {
		t.Fatalf("receiver: %s %q (%v), want failed: data does not match", got.State, got.Error, err)
	}
	sent, err := a.wait(info.ID)
	if !errors.Is(err, ErrFailed) || !strings.Contains(sent.Error, "does not match") {
		t.Errorf("sender: %s %q, want failed with the receiver's reason", sent.State, sent.Error)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.Downloads, "f.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a file that failed verification was released")
	}
}

// TestChangedSourceFails: a file edited after it was offered fails the transfer with
// a message that says so, instead of retrying forever.
func TestChangedSourceFails(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "doc.txt")
	writeFile(t, src, "version 1", 0644)
	info := a.send(b, src)
	writeFile(t, src, "version 2, longer", 0644)
	if err := b.m.Accept(info.ID); err != nil {
		t.Fatal(err)
	}
	got, err := b.wait(info.ID)
	if !errors.Is(err, ErrFailed) || !strings.Contains(got.Error, "changed") {
		t.Fatalf("receiver: %s %q, want failed: changed", got.State, got.Error)
	}
	if sent, _ := a.wait(info.ID); sent.State != StateFailed {
		t.Errorf("sender: %s", sent.State)
	}
}
