package mailbox

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// The HPKE suite of every envelope (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20-Poly1305, base mode.
var (
	suiteKEM  = hpke.DHKEM(ecdh.X25519())
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.ChaCha20Poly1305()
)

// Domain-separation labels: each signature and derivation names what it is for.
const (
	labelKeyDerive = "parley/mailbox/key-derive/v1\x00"
	labelKeyBind   = "parley/mailbox/key-binding/v1\x00"
	labelLetter    = "parley/mailbox/letter/v1\x00"
	labelInfo      = "parley/mailbox/envelope/v1\x00"
	labelRoom      = "parley/mailbox/room-fetch/v1\x00"
)

// envelopeVersion is the first byte of every sealed envelope.
const envelopeVersion = 1

// Limits of a letter (the plaintext inside an envelope).
const (
	MaxLetterID = 64
	// MaxBody is the most a letter's body may hold so that its envelope fits MaxEnvelope.
	MaxBody = MaxEnvelope - 1024
)

// Errors of opening an envelope; all of them mean "drop it and log it".
var (
	ErrNotForMe = errors.New("the envelope is not sealed to this node's mailbox key")
	ErrForged   = errors.New("the letter's author signature does not verify")
	ErrReplayed = errors.New("the letter names another recipient: it was re-sealed to us by someone else")
)

// Key is a node's mailbox key: an X25519 key derived from its Ed25519 identity.
type Key struct {
	priv    hpke.PrivateKey
	pub     []byte // the X25519 public key, 32 bytes
	self    peer.ID
	binding KeyBinding
}

// DeriveKey derives the node's mailbox key from its identity key, deterministically
// (so nothing new is stored: the same identity always has the same mailbox key), and
// signs the public half with the identity key (the KeyBinding its profile publishes).
func DeriveKey(identity lcrypto.PrivKey) (*Key, error) {
	if identity.Type() != lcrypto.Ed25519 {
		return nil, fmt.Errorf("mailbox key: the identity key is %v, want Ed25519", identity.Type())
	}
	raw, err := identity.Raw()
	if err != nil {
		return nil, fmt.Errorf("mailbox key: read the identity key: %w", err)
	}
	ikm := sha512.Sum512(append([]byte(labelKeyDerive), raw...))
	priv, err := suiteKEM.DeriveKeyPair(ikm[:32])
	if err != nil {
		return nil, fmt.Errorf("mailbox key: derive: %w", err)
	}
	self, err := peer.IDFromPrivateKey(identity)
	if err != nil {
		return nil, fmt.Errorf("mailbox key: peer id: %w", err)
	}
	k := &Key{priv: priv, pub: priv.PublicKey().Bytes(), self: self}
	sig, err := identity.Sign(bindingMessage(self, k.pub))
	if err != nil {
		return nil, fmt.Errorf("mailbox key: sign the binding: %w", err)
	}
	k.binding = KeyBinding{Public: k.pub, Signature: sig}
	return k, nil
}

// Binding is the signed public half, for the node's profile.
func (k *Key) Binding() KeyBinding { return k.binding }

// KeyBinding is a mailbox public key signed by the identity key of the peer it belongs
// to. Anyone holding the peer's ID can check it (the peer ID embeds the Ed25519 key).
type KeyBinding struct {
	Public    []byte // X25519, 32 bytes
	Signature []byte // by the peer's identity key over labelKeyBind, peer ID, KEM id, Public
}

func bindingMessage(p peer.ID, pub []byte) []byte {
	m := append([]byte(labelKeyBind), p...)
	m = binary.BigEndian.AppendUint16(m, suiteKEM.ID())
	return append(m, pub...)
}

// Marshal encodes b (field 1 KEM id, 2 public key, 3 signature).
func (b KeyBinding) Marshal() []byte {
	p := appendVarint(nil, 1, uint64(suiteKEM.ID()))
	p = appendBytes(p, 2, b.Public)
	return appendBytes(p, 3, b.Signature)
}

// ParseKeyBinding decodes a KeyBinding; it does not verify it (Verify does).
func ParseKeyBinding(p []byte) (KeyBinding, error) {
	var b KeyBinding
	var kem uint64
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, f []byte) error {
		switch num {
		case 1:
			kem = v
		case 2:
			b.Public = f
		case 3:
			b.Signature = f
		}
		return nil
	})
	switch {
	case err != nil:
		return b, err
	case kem != uint64(suiteKEM.ID()):
		return b, fmt.Errorf("%w: mailbox key of KEM %d; this node knows only X25519 (%d)", ErrMalformed, kem, suiteKEM.ID())
	case len(b.Public) != 32 || len(b.Signature) == 0 || len(b.Signature) > 128:
		return b, fmt.Errorf("%w: mailbox key binding sizes (%d, %d)", ErrMalformed, len(b.Public), len(b.Signature))
	}
	return b, nil
}

// Verify checks that b was signed by owner's identity key.
func (b KeyBinding) Verify(owner peer.ID) error {
	pk, err := owner.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("mailbox key binding: peer id %s holds no public key: %w", owner, err)
	}
	ok, err := pk.Verify(bindingMessage(owner, b.Public), b.Signature)
	if err != nil || !ok {
		return fmt.Errorf("mailbox key binding: not signed by %s: %w", owner, ErrForged)
	}
	return nil
}

