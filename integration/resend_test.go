package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSendAgainAfterDelete: the receiver deletes a file it received; sending the same
// file again delivers it again, under a new transfer ID, instead of answering at once
// "completed" for the finished transfer of the same content (issue 13 item 2).
func TestSendAgainAfterDelete(t *testing.T) {
	t.Parallel()
	p := newLabPair(t, "")
	src := filepath.Join(t.TempDir(), "report.pdf")
	writeRandom(t, src, 3<<20, 13)
	first := p.send(t, src)
	got := filepath.Join(p.downloads, "report.pdf")
	assertSameFile(t, src, got)
	if err := os.Remove(got); err != nil {
		t.Fatal(err)
	}
	second := p.send(t, src)
	if second.ID == first.ID {
		t.Errorf("the second send-file reused transfer %s of the first", first.ID)
	}
	if _, err := os.Stat(got); err != nil {
		t.Fatalf("after the second send-file said completed, the receiver has no file: %v", err)
	}
	assertSameFile(t, src, got)
}
