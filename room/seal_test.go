package room

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

var goldenRoom = Room{
	ID:    ID{0: 0x11, 15: 0xff},
	Name:  "ops",
	Key:   [32]byte{0: 1, 31: 2},
	Epoch: 3,
}

var goldenMsg = Message{
	ID:      MessageID{0: 0xaa, 15: 0xbb},
	Author:  peer.ID("\x00\x05hello"),
	Clock:   time.Unix(1700000000, 5).UTC(),
	Lamport: 42,
	Text:    "hi",
}

var goldenNonce = [NonceSize]byte{0: 7, 23: 9}

// The bytes on the wire are the protocol: changing them breaks every older node.
const (
	goldenMessageHex  = "0a10aa0000000000000000000000000000bb1207000568656c6c6f188580a8b1e39fe7cb17202a2a026869"
	goldenEnvelopeHex = "080312180700000000000000000000000000000000000000000000091a3b25e94ccc812f46a07bc3d64eaafaeb8347a41db35ed8af527106043b5bcdb65389d33084748b166da48d2b7cd79a8f12dae506be543ef288069ab6"
)

func TestGoldenMessage(t *testing.T) {
	if got := hex.EncodeToString(AppendMessage(nil, goldenMsg)); got != goldenMessageHex {
		t.Errorf("message\n got %s\nwant %s", got, goldenMessageHex)
	}
}

func TestGoldenEnvelope(t *testing.T) {
	env, err := goldenRoom.seal(goldenMsg, goldenNonce)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(env); got != goldenEnvelopeHex {
		t.Errorf("envelope\n got %s\nwant %s", got, goldenEnvelopeHex)
	}
	m, err := goldenRoom.Open(env)
	if err != nil || !equalMsg(m, goldenMsg) {
		t.Errorf("Open = %+v, %v", m, err)
	}
}

func equalMsg(a, b Message) bool {
	return a.ID == b.ID && a.Author == b.Author && a.Clock.Equal(b.Clock) && a.Lamport == b.Lamport && a.Text == b.Text &&
		bytes.Equal(a.Sig, b.Sig) && (a.Sig == nil) == (b.Sig == nil)
}