// Letter is what an envelope carries, readable only by its recipient.
type Letter struct {
	Author    peer.ID   // who wrote and signed it (verified by Open)
	To        peer.ID   // the recipient it was sealed to (checked by Open)
	ID        string    // the author's message ID, 1..MaxLetterID bytes
	CreatedAt time.Time // the author's clock
	Body      []byte    // what the node carries: a DM MESSAGE or READ frame (node/dm)
}

func (l Letter) tbs() []byte {
	p := appendBytes(nil, 1, []byte(l.Author))
	p = appendBytes(p, 2, []byte(l.To))
	p = appendBytes(p, 3, []byte(l.ID))
	p = appendTime(p, 4, l.CreatedAt)
	return appendBytes(p, 5, l.Body)
}

func envelopeInfo(to peer.ID) []byte { return append([]byte(labelInfo), to...) }

// Seal signs l with the author's identity key (l.Author is set from it) and seals it to
// l.To's mailbox key, which must be the binding l.To published (it is verified here).
func Seal(author lcrypto.PrivKey, l Letter, toKey KeyBinding) ([]byte, error) {
	var err error
	if l.Author, err = peer.IDFromPrivateKey(author); err != nil {
		return nil, fmt.Errorf("seal: author's peer id: %w", err)
	}
	if l.ID == "" || len(l.ID) > MaxLetterID || len(l.Body) > MaxBody {
		return nil, fmt.Errorf("seal: id of %d bytes (want 1..%d), body of %d (at most %d)", len(l.ID), MaxLetterID, len(l.Body), MaxBody)
	}
	if err := toKey.Verify(l.To); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	tbs := l.tbs()
	sig, err := author.Sign(append([]byte(labelLetter), tbs...))
	if err != nil {
		return nil, fmt.Errorf("seal: sign: %w", err)
	}
	inner := appendBytes(nil, 1, tbs)
	inner = appendBytes(inner, 2, sig)
	pk, err := suiteKEM.NewPublicKey(toKey.Public)
	if err != nil {
		return nil, fmt.Errorf("seal: recipient's mailbox key: %w", err)
	}
	ct, err := hpkeSeal(pk, envelopeInfo(l.To), inner)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return append([]byte{envelopeVersion}, ct...), nil
}

func hpkeSeal(pk hpke.PublicKey, info, plaintext []byte) ([]byte, error) {
	return hpke.Seal(pk, suiteKDF, suiteAEAD, info, plaintext)
}

// Open opens an envelope sealed to k, checks the author's signature and that the letter
// was written for this node. Every failure means the envelope must be dropped.
func (k *Key) Open(envelope []byte) (Letter, error) {
	var l Letter
	if len(envelope) < 1+32+16 || len(envelope) > MaxEnvelope || envelope[0] != envelopeVersion {
		return l, fmt.Errorf("%w: envelope of %d bytes or unknown version", ErrMalformed, len(envelope))
	}
	inner, err := hpke.Open(k.priv, suiteKDF, suiteAEAD, envelopeInfo(k.self), envelope[1:])
	if err != nil {
		return l, ErrNotForMe
	}
	var tbs, sig []byte
	err = wire.WalkFields(inner, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			tbs = b
		case 2:
			sig = b
		}
		return nil
	})
	if err != nil {
		return l, err
	}
	if l, err = decodeLetter(tbs); err != nil {
		return l, err
	}
	pk, err := l.Author.ExtractPublicKey()
	if err != nil {
		return l, fmt.Errorf("%w: author %s: %v", ErrForged, l.Author, err)
	}
	if ok, err := pk.Verify(append([]byte(labelLetter), tbs...), sig); err != nil || !ok {
		return l, ErrForged
	}
	if l.To != k.self {
		return l, fmt.Errorf("%w (%s)", ErrReplayed, l.To)
	}
	return l, nil
}

func decodeLetter(p []byte) (Letter, error) {
	var l Letter
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			l.Author = peer.ID(b)
		case 2:
			l.To = peer.ID(b)
		case 3:
			l.ID = string(b)
		case 4:
			l.CreatedAt = decodeTime(v)
		case 5:
			l.Body = bytes.Clone(b)
		}
		return nil
	})
	switch {
	case err != nil:
		return l, err
	case l.Author.Validate() != nil || l.To.Validate() != nil:
		return l, fmt.Errorf("%w: letter without an author or a recipient", ErrMalformed)
	case l.ID == "" || len(l.ID) > MaxLetterID:
		return l, fmt.Errorf("%w: letter id of %d bytes", ErrMalformed, len(l.ID))
	}
	return l, nil
}

// RoomSecret is the fetch secret of a room's mail for one key epoch: members derive it
// from the room key (so only holders of the key can deposit or fetch), the mailbox keeps
// only its SHA-256 beside each envelope.
func RoomSecret(roomKey, roomID []byte, epoch uint64) []byte {
	info := append([]byte(labelRoom), roomID...)
	info = binary.BigEndian.AppendUint64(info, epoch)
	s, err := hkdf.Key(sha256.New, roomKey, nil, string(info), 32)
	if err != nil {
		panic(err) // only for lengths over 255*32
	}
	return s
}
