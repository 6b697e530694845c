package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"
)

func TestManifestValidate(t *testing.T) {
	if m := goldenManifest(); m.Validate() != nil {
		t.Fatalf("golden manifest: %v", m.Validate())
	}
	cases := map[string]func(m *Manifest){
		"chunk size too small": func(m *Manifest) { m.ChunkSize = MinChunkSize - 1 },
		"chunk size too large": func(m *Manifest) { m.ChunkSize = MaxChunkSize + 1 },
		"no entries":           func(m *Manifest) { m.Entries = nil },
		"unsafe name":          func(m *Manifest) { m.Entries[1].Path = "../a.txt" },
		"duplicate":            func(m *Manifest) { m.Entries[2].Path = "d/a.txt" },
		"dir and file same":    func(m *Manifest) { m.Entries[0].Path = "e" },
		"file used as dir":     func(m *Manifest) { m.Entries[1].Path = "e/a.txt" },
		"exec-only mode":       func(m *Manifest) { m.Entries[1].Mode = 0777 },
		"setuid":               func(m *Manifest) { m.Entries[1].Mode = 04755 },
		"dir with size":        func(m *Manifest) { m.Entries[0].Size = 1 },
		"unknown kind":         func(m *Manifest) { m.Entries[0].Kind = 7 },
		"too few chunk hashes": func(m *Manifest) { m.Entries[1].Size = 64<<10 + 1 },
		"file hash mismatch":   func(m *Manifest) { m.Entries[1].Hash[0] ^= 1 },
		"negative size":        func(m *Manifest) { m.Entries[2].Size = -1 },
		"chunk hash not 32 B":  func(m *Manifest) { m.Entries[1].Chunks = m.Entries[1].Chunks[:31] },
		"total over the limit": func(m *Manifest) {
			big := Entry{Path: "x", Kind: KindFile, Size: maxEntrySize, Mode: 0644}
			m.Entries = append(m.Entries, big, big)
		},
	}
	for name, mutate := range cases {
		m := goldenManifest()
		mutate(&m)
		err := m.Validate()
		if !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrBadName) {
			t.Errorf("%s: Validate = %v, want a rejection", name, err)
		}
	}
}

func TestValidateNamesTheOffender(t *testing.T) {
	m := goldenManifest()
	m.Entries[1].Path = "d/CON.txt"
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "d/CON.txt") {
		t.Errorf("Validate = %v, want the offending name in the error", err)
	}
}

func TestTransferIDDeterministic(t *testing.T) {
	a, b := peer.ID("alice"), peer.ID("bob")
	m := goldenManifest()
	id := TransferID(a, b, &m)
	if len(id) != 2*IDLen || id != TransferID(a, b, &m) {
		t.Fatalf("TransferID %q is not stable", id)
	}
	if id == TransferID(b, a, &m) {
		t.Error("the ID does not depend on the direction")
	}
	m.Entries[1].Mode = 0755
	if id == TransferID(a, b, &m) {
		t.Error("the ID does not depend on the manifest")
	}
}

func TestManifestFileRoundTrip(t *testing.T) {
	m := goldenManifest()
	back, err := decodeManifest(encodeManifest(&m))
	if err != nil || !bytes.Equal(appendManifest(nil, &m), appendManifest(nil, &back)) {
		t.Fatalf("stored manifest does not round-trip: %v", err)
	}
	if _, err := decodeManifest([]byte{2}); err == nil {
		t.Error("a manifest file of version 2 was accepted")
	}
}

