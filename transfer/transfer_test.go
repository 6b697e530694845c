package transfer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLargeFileRoundTrip: 64 MiB of random data arrive byte for byte, both sides say
// completed, and nothing is left in the staging area.
func TestLargeFileRoundTrip(t *testing.T) {
	a, b := pair(t, nil, nil)
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, 64<<20)

	info := a.send(b, src)
	if info.State != StateTransferring {
		t.Fatalf("after Send: state %s (%s), want transferring", info.State, info.Error)
	}
	if done, err := a.wait(info.ID); err != nil || done.State != StateCompleted {
		t.Fatalf("sender: %s %v", done.State, err)
	}
	got, err := b.wait(info.ID)
	if err != nil || got.DoneBytes != 64<<20 {
		t.Fatalf("receiver: %+v %v", got, err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "big.bin"))
	if tree := listTree(t, b.cfg.Downloads); !slices.Equal(tree, []string{"big.bin"}) {
		t.Errorf("downloads folder holds %v, want just big.bin", tree)
	}
	fi, _ := os.Stat(filepath.Join(b.cfg.Downloads, "big.bin"))
	if fi.Mode().Perm() != 0644 {
		t.Errorf("received file mode %v, want 0644", fi.Mode().Perm())
	}
}

// TestFolderTree: a folder of nested small files, empty files and an empty directory
// arrives with its tree; files are 0644 even when the sender's was executable.
func TestFolderTree(t *testing.T) {
	a, b := pair(t, nil, nil)
	dir := filepath.Join(t.TempDir(), "project")
	writeFile(t, filepath.Join(dir, "README"), "hello\n", 0644)
	writeFile(t, filepath.Join(dir, "bin", "run.sh"), "#!/bin/sh\necho hi\n", 0755)
	writeFile(t, filepath.Join(dir, "src", "deep", "er", "x.go"), "package x\n", 0644)
	writeFile(t, filepath.Join(dir, "src", "empty.txt"), "", 0644)
	os.MkdirAll(filepath.Join(dir, "var", "empty"), 0755)
	writeRandom(t, filepath.Join(dir, "data", "blob"), 3*ChunkSize/2)

	info := a.send(b, dir)
	if got, err := b.wait(info.ID); err != nil {
		t.Fatalf("receiver: %s: %v", got.State, err)
	}
	if got, err := a.wait(info.ID); err != nil || got.State != StateCompleted {
		t.Fatalf("sender: %s: %v", got.State, err)
	}
	want := []string{"project/", "project/README", "project/bin/", "project/bin/run.sh", "project/data/",
		"project/data/blob", "project/src/", "project/src/deep/", "project/src/deep/er/",
		"project/src/deep/er/x.go", "project/src/empty.txt", "project/var/", "project/var/empty/"}
	if tree := listTree(t, b.cfg.Downloads); !slices.Equal(tree, want) {
		t.Errorf("received tree\n %v\nwant\n %v", tree, want)
	}
	for _, f := range []string{"README", "bin/run.sh", "src/deep/er/x.go", "src/empty.txt", "data/blob"} {
		got := filepath.Join(b.cfg.Downloads, "project", f)
		sameFile(t, filepath.Join(dir, f), got)
		if fi, _ := os.Stat(got); fi.Mode().Perm() != 0644 {
			t.Errorf("%s has mode %v, want 0644 (never executable)", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(b.cfg.Downloads, "project", "var", "empty")); fi.Mode().Perm() != 0755 {
		t.Errorf("empty dir mode %v", fi.Mode().Perm())
	}
}

// TestSeveralFiles: many paths in one offer, and a name already taken in the downloads
// folder gets "name (1).ext" instead of being overwritten.
func TestSeveralFiles(t *testing.T) {
	a, b := pair(t, nil, nil)
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "one.txt"), filepath.Join(dir, "two.bin"), filepath.Join(dir, "three")}
	writeFile(t, paths[0], "first", 0644)
	writeRandom(t, paths[1], 2*ChunkSize+1)
	writeFile(t, paths[2], "", 0644)
	writeFile(t, filepath.Join(b.cfg.Downloads, "one.txt"), "already here", 0600)

	info := a.send(b, paths...)
	if len(info.Files) != 3 || info.TotalBytes != 5+2*ChunkSize+1 {
		t.Fatalf("offer: %d files, %d bytes", len(info.Files), info.TotalBytes)
	}
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	if old, _ := os.ReadFile(filepath.Join(b.cfg.Downloads, "one.txt")); string(old) != "already here" {
		t.Errorf("an existing file was overwritten: %q", old)
	}
	sameFile(t, paths[0], filepath.Join(b.cfg.Downloads, "one (1).txt"))
	sameFile(t, paths[1], filepath.Join(b.cfg.Downloads, "two.bin"))
	sameFile(t, paths[2], filepath.Join(b.cfg.Downloads, "three"))
}

// TestSendTwice: the same Send while a transfer runs names the same transfer; after it
// completed, the same Send is a new transfer (a nonce in its manifest) that sends the
// files again, and a Send after that one was interrupted by a restart goes on with it.
func TestSendTwice(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.OpenSource = openSlow(5 * time.Millisecond) }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 8*ChunkSize)
	first := a.send(b, src)
	second := a.send(b, src)
	if first.ID != second.ID {
		t.Fatalf("the same Send got two IDs: %s, %s", first.ID, second.ID)
	}
	if _, err := a.wait(first.ID); err != nil {
		t.Fatal(err)
	}
	third := a.send(b, src)
	if third.ID == first.ID {
		t.Fatalf("Send after completion named the finished transfer %s (%s)", third.ID, third.State)
	}
	a.m.Close() // the sender restarts while the third send runs
	a2 := newSide(t, a.h, func(c *Config) { c.StateDir = a.cfg.StateDir; c.OpenSource = openSlow(5 * time.Millisecond) })
	if again := a2.send(b, src); again.ID != third.ID {
		t.Fatalf("Send after a restart got %s, want the unfinished %s", again.ID, third.ID)
	}
	if _, err := a2.wait(third.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, third.ID); got.State != StateCompleted {
		t.Fatalf("the receiver's copy of the third send: %s (%s)", got.State, got.Error)
	}
	if tree := listTree(t, b.cfg.Downloads); len(tree) != 2 {
		t.Errorf("downloads: %v, want two copies", tree)
	}
	if n := len(a2.m.List()); n != 2 {
		t.Errorf("List has %d transfers, want 2", n)
	}
}

// TestSendAgainAfterLostState: a sender that lost its state (a new StateDir) sends
// files the receiver completed before: the receiver's "completed" for the old ID makes
// the sender send them again under a nonce, so they arrive again.
func TestSendAgainAfterLostState(t *testing.T) {
	a, b := pair(t, nil, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 2*ChunkSize)
	first := a.send(b, src)
	if _, err := a.wait(first.ID); err != nil {
		t.Fatal(err)
	}
	a.m.Close()
	a2 := newSide(t, a.h, nil) // a StateDir of its own: nothing of the first transfer
	again := a2.send(b, src)
	if again.ID == first.ID {
		t.Fatalf("the sender without state got %s %s: the old transfer's answer", again.ID, again.State)
	}
	if _, err := a2.wait(again.ID); err != nil {
		t.Fatal(err)
	}
	if tree := listTree(t, b.cfg.Downloads); len(tree) != 2 {
		t.Errorf("downloads: %v, want two copies", tree)
	}
}

func mustGet(t testing.TB, s *side, id string) Info {
	t.Helper()
	info, ok := s.m.Get(id)
	if !ok {
		t.Fatalf("no transfer %s", id)
	}
	return info
}
