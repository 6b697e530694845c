package room

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// goldenKey is a fixed Ed25519 key; Ed25519 signatures are deterministic, so a message it
// signs has golden bytes.
func goldenKey(t testing.TB) (libp2pcrypto.PrivKey, peer.ID) {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 0x42
	k, err := libp2pcrypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func goldenSigned(t testing.TB) Message {
	t.Helper()
	k, id := goldenKey(t)
	m := goldenMsg
	m.Author = id
	if err := SignMessage(&m, goldenRoom.ID, k); err != nil {
		t.Fatal(err)
	}
	return m
}

const (
	goldenSigningBytesHex = "7061726c65792f726f6f6d2d6d73672f31" + "110000000000000000000000000000ff" +
		"0a10aa0000000000000000000000000000bb1207000568656c6c6f188580a8b1e39fe7cb17202a2a026869"
	goldenSignedHex = "0a10aa0000000000000000000000000000bb1226002408011220ccbc3da2c4267cc8553be0c7b5790cc75a121297528462c3d2cc679d16eb8684" +
		"188580a8b1e39fe7cb17202a2a026869" + "3240306bf79eacc67e39e7ae641cb03705301b2eb92ff67bd389d0d609dfd0356c628e36744adce619e76454d12c10d25ef0819c975ca4c14f737b68fc9cf6272a0e"
)

func TestGoldenSigningBytes(t *testing.T) {
	m := goldenMsg
	m.Sig = []byte{1, 2, 3} // not part of what is signed
	if got := hex.EncodeToString(m.SigningBytes(goldenRoom.ID)); got != goldenSigningBytesHex {
		t.Errorf("signing bytes\n got %s\nwant %s", got, goldenSigningBytesHex)
	}
}

func TestGoldenSignedMessage(t *testing.T) {
	m := goldenSigned(t)
	enc := AppendMessage(nil, m)
	if got := hex.EncodeToString(enc); got != goldenSignedHex {
		t.Errorf("signed message\n got %s\nwant %s", got, goldenSignedHex)
	}
	back, err := ParseMessage(enc)
	if err != nil || !equalMsg(back, m) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if err := back.VerifyAuthor(goldenRoom.ID); err != nil {
		t.Errorf("VerifyAuthor after a round trip: %v", err)
	}
}

func TestVerifyAuthorRejects(t *testing.T) {
	good := goldenSigned(t)
	if err := good.VerifyAuthor(goldenRoom.ID); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	otherKey, other := testKey(t)
	mutate := map[string]func(m *Message) ID{
		"tampered text":    func(m *Message) ID { m.Text += "!"; return goldenRoom.ID },
		"tampered lamport": func(m *Message) ID { m.Lamport++; return goldenRoom.ID },
		"tampered clock":   func(m *Message) ID { m.Clock = m.Clock.Add(1); return goldenRoom.ID },
		"tampered id":      func(m *Message) ID { m.ID[0] ^= 1; return goldenRoom.ID },
		"other room":       func(m *Message) ID { return ID{1} },
		"other author":     func(m *Message) ID { m.Author = other; return goldenRoom.ID },
		"missing sig":      func(m *Message) ID { m.Sig = nil; return goldenRoom.ID },
		"empty sig":        func(m *Message) ID { m.Sig = []byte{}; return goldenRoom.ID },
		"truncated sig":    func(m *Message) ID { m.Sig = m.Sig[:63]; return goldenRoom.ID },
		"flipped sig":      func(m *Message) ID { m.Sig[10] ^= 1; return goldenRoom.ID },
		"author without key": func(m *Message) ID {
			m.Author = peer.ID("\x12\x20" + strings.Repeat("x", 32)) // a sha2-256 multihash: no key inside
			return goldenRoom.ID
		},
		"garbage author": func(m *Message) ID { m.Author = "garbage"; return goldenRoom.ID },
		"signed by another key": func(m *Message) ID {
			sig, err := otherKey.Sign(m.SigningBytes(goldenRoom.ID))
			if err != nil {
				t.Fatal(err)
			}
			m.Sig = sig
			return goldenRoom.ID
		},
	}
	for name, f := range mutate {
		m := good
		m.Sig = append([]byte(nil), good.Sig...)
		room := f(&m)
		if err := m.VerifyAuthor(room); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

func TestSignMessageRefuses(t *testing.T) {
	k, _ := goldenKey(t)
	m := goldenMsg // its author is not k's peer ID
	if err := SignMessage(&m, goldenRoom.ID, k); err == nil || m.Sig != nil {
		t.Errorf("signed for another author: %v", err)
	}
	if err := SignMessage(&m, goldenRoom.ID, nil); err == nil {
		t.Error("signed without a key")
	}
}
