package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPruneUploads: an upload folder goes once nothing in it is being sent and nothing
// changed for a while; one being sent (matched as a file, through another path) or
// still changing stays, and so does anything that is not an upload folder.
func TestPruneUploads(t *testing.T) {
	outbox := t.TempDir()
	now := time.Now()
	old := now.Add(-2 * outboxKeep)
	upload := func(name string, fileTime, dirTime time.Time) string {
		dir := filepath.Join(outbox, name)
		path := filepath.Join(dir, "report.pdf")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, dir} {
			mt := map[string]time.Time{path: fileTime, dir: dirTime}[p]
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	upload("sent", old, old)
	sending := upload("sending", old, old)
	upload("fresh", now, now)
	upload("still-writing", now, old) // the folder was made long ago, the file grows
	if err := os.WriteFile(filepath.Join(outbox, "note.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Dir(sending), link); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(link, "report.pdf"))
	if err != nil {
		t.Fatal(err)
	}

	removed, err := pruneUploads(outbox, []os.FileInfo{fi}, now.Add(-outboxKeep))
	if err != nil || removed != 1 {
		t.Fatalf("pruneUploads = %d, %v; want 1 removed", removed, err)
	}
	entries, err := os.ReadDir(outbox)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"fresh", "note.txt", "sending", "still-writing"}; !slices.Equal(left, want) {
		t.Errorf("left in the outbox: %v, want %v", left, want)
	}

	if n, err := pruneUploads(filepath.Join(outbox, "missing"), nil, now); n != 0 || err != nil {
		t.Errorf("pruneUploads of a missing outbox = %d, %v; want 0, nil", n, err)
	}
}
