package transfer

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSyncDir is the durable-rename step of every OS: it must succeed on an
// ordinary folder (on Windows a flush of a directory handle would fail, so it is a
// no-op there).
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(dir); err != nil {
		t.Errorf("syncDir: %v", err)
	}
	f, err := os.CreateTemp(dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 1<<16))
	startWriteback(f, 0, 1<<16) // best effort: must not fail or block
}
