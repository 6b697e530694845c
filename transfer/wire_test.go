package transfer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"testing"

	"lukechampine.com/blake3"
)

const goldenID = "00112233445566778899aabbccddeeff"

// goldenManifest: a directory, a 3-byte file in it and an empty file, chunk size 64 KiB.
func goldenManifest() Manifest {
	chunk := blake3.Sum256([]byte("abc"))
	return Manifest{ChunkSize: 64 << 10, Entries: []Entry{
		{Path: "d", Kind: KindDir, Mode: 0755},
		{Path: "d/a.txt", Kind: KindFile, Size: 3, Mode: 0644, Chunks: chunk[:], Hash: FileHash(chunk[:])},
		{Path: "e", Kind: KindFile, Size: 0, Mode: 0755, Chunks: []byte{}, Hash: FileHash(nil)},
	}}
}

// The bytes on the wire are the protocol: changing them breaks every older node.
var golden = map[string]struct {
	frame []byte
	hex   string
}{
	"OFFER": {AppendOffer(nil, Offer{ID: goldenID, Fresh: true, Manifest: goldenManifest()}),
		"ab0101" + "0a1000112233445566778899aabbccddeeff" + "10808004" + // id, chunk size 65536
			"1a0a0a01641001180020ed03" + // "d": dir, size 0, mode 0755
			"1a540a07642f612e7478741000180320a403" + // "d/a.txt": file, size 3, mode 0644
			"2a206437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85" + // BLAKE3("abc")
			"3220dc2f738d17b8a7ec03efdd0a95e8d3924b8e05965040ab6dcafd992994012bd4" + // BLAKE3(chunk hashes)
			"1a2e0a01651000180020ed032a00" + // "e": file, size 0, mode 0755, no chunks
			"3220af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" + // BLAKE3("")
			"2001"}, // fresh
	"OFFER again": {AppendOffer(nil, Offer{ID: goldenID, Manifest: Manifest{ChunkSize: 64 << 10,
		Entries: goldenManifest().Entries[:1], Nonce: []byte("0123456789abcdef")}}),
		"3501" + "0a1000112233445566778899aabbccddeeff" + "10808004" + // id, chunk size 65536
			"1a0a0a01641001180020ed03" + // "d": dir, size 0, mode 0755
			"2a1030313233343536373839616263646566"}, // nonce "0123456789abcdef"
	"ANSWER": {AppendAnswer(nil, Answer{ID: goldenID, Status: StatusRejected, Reason: "too large"}),
		"20020a1000112233445566778899aabbccddeeff10021a09746f6f206c61726765"},
	"GET": {AppendGet(nil, Get{ID: goldenID, File: 1, First: 2, Count: 300}),
		"1a030a1000112233445566778899aabbccddeeff1001180220ac02"},
	"CHUNK": {AppendChunkHeader(nil, ChunkHeader{File: 1, Index: 2, Length: 65536}),
		"09040801100218808004"},
	"DONE": {AppendDone(nil, Done{ID: goldenID, Status: StatusQuarantined, Reason: "EICAR"}),
		"1c050a1000112233445566778899aabbccddeeff10041a054549434152"},
	"CANCEL": {AppendCancel(nil, Cancel{ID: goldenID, Reason: "bye"}),
		"18060a1000112233445566778899aabbccddeeff1203627965"},
	"ACK": {AppendAck(nil, Ack{ID: goldenID}),
		"13070a1000112233445566778899aabbccddeeff"},
	"ERROR": {AppendError(nil, ErrorFrame{Code: CodeChanged, Reason: "gone"}),
		"090808031204676f6e65"},
}

func TestGoldenBytes(t *testing.T) {
	if got := hex.EncodeToString(goldenManifest().Entries[1].Chunks); got != "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85" {
		t.Fatalf("BLAKE3(\"abc\") = %s: not the reference vector", got)
	}
	for name, g := range golden {
		if got := hex.EncodeToString(g.frame); got != g.hex {
			t.Errorf("%s frame\n got %s\nwant %s", name, got, g.hex)
		}
	}
}

