package room

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestFrameGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range [][]byte{[]byte("hi"), nil, bytes.Repeat([]byte{'x'}, 300)} {
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatal(err)
		}
	}
	want := "026869" + "00" + "ac02" + strings.Repeat("78", 300)
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Errorf("frames\n got %s\nwant %s", got, want)
	}
	r := bufio.NewReader(&buf)
	for _, want := range []int{2, 0, 300} {
		p, err := ReadFrame(r, 300)
		if err != nil || len(p) != want {
			t.Fatalf("ReadFrame = %d bytes, %v; want %d", len(p), err, want)
		}
	}
	if _, err := ReadFrame(r, 300); err != io.EOF {
		t.Errorf("at a frame boundary: %v, want io.EOF", err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"over max", []byte{0x04, 1, 2, 3, 4}, 3, ErrTooLarge},
		// A length of 2^63 with nothing after it: refused before a byte is allocated.
		{"huge length", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1 << 20, ErrTooLarge},
		{"negative max", []byte{0x00}, -1, ErrTooLarge},
		{"length overflows", bytes.Repeat([]byte{0xff}, 10), 1 << 20, ErrMalformed},
		{"length overflows in byte 10", append(bytes.Repeat([]byte{0x80}, 9), 0x02), 1 << 20, ErrMalformed},
		{"endless length", bytes.Repeat([]byte{0x80}, 11), 1 << 20, ErrMalformed},
		{"truncated length", []byte{0x80}, 10, ErrMalformed},
		{"truncated payload", []byte{0x05, 1, 2}, 10, ErrMalformed},
	}
	for _, c := range cases {
		p, err := ReadFrame(bufio.NewReader(bytes.NewReader(c.in)), c.max)
		if c.want == nil {
			if err != nil || len(p) != 0 {
				t.Errorf("%s: %d bytes, %v", c.name, len(p), err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, io.EOF) {
			t.Errorf("%s: io.EOF inside a frame", c.name)
		}
	}
}

// TestReadFrameDeadline: a read error that is not the end of the stream passes through, so
// a caller can tell a timeout from a malformed frame.
func TestReadFrameDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { b.Write([]byte{0x05, 1}) }() // a frame that never finishes
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := ReadFrame(bufio.NewReader(a), 10)
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want a deadline error", err)
	}
}

// FuzzReadFrame: never panic, never return more than max bytes, and what is returned is
// what WriteFrame framed.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	WriteFrame(&buf, []byte("hello"))
	WriteFrame(&buf, nil)
	f.Add(buf.Bytes(), 16)
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1<<20)
	f.Add(bytes.Repeat([]byte{0xff}, 12), 100)
	f.Add([]byte{0x05, 1, 2}, 10)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max %= 1 << 16
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			p, err := ReadFrame(r, max)
			if err != nil {
				return
			}
			if len(p) > max {
				t.Fatalf("returned %d bytes; max %d", len(p), max)
			}
			var out bytes.Buffer
			WriteFrame(&out, p)
			back, err := ReadFrame(bufio.NewReader(&out), max)
			if err != nil || !bytes.Equal(back, p) {
				t.Fatalf("frame does not round-trip: %v", err)
			}
		}
	})
}
