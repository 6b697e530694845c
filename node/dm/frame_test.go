package dm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var goldenMessage = Message{
	ID:       "0123456789abcdef",
	SentAt:   time.Unix(1700000000, 5).UTC(),
	Text:     "hi",
	FromName: "Ann",
}

// The bytes on the wire are the protocol: changing them breaks every older node.
const (
	goldenMessageHex = "26010a1030313233343536373839616263646566108580a8b1e39fe7cb171a0268692203416e6e"
	goldenAckHex     = "15020a10303132333435363738396162636465661001"
)

func TestGoldenBytes(t *testing.T) {
	if got := hex.EncodeToString(AppendMessage(nil, goldenMessage)); got != goldenMessageHex {
		t.Errorf("MESSAGE frame\n got %s\nwant %s", got, goldenMessageHex)
	}
	ack := Ack{ID: goldenMessage.ID, Status: AckDuplicate}
	if got := hex.EncodeToString(AppendAck(nil, ack)); got != goldenAckHex {
		t.Errorf("ACK frame\n got %s\nwant %s", got, goldenAckHex)
	}
}

func TestRoundTrip(t *testing.T) {
	var buf []byte
	buf = AppendMessage(buf, goldenMessage)
	buf = AppendAck(buf, Ack{ID: "x", Status: AckRejected})
	r := bufio.NewReader(bytes.NewReader(buf))

	typ, p, err := ReadFrame(r)
	if err != nil || typ != TypeMessage {
		t.Fatalf("first frame: type %d err %v", typ, err)
	}
	m, err := ParseMessage(p)
	if err != nil {
		t.Fatal(err)
	}
	if m != goldenMessage {
		t.Errorf("message = %+v, want %+v", m, goldenMessage)
	}
	typ, p, err = ReadFrame(r)
	if err != nil || typ != TypeAck {
		t.Fatalf("second frame: type %d err %v", typ, err)
	}
	if a, err := ParseAck(p); err != nil || a != (Ack{ID: "x", Status: AckRejected}) {
		t.Errorf("ack = %+v, %v", a, err)
	}
	if _, _, err := ReadFrame(r); err != io.EOF {
		t.Errorf("after last frame: %v, want io.EOF", err)
	}
}

func TestRejects(t *testing.T) {
	huge := binary.AppendUvarint(nil, MaxFrame+1)
	cases := map[string][]byte{
		"zero length":      {0x00},
		"oversized length": huge,
		"truncated body":   {0x05, 0x01, 0x0a},
		"bad varint":       bytes.Repeat([]byte{0xff}, 11),
	}
	for name, in := range cases {
		if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(in))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	bad := []Message{
		{ID: "", SentAt: time.Now()},
		{ID: strings.Repeat("i", MaxIDLen+1), SentAt: time.Now()},
		{ID: "a", SentAt: time.Now(), Text: strings.Repeat("x", MaxText+1)},
		{ID: "a", SentAt: time.Now(), Text: "\xff\xfe"},
		{ID: "a", SentAt: time.Now(), FromName: strings.Repeat("n", MaxNameLen+1)},
	}
	for _, m := range bad {
		frame := AppendMessage(nil, m)
		_, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)))
		if err != nil {
			continue // rejected by length already
		}
		if _, err := ParseMessage(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseMessage accepted id=%d text=%d name=%d bytes", len(m.ID), len(m.Text), len(m.FromName))
		}
	}
	if _, err := ParseMessage([]byte{0x0a, 0x01, 'a'}); !errors.Is(err, ErrMalformed) {
		t.Error("ParseMessage accepted a message without sent_at")
	}
	if _, err := ParseAck([]byte{0x10, 0x07, 0x0a, 0x01, 'a'}); !errors.Is(err, ErrMalformed) {
		t.Error("ParseAck accepted an unknown status")
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	p := AppendMessage(nil, goldenMessage)
	_, payload, _ := ReadFrame(bufio.NewReader(bytes.NewReader(p)))
	payload = append(payload, 0x2d, 1, 2, 3, 4) // field 5, fixed32
	payload = append(payload, 0x32, 0x01, 'z')  // field 6, bytes
	m, err := ParseMessage(payload)
	if err != nil || m != goldenMessage {
		t.Errorf("with unknown fields: %+v, %v", m, err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the decoder: it must never panic, never
// allocate beyond MaxFrame, and anything it accepts must re-encode to an equal value.
func FuzzReadFrame(f *testing.F) {
	f.Add(AppendMessage(nil, goldenMessage))
	f.Add(AppendAck(nil, Ack{ID: "abc", Status: AckStored}))
	f.Add([]byte{0x00})
	f.Add(binary.AppendUvarint(nil, MaxFrame+1))
	f.Add([]byte{0x03, 0x01, 0x0a, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			typ, p, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(p) >= MaxFrame {
				t.Fatalf("payload of %d bytes passed the cap", len(p))
			}
			switch typ {
			case TypeMessage:
				if m, err := ParseMessage(p); err == nil {
					reencodeMessage(t, m)
				}
			case TypeAck:
				ParseAck(p)
			}
		}
	})
}

func reencodeMessage(t *testing.T, m Message) {
	_, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(AppendMessage(nil, m))))
	if err != nil {
		t.Fatalf("re-read of an accepted message: %v", err)
	}
	back, err := ParseMessage(p)
	if err != nil || !back.SentAt.Equal(m.SentAt) || back.ID != m.ID || back.Text != m.Text || back.FromName != m.FromName {
		t.Fatalf("accepted message does not round-trip: %+v -> %+v (%v)", m, back, err)
	}
}

func TestReadRoundTrip(t *testing.T) {
	frame := AppendRead(nil, Read{IDs: []string{"a", "bc"}})
	if got := hex.EncodeToString(frame); got != "08030a01610a026263" {
		t.Errorf("READ frame %s", got)
	}
	typ, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)))
	if err != nil || typ != TypeRead {
		t.Fatalf("type %d err %v", typ, err)
	}
	r, err := ParseRead(p)
	if err != nil || len(r.IDs) != 2 || r.IDs[1] != "bc" {
		t.Errorf("read = %+v, %v", r, err)
	}
	if _, err := ParseRead(nil); !errors.Is(err, ErrMalformed) {
		t.Error("empty READ accepted")
	}
}

func FuzzParseRead(f *testing.F) {
	f.Add([]byte{0x0a, 0x01, 'a'})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := ParseRead(p)
		if err == nil && (len(r.IDs) == 0 || len(r.IDs) > MaxReadIDs) {
			t.Fatalf("accepted %d ids", len(r.IDs))
		}
	})
}
