package transfer

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"lukechampine.com/blake3"

	"github.com/parley-im/parley/internal/wire"
)

// Limits on a manifest.
const (
	HashSize     = 32       // BLAKE3-256
	MinChunkSize = 64 << 10 // smallest chunk size a receiver accepts
	MaxChunkSize = 16 << 20 // largest chunk size a receiver accepts
	MaxEntries   = 100_000  // files and directories in one offer
	maxEntrySize = int64(1) << 50
)

// Kind says whether an entry is a file or a directory.
type Kind uint8

// Entry kinds.
const (
	KindFile Kind = 0
	KindDir  Kind = 1
)

// Entry is one file or directory of an offer.
type Entry struct {
	Path   string         // slash-separated, relative; validated by ValidatePath
	Kind   Kind           // KindFile or KindDir
	Size   int64          // bytes; 0 for directories
	Mode   uint32         // 0644 or 0755 (informative: receivers never set exec bits)
	Chunks []byte         // files: the BLAKE3-256 of every chunk, concatenated
	Hash   [HashSize]byte // files: BLAKE3-256 of Chunks, the file's content hash
}

// Manifest is what an offer promises: every entry and the chunk size of the data.
type Manifest struct {
	ChunkSize int64
	Entries   []Entry
	// Nonce (NonceLen random bytes, or none) makes a new transfer ID for content that
	// already went to the same peer in a transfer that finished: sending it again sends
	// it again. The first send of some content has none, as before nonces existed.
	Nonce []byte
}

// NonceLen is the length of Manifest.Nonce when present.
const NonceLen = 16

// Offer is the payload of an OFFER frame.
type Offer struct {
	ID       string // 32 hex characters, see TransferID
	Fresh    bool   // the user ran Send (not an automatic re-offer)
	Manifest Manifest

	size int // bytes of the OFFER payload it came in (set by the receiver)
}

// ErrBadOffer wraps every rule an offer breaks besides unsafe names.
var ErrBadOffer = errors.New("invalid offer")

// NumChunks is the number of chunks of e at chunk size cs.
func (e *Entry) NumChunks(cs int64) int64 { return (e.Size + cs - 1) / cs }

// ChunkLen is the length of chunk i of e at chunk size cs.
func (e *Entry) ChunkLen(i, cs int64) int64 { return min(cs, e.Size-i*cs) }

// ChunkHash is the expected hash of chunk i.
func (e *Entry) ChunkHash(i int64) []byte { return e.Chunks[i*HashSize : (i+1)*HashSize] }

// TotalSize is the sum of the sizes of every file.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for i := range m.Entries {
		n += m.Entries[i].Size
	}
	return n
}

// FileHash is the content hash of a file whose chunk hashes are chunks.
func FileHash(chunks []byte) [HashSize]byte { return blake3.Sum256(chunks) }

// TransferID derives the ID of a transfer from its sender, receiver and manifest
// (with its nonce), so the same files sent again to the same peer name the same
// transfer (and resume it) until it finishes; a send after that adds a nonce.
func TransferID(from, to peer.ID, m *Manifest) string {
	h := blake3.New(HashSize, nil)
	var b []byte
	b = append(b, "parley/file/1 transfer id\x00"...)
	b = protowire.AppendBytes(b, []byte(from))
	b = protowire.AppendBytes(b, []byte(to))
	h.Write(appendManifest(b, m))
	return hex.EncodeToString(h.Sum(nil)[:IDLen])
}

// appendManifest appends the canonical encoding of m: OFFER fields 2, 3 and 5.
func appendManifest(p []byte, m *Manifest) []byte {
	p = appendVarintField(p, 2, uint64(m.ChunkSize))
	for i := range m.Entries {
		p = appendBytesField(p, 3, appendEntry(nil, &m.Entries[i]))
	}
	if len(m.Nonce) > 0 {
		p = appendBytesField(p, 5, m.Nonce)
	}
	return p
}

// contentID is the transfer ID m would have without its nonce: the same for every send
// of the same files between the same peers.
func contentID(from, to peer.ID, m *Manifest) string {
	c := *m
	c.Nonce = nil
	return TransferID(from, to, &c)
}

func appendEntry(p []byte, e *Entry) []byte {
	p = appendBytesField(p, 1, []byte(e.Path))
	p = appendVarintField(p, 2, uint64(e.Kind))
	p = appendVarintField(p, 3, uint64(e.Size))
	p = appendVarintField(p, 4, uint64(e.Mode))
	if e.Kind == KindFile {
		p = appendBytesField(p, 5, e.Chunks)
		p = appendBytesField(p, 6, e.Hash[:])
	}
	return p
}

// AppendOffer appends o's frame to b.
func AppendOffer(b []byte, o Offer) []byte {
	p := appendManifest(appendID(nil, o.ID), &o.Manifest)
	if o.Fresh {
		p = appendVarintField(p, 4, 1)
	}
	return appendFrame(b, TypeOffer, p)
}

// ParseOffer decodes an OFFER payload. It checks the encoding only (ErrMalformed);
// Manifest.Validate checks what the offer asks for.
func ParseOffer(p []byte) (Offer, error) {
	var o Offer
	var sawChunk bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			return setID(&o.ID, b)
		case 2:
			o.Manifest.ChunkSize, sawChunk = int64(min(v, 1<<62)), true
		case 3:
			return o.Manifest.addEntry(b)
		case 4:
			o.Fresh = v != 0
		case 5:
			if len(b) != NonceLen {
				return fmt.Errorf("%w: nonce of %d bytes, want %d", ErrMalformed, len(b), NonceLen)
			}
			o.Manifest.Nonce = bytes.Clone(b)
		}
		return nil
	})
	if err == nil && (o.ID == "" || !sawChunk) {
		err = fmt.Errorf("%w: OFFER lacks its id or chunk size", ErrMalformed)
	}
	return o, err
}

