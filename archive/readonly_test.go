package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenReadOnly: a stopped node's archive reads through OpenReadOnly, which
// refuses writes and leaves the file as it was; it also reads beside a writer.
func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, w, newMessage("a", "alice", "bob", "hello there", base))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a closed archive: %v", err)
	}
	if got := ids(mustList(t, r, Query{Search: "hel"})); got != "a" {
		t.Errorf("read-only List = %q, want a", got)
	}
	if names, err := r.SenderNames(context.Background()); err != nil || len(names) != 1 || names["alice"] != "name of alice" {
		t.Errorf("SenderNames = %v, %v", names, err)
	}
	if _, err := r.Put(context.Background(), newMessage("b", "alice", "bob", "x", base)); err == nil {
		t.Error("Put through a read-only store succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("reading read-only changed the archive file")
	}

	w, err = Open(path) // a running node
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustPut(t, w, newMessage("c", "alice", "bob", "while running", base.Add(1)))
	r, err = OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly beside a writer: %v", err)
	}
	defer r.Close()
	if got := ids(mustList(t, r, Query{})); got != "a,c" {
		t.Errorf("read-only List beside a writer = %q, want a,c", got)
	}
}

func TestOpenReadOnlyRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	old := filepath.Join(dir, "old.db")
	s, err := openStore(old, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenReadOnly(old); err == nil || !strings.Contains(err.Error(), "parley up") {
		t.Errorf("an archive of schema 1: %v, want a hint to run parley up", err)
	}
}

// TestOpenReadOnlyAfterACrash: the files a killed node leaves (archive.db with its -wal
// and -shm, commits only in the -wal) read read-only, last commit included.
func TestOpenReadOnlyAfterACrash(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(filepath.Join(dir, "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustPut(t, w, newMessage("a", "alice", "bob", "only in the wal", base))
	crashed := t.TempDir() // the files as they are while the node runs: a kill -9 leaves these
	for _, name := range []string{"archive.db", "archive.db-wal", "archive.db-shm"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReadOnly(filepath.Join(crashed, "archive.db"))
	if err != nil {
		t.Fatalf("OpenReadOnly after a crash: %v", err)
	}
	defer r.Close()
	if got := ids(mustList(t, r, Query{})); got != "a" {
		t.Errorf("List after a crash = %q, want the message committed to the wal", got)
	}
}