func TestSealRandomNonce(t *testing.T) {
	a, err := goldenRoom.Seal(goldenMsg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := goldenRoom.Seal(goldenMsg)
	if bytes.Equal(a, b) {
		t.Error("two seals of one message are equal: nonce not random")
	}
	if bytes.Contains(a, []byte(goldenMsg.Text)) || bytes.Contains(a, []byte(goldenMsg.Author)) {
		t.Error("envelope carries plaintext")
	}
}

func TestOpenRejects(t *testing.T) {
	env, err := goldenRoom.Seal(goldenMsg)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := goldenRoom.Clone()
	otherKey.Key[5] ^= 1
	otherRoom := goldenRoom.Clone()
	otherRoom.ID[3] ^= 1
	nextEpoch, err := goldenRoom.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	sameKeyNextEpoch := goldenRoom.Clone()
	sameKeyNextEpoch.Epoch++
	e, _ := ParseEnvelope(env)
	e.Epoch++ // claims the next epoch; the additional data no longer matches
	relabelled := AppendEnvelope(nil, e)
	tampered := bytes.Clone(env)
	tampered[len(tampered)-1] ^= 1

	cases := []struct {
		name string
		r    Room
		env  []byte
		want error
	}{
		{"wrong key", otherKey, env, ErrDecrypt},
		{"other room id", otherRoom, env, ErrDecrypt},
		{"rotated room", nextEpoch, env, ErrEpoch},
		{"relabelled epoch", sameKeyNextEpoch, relabelled, ErrDecrypt},
		{"tampered", goldenRoom, tampered, ErrDecrypt},
		{"oversized", goldenRoom, make([]byte, MaxEnvelope+1), ErrTooLarge},
		{"garbage", goldenRoom, []byte("hello, room"), ErrMalformed},
		{"empty", goldenRoom, nil, ErrMalformed},
	}
	for _, c := range cases {
		if _, err := c.r.Open(c.env); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestSealRejects(t *testing.T) {
	bad := []Message{
		{Author: "", Text: "x"},
		{Author: peer.ID(strings.Repeat("a", MaxAuthorLen+1))},
		{Author: "a", Text: strings.Repeat("x", MaxText+1)},
		{Author: "a", Text: "\xff\xfe"},
	}
	for _, m := range bad {
		if _, err := goldenRoom.Seal(m); err == nil {
			t.Errorf("Seal accepted author=%d text=%d bytes", len(m.Author), len(m.Text))
		}
	}
	if _, err := goldenRoom.Seal(Message{Author: "a", Text: strings.Repeat("x", MaxText+1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized text: %v, want ErrTooLarge", err)
	}
}

func TestParseMessageRejects(t *testing.T) {
	full := AppendMessage(nil, goldenMsg)
	cases := map[string][]byte{
		"no id":       full[18:],
		"short id":    {0x0a, 0x01, 0x00},
		"bad varint":  bytes.Repeat([]byte{0xff}, 11),
		"group":       {0x0b},
		"truncated":   full[:len(full)-1],
		"empty":       nil,
		"bad utf8":    append(bytes.Clone(full), 0x2a, 0x01, 0xff),
		"huge author": append(bytes.Clone(full), append([]byte{0x12, 0x81, 0x01}, make([]byte, 129)...)...),
		"huge sig":    append(bytes.Clone(full), append([]byte{0x32, 0x81, 0x01}, make([]byte, MaxSig+1)...)...),
		"sig varint":  append(bytes.Clone(full), 0x30, 0x01),
	}
	for name, in := range cases {
		if _, err := ParseMessage(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	withUnknown := append(bytes.Clone(full), 0x3d, 1, 2, 3, 4, 0x42, 0x01, 'z') // fields 7 and 8
	if m, err := ParseMessage(withUnknown); err != nil || !equalMsg(m, goldenMsg) {
		t.Errorf("with unknown fields: %+v, %v", m, err)
	}
}

func TestCompare(t *testing.T) {
	base := goldenMsg
	later := []func(*Message){
		func(m *Message) { m.Lamport++ },
		func(m *Message) { m.Clock = m.Clock.Add(1) },
		func(m *Message) { m.Author += "z" },
		func(m *Message) { m.ID[15]++ },
	}
	for i, f := range later {
		m := base
		f(&m)
		if Compare(base, m) >= 0 || Compare(m, base) <= 0 {
			t.Errorf("key %d does not order", i)
		}
	}
	if Compare(base, base) != 0 {
		t.Error("a message is not equal to itself")
	}
	m := base
	m.Lamport++
	m.Clock = m.Clock.Add(-time.Hour)
	if Compare(base, m) >= 0 {
		t.Error("author clock outranked the Lamport counter")
	}
}

// FuzzParseEnvelope: never panic, never accept more than MaxEnvelope, and whatever is
// accepted re-encodes to an envelope that parses to the same value.
func FuzzParseEnvelope(f *testing.F) {
	env, _ := goldenRoom.seal(goldenMsg, goldenNonce)
	f.Add(env)
	f.Add([]byte{0x08, 0x01})
	f.Add(make([]byte, MaxEnvelope+1))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseEnvelope(in)
		if err != nil {
			return
		}
		if len(in) > MaxEnvelope {
			t.Fatalf("accepted %d bytes", len(in))
		}
		back, err := ParseEnvelope(AppendEnvelope(nil, e))
		if err != nil || back.Epoch != e.Epoch || back.Nonce != e.Nonce || !bytes.Equal(back.Ciphertext, e.Ciphertext) {
			t.Fatalf("accepted envelope does not round-trip: %v", err)
		}
		goldenRoom.Open(in) // must not panic
	})
}

// FuzzParseMessage: never panic, and whatever is accepted round-trips.
func FuzzParseMessage(f *testing.F) {
	f.Add(AppendMessage(nil, goldenMsg))
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x2a, 0x01, 0xff})
	atMax := goldenMsg
	atMax.Lamport = MaxLamport
	f.Add(AppendMessage(nil, atMax))
	atMax.Lamport++
	f.Add(AppendMessage(nil, atMax))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseMessage(in)
		if err != nil {
			return
		}
		if len(m.Text) > MaxText || m.Author == "" || m.Lamport > MaxLamport {
			t.Fatalf("accepted text=%d author=%d bytes, Lamport %d", len(m.Text), len(m.Author), m.Lamport)
		}
		back, err := ParseMessage(AppendMessage(nil, m))
		if err != nil || !equalMsg(back, m) {
			t.Fatalf("accepted message does not round-trip: %+v -> %+v (%v)", m, back, err)
		}
	})
}