func (m *Manifest) addEntry(b []byte) error {
	if len(m.Entries) >= MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrMalformed, MaxEntries)
	}
	e, err := parseEntry(b)
	if err != nil {
		return err
	}
	m.Entries = append(m.Entries, e)
	return nil
}

func parseEntry(p []byte) (Entry, error) {
	var e Entry
	var sawHash bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			e.Path = string(b)
		case 2:
			e.Kind = Kind(min(v, 255))
		case 3:
			e.Size = int64(min(v, 1<<62))
		case 4:
			e.Mode = uint32(min(v, 1<<31))
		case 5:
			e.Chunks = bytes.Clone(b)
		case 6:
			if len(b) != HashSize {
				return fmt.Errorf("%w: file hash of %d bytes", ErrMalformed, len(b))
			}
			copy(e.Hash[:], b)
			sawHash = true
		}
		return nil
	})
	if err == nil && e.Kind == KindFile && !sawHash {
		err = fmt.Errorf("%w: file entry %q without a hash", ErrMalformed, clip(e.Path))
	}
	return e, err
}

// Validate checks everything an offer asks of the receiver: chunk size, entry count,
// safe names, no duplicates, no file that is also a directory, and hashes that add up.
// The error names the offending entry.
func (m *Manifest) Validate() error {
	if m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d outside %d..%d", ErrBadOffer, m.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if len(m.Entries) == 0 || len(m.Entries) > MaxEntries {
		return fmt.Errorf("%w: %d entries; want 1..%d", ErrBadOffer, len(m.Entries), MaxEntries)
	}
	for i := range m.Entries {
		if err := m.validateEntry(&m.Entries[i]); err != nil {
			return err
		}
	}
	if err := checkTotal(m.Entries); err != nil {
		return err
	}
	return checkTree(m.Entries)
}

func (m *Manifest) validateEntry(e *Entry) error {
	if err := ValidatePath(e.Path); err != nil {
		return err
	}
	switch e.Kind {
	case KindDir:
		if e.Size != 0 || len(e.Chunks) != 0 || (e.Mode != 0755 && e.Mode != 0) {
			return fmt.Errorf("%w: directory %q has a size, chunks or mode %o", ErrBadOffer, e.Path, e.Mode)
		}
		return nil
	case KindFile:
		return m.validateFile(e)
	}
	return fmt.Errorf("%w: entry %q of unknown kind %d", ErrBadOffer, e.Path, e.Kind)
}

func (m *Manifest) validateFile(e *Entry) error {
	switch {
	case e.Mode != 0644 && e.Mode != 0755:
		return fmt.Errorf("%w: file %q has mode %o; only 644 and 755 are sent", ErrBadOffer, e.Path, e.Mode)
	case e.Size < 0 || e.Size > maxEntrySize:
		return fmt.Errorf("%w: file %q has size %d", ErrBadOffer, e.Path, e.Size)
	case int64(len(e.Chunks)) != e.NumChunks(m.ChunkSize)*HashSize:
		return fmt.Errorf("%w: file %q of %d bytes comes with %d bytes of chunk hashes", ErrBadOffer, e.Path, e.Size, len(e.Chunks))
	case FileHash(e.Chunks) != e.Hash:
		return fmt.Errorf("%w: the content hash of %q does not match its chunk hashes", ErrBadOffer, e.Path)
	}
	return nil
}

func checkTotal(entries []Entry) error {
	var total int64
	for i := range entries {
		total += entries[i].Size
		if total > maxEntrySize {
			return fmt.Errorf("%w: the files add up to more than %d bytes", ErrBadOffer, maxEntrySize)
		}
	}
	return nil
}

// checkTree refuses duplicate paths, a file that is also used as a directory ("a" and
// "a/b"), and paths that differ only in case (checkCase). Sorting keeps it O(n log n) for any offer a frame can hold.
func checkTree(entries []Entry) error {
	paths := make([]string, len(entries))
	for i := range entries {
		paths[i] = entries[i].Path
	}
	slices.Sort(paths)
	for i := 1; i < len(paths); i++ {
		if paths[i] == paths[i-1] {
			return fmt.Errorf("%w: %q appears twice", ErrBadOffer, paths[i])
		}
	}
	for i := range entries {
		if entries[i].Kind == KindFile && hasDescendant(paths, entries[i].Path) {
			return fmt.Errorf("%w: %q is a file and also a directory", ErrBadOffer, entries[i].Path)
		}
	}
	return checkCase(entries)
}

func hasDescendant(sorted []string, p string) bool {
	prefix := p + "/"
	i, _ := slices.BinarySearch(sorted, prefix)
	return i < len(sorted) && strings.HasPrefix(sorted[i], prefix)
}

// encodeManifest and decodeManifest store a manifest in the state directory.
func encodeManifest(m *Manifest) []byte {
	return appendManifest(binary.AppendUvarint(nil, 1), m)
}

func decodeManifest(b []byte) (Manifest, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v != 1 {
		return Manifest{}, errors.New("manifest file of an unknown version")
	}
	payload := append(appendID(nil, strings.Repeat("00", IDLen)), b[n:]...)
	o, err := ParseOffer(payload)
	if err != nil {
		return Manifest{}, err
	}
	return o.Manifest, o.Manifest.Validate()
}