// TestHashFolder: a folder keeps its tree (empty files and directories too), chunk hashes
// are BLAKE3 of each chunk, and the file hash covers the chunk hashes.
func TestHashFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "album")
	writeRandom(t, filepath.Join(dir, "big.bin"), 3*MinChunkSize+5)
	writeFile(t, filepath.Join(dir, "sub", "empty.txt"), "", 0644)
	writeFile(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\n", 0755)
	os.MkdirAll(filepath.Join(dir, "nothing"), 0755)
	items, err := collect([]string{dir}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	h := &hasher{chunkSize: MinChunkSize, progress: func(int64) {}}
	if err := h.hash(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	m := Manifest{ChunkSize: MinChunkSize, Entries: entriesOf(items)}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	want := "album album/big.bin album/nothing album/run.sh album/sub album/sub/empty.txt"
	if strings.Join(paths, " ") != want {
		t.Errorf("paths %v, want %s", paths, want)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "big.bin"))
	big := m.Entries[1]
	if last := blake3.Sum256(data[3*MinChunkSize:]); !bytes.Equal(big.ChunkHash(3), last[:]) || big.NumChunks(MinChunkSize) != 4 {
		t.Error("the last chunk's hash is not BLAKE3 of its bytes")
	}
	if m.Entries[3].Mode != 0755 || m.Entries[5].Mode != 0644 {
		t.Errorf("modes %o %o, want 755 644", m.Entries[3].Mode, m.Entries[5].Mode)
	}
}

// TestHashCache: an unchanged file (path, size, mtime) is not read again.
func TestHashCache(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 2*MinChunkSize)
	h := &hasher{chunkSize: MinChunkSize, cacheDir: t.TempDir(), progress: func(int64) {}}
	first := hashOne(t, h, src)

	// Same size and mtime, other bytes: only a cache hit gives the old hashes back.
	fi, _ := os.Stat(src)
	writeRandom(t, src, 2*MinChunkSize)
	os.Chtimes(src, fi.ModTime(), fi.ModTime())
	if again := hashOne(t, h, src); again.Hash != first.Hash {
		t.Error("an unchanged file was hashed again")
	}
	os.Chtimes(src, fi.ModTime(), fi.ModTime().Add(time.Second))
	if fresh := hashOne(t, h, src); fresh.Hash == first.Hash {
		t.Error("a file with a new mtime was served from the cache")
	}
}

func hashOne(t *testing.T, h *hasher, path string) Entry {
	t.Helper()
	items, err := collect([]string{path}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.hash(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	return items[0].Entry
}

// FuzzParseOffer: whatever an OFFER payload holds, parsing and validating never panic,
// and an offer that validates has only safe, unique names and consistent hashes.
func FuzzParseOffer(f *testing.F) {
	_, p, _ := ReadFrame(bufio.NewReader(bytes.NewReader(golden["OFFER"].frame)))
	f.Add(p)
	_, p, _ = ReadFrame(bufio.NewReader(bytes.NewReader(golden["OFFER again"].frame)))
	f.Add(p) // with a nonce
	bad := goldenManifest()
	bad.Entries[1].Path = "../x"
	f.Add(AppendOffer(nil, Offer{ID: goldenID, Manifest: bad})[3:])
	f.Add([]byte{0x10, 0x80, 0x80, 0x04, 0x1a, 0x03, 0x0a, 0x01, 'a'})
	f.Fuzz(func(t *testing.T, p []byte) {
		o, err := ParseOffer(p)
		if err != nil {
			return
		}
		if o.Manifest.Validate() != nil {
			return
		}
		seen := map[string]bool{}
		for i := range o.Manifest.Entries {
			e := &o.Manifest.Entries[i]
			if ValidatePath(e.Path) != nil || seen[e.Path] || (e.Kind == KindFile && FileHash(e.Chunks) != e.Hash) {
				t.Fatalf("validated an unsafe entry %+v", e)
			}
			seen[e.Path] = true
		}
	})
}

func TestChunkSizeFor(t *testing.T) {
	huge := func(size int64) []Entry { return []Entry{{Path: "x", Kind: KindFile, Size: size}} }
	for _, c := range []struct {
		size, want int64
	}{
		{0, ChunkSize}, {10 << 30, ChunkSize}, {256 << 30, ChunkSize}, {256<<30 + 1, 2 * ChunkSize}, {4 << 40, 16 * ChunkSize},
	} {
		if got, err := chunkSizeFor(ChunkSize, huge(c.size)); err != nil || got != c.want {
			t.Errorf("chunk size for %d bytes = %d, %v; want %d", c.size, got, err, c.want)
		}
	}
	if _, err := chunkSizeFor(ChunkSize, huge(4<<40+1)); err == nil {
		t.Error("more than an OFFER can describe was accepted")
	}
	m := Manifest{ChunkSize: MaxChunkSize, Entries: huge(4 << 40)}
	m.Entries[0].Chunks = make([]byte, maxOfferChunks*HashSize)
	if n := len(AppendOffer(nil, Offer{ID: goldenID, Manifest: m})); n > MaxOfferFrame {
		t.Errorf("the largest offer is %d bytes, over the %d cap", n, MaxOfferFrame)
	}
}