// TestRoundTrips: every frame decodes to what was encoded.
func TestRoundTrips(t *testing.T) {
	var buf []byte
	for _, name := range []string{"OFFER", "ANSWER", "GET", "CHUNK", "DONE", "CANCEL", "ACK", "ERROR"} {
		buf = append(buf, golden[name].frame...)
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	want := []any{
		Offer{ID: goldenID, Fresh: true, Manifest: goldenManifest()},
		Answer{ID: goldenID, Status: StatusRejected, Reason: "too large"},
		Get{ID: goldenID, File: 1, First: 2, Count: 300},
		ChunkHeader{File: 1, Index: 2, Length: 65536},
		Done{ID: goldenID, Status: StatusQuarantined, Reason: "EICAR"},
		Cancel{ID: goldenID, Reason: "bye"},
		Ack{ID: goldenID},
		ErrorFrame{Code: CodeChanged, Reason: "gone"},
	}
	for _, w := range want {
		typ, p, err := ReadFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseAny(typ, p)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("type 0x%02x: got %+v (%v), want %+v", byte(typ), got, err, w)
		}
	}
	if _, _, err := ReadFrame(r); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func parseAny(typ FrameType, p []byte) (any, error) {
	switch typ {
	case TypeOffer:
		return ParseOffer(p)
	case TypeAnswer:
		return ParseAnswer(p)
	case TypeGet:
		return ParseGet(p)
	case TypeChunk:
		return ParseChunkHeader(p)
	case TypeDone:
		return ParseDone(p)
	case TypeCancel:
		return ParseCancel(p)
	case TypeAck:
		return ParseAck(p)
	case TypeError:
		return ParseError(p)
	}
	return nil, errors.New("unknown type")
}

func TestReadFrameRejects(t *testing.T) {
	cases := map[string][]byte{
		"zero length":          {0x00},
		"unknown type":         {0x02, 0x7f, 0x00},
		"small frame too big":  append(binary.AppendUvarint(nil, MaxSmallFrame+1), byte(TypeGet)),
		"offer over its cap":   append(binary.AppendUvarint(nil, MaxOfferFrame+1), byte(TypeOffer)),
		"truncated body":       {0x05, byte(TypeAck), 0x0a},
		"missing type":         {0x05},
		"bad varint":           bytes.Repeat([]byte{0xff}, 11),
		"chunk header too big": append(binary.AppendUvarint(nil, 1<<20), byte(TypeChunk)),
	}
	for name, in := range cases {
		if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(in))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	id := []byte{0x0a, 0x10}
	id = append(id, make([]byte, 16)...)
	cases := map[string]func() error{
		"short id":           func() error { _, err := ParseAck([]byte{0x0a, 0x02, 1, 2}); return err },
		"no id":              func() error { _, err := ParseCancel(nil); return err },
		"unknown status":     func() error { _, err := ParseAnswer(append(id, 0x10, 0x09)); return err },
		"DONE accepted":      func() error { _, err := ParseDone(append(id, 0x10, 0x00)); return err },
		"GET of nothing":     func() error { _, err := ParseGet(id); return err },
		"zero-length chunk":  func() error { _, err := ParseChunkHeader([]byte{0x18, 0x00}); return err },
		"huge chunk":         func() error { _, err := ParseChunkHeader([]byte{0x18, 0x80, 0x80, 0x80, 0x10}); return err },
		"error code 0":       func() error { _, err := ParseError([]byte{0x12, 0x01, 'x'}); return err },
		"error code unknown": func() error { _, err := ParseError([]byte{0x08, 0x63}); return err },
		"reason not UTF-8":   func() error { _, err := ParseCancel(append(id, 0x12, 0x01, 0xff)); return err },
		"group wire type":    func() error { _, err := ParseAck(append(id, 0x0b)); return err },
		"offer without id":   func() error { _, err := ParseOffer([]byte{0x10, 0x01}); return err },
		"offer no chunksize": func() error { _, err := ParseOffer(id); return err },
		"short nonce":        func() error { _, err := ParseOffer(append(append(id, 0x10, 0x01), 0x2a, 0x01, 'n')); return err },
		"file without hash": func() error {
			_, err := ParseOffer(append(append(id, 0x10, 0x01), 0x1a, 0x03, 0x0a, 0x01, 'a'))
			return err
		},
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	_, p, _ := ReadFrame(bufio.NewReader(bytes.NewReader(golden["DONE"].frame)))
	p = append(p, 0x3d, 1, 2, 3, 4) // field 7, fixed32
	p = append(p, 0x42, 0x01, 'z')  // field 8, bytes
	d, err := ParseDone(p)
	if err != nil || d != (Done{ID: goldenID, Status: StatusQuarantined, Reason: "EICAR"}) {
		t.Errorf("with unknown fields: %+v, %v", d, err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader and every payload parser:
// they must never panic or allocate past a frame's cap, and anything accepted must
// encode back to the same value.
func FuzzReadFrame(f *testing.F) {
	for _, g := range golden {
		f.Add(g.frame)
	}
	f.Add([]byte{0x00})
	f.Add(append(binary.AppendUvarint(nil, MaxOfferFrame+1), byte(TypeOffer)))
	f.Add([]byte{0x03, byte(TypeChunk), 0x18, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			typ, p, err := ReadFrame(r)
			if err != nil {
				return
			}
			if uint64(len(p)) >= maxFrame(typ) {
				t.Fatalf("payload of %d bytes passed the cap of type 0x%02x", len(p), byte(typ))
			}
			v, err := parseAny(typ, p)
			if err == nil {
				reencode(t, typ, v)
			}
		}
	})
}

func reencode(t *testing.T, typ FrameType, v any) {
	var frame []byte
	switch x := v.(type) {
	case Offer:
		frame = AppendOffer(nil, x)
	case Answer:
		frame = AppendAnswer(nil, x)
	case Get:
		frame = AppendGet(nil, x)
	case ChunkHeader:
		frame = AppendChunkHeader(nil, x)
	case Done:
		frame = AppendDone(nil, x)
	case Cancel:
		frame = AppendCancel(nil, x)
	case Ack:
		frame = AppendAck(nil, x)
	case ErrorFrame:
		frame = AppendError(nil, x)
	}
	typ2, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)))
	if err != nil {
		if typ == TypeOffer && errors.Is(err, ErrMalformed) {
			return // an accepted OFFER whose canonical form is larger than the cap
		}
		t.Fatalf("re-read of an accepted %T: %v", v, err)
	}
	back, err := parseAny(typ2, p)
	if err != nil || !equalFrames(v, back) {
		t.Fatalf("accepted %T does not round-trip:\n %+v\n %+v (%v)", v, v, back, err)
	}
}

// equalFrames compares decoded frames, treating nil and empty chunk lists alike.
func equalFrames(a, b any) bool {
	oa, ok1 := a.(Offer)
	ob, ok2 := b.(Offer)
	if !ok1 || !ok2 {
		return reflect.DeepEqual(a, b)
	}
	return bytes.Equal(appendManifest(nil, &oa.Manifest), appendManifest(nil, &ob.Manifest)) && oa.ID == ob.ID && oa.Fresh == ob.Fresh
}
