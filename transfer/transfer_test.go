package transfer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
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
