package room

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// Limits enforced on every message, sent or received.
const (
	MaxEnvelope  = 64 << 10 // bytes of one envelope, the pubsub message data
	MaxText      = 32 << 10 // bytes of message text
	MaxAuthorLen = 128      // bytes of the author's binary peer ID
	MaxSig       = 128      // bytes of the author's signature (Ed25519: 64)
	NonceSize    = chacha20poly1305.NonceSizeX
	// MaxLamport bounds a message's Lamport counter, far below the 2^63 an archive's
	// signed integer holds, so a counter stored and relayed later still verifies, and
	// nobody can push a room's counters to where they stop advancing.
	MaxLamport = 1 << 62
)

// adPrefix starts the AEAD additional data; room ID and epoch follow.
const adPrefix = "parley/room/1"

// Errors callers branch on. Decoding failures wrap ErrMalformed.
var (
	ErrMalformed = wire.ErrMalformed
	ErrTooLarge  = errors.New("room message too large")
	ErrEpoch     = errors.New("room message sealed under another epoch")
	ErrDecrypt   = errors.New("room message does not decrypt under the room key")
)

// MessageID identifies a room message. It is random, chosen by the author.
type MessageID [16]byte

// String returns the ID in lowercase hex: the message's ID in the archive and the API.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// Message is one room message, the plaintext of an envelope.
type Message struct {
	ID      MessageID
	Author  peer.ID
	Clock   time.Time // the author's clock when sending
	Lamport uint64
	Text    string
	Sig     []byte // the author's signature over SigningBytes; nil until signed
}

// Compare orders messages the same way on every member: by Lamport counter, author clock,
// author ID, then message ID.
func Compare(a, b Message) int {
	return cmp.Or(
		cmp.Compare(a.Lamport, b.Lamport),
		a.Clock.Compare(b.Clock),
		cmp.Compare(a.Author, b.Author),
		bytes.Compare(a.ID[:], b.ID[:]),
	)
}

// Validate checks m against the protocol's limits.
func (m Message) Validate() error {
	switch {
	case m.Author == "" || len(m.Author) > MaxAuthorLen:
		return fmt.Errorf("author is %d bytes; want 1..%d", len(m.Author), MaxAuthorLen)
	case len(m.Text) > MaxText:
		return fmt.Errorf("%w: text is %d bytes; at most %d are allowed", ErrTooLarge, len(m.Text), MaxText)
	case !utf8.ValidString(m.Text):
		return errors.New("text is not valid UTF-8")
	case len(m.Sig) > MaxSig:
		return fmt.Errorf("signature is %d bytes; at most %d are allowed", len(m.Sig), MaxSig)
	case m.Lamport > MaxLamport:
		return fmt.Errorf("the Lamport counter %d is above the limit of %d", m.Lamport, uint64(MaxLamport))
	}
	return nil
}

// Envelope is what goes on the topic: a sealed message and the epoch of its key.
type Envelope struct {
	Epoch      uint64
	Nonce      [NonceSize]byte
	Ciphertext []byte
}

// AppendMessage appends m's protobuf encoding to b. A nil Sig is not written.
func AppendMessage(b []byte, m Message) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, m.ID[:])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, string(m.Author))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.Clock.UnixNano()))
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, m.Lamport)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, m.Text)
	if m.Sig != nil {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Sig)
	}
	return b
}

// ParseMessage decodes and validates a message's plaintext.
func ParseMessage(p []byte) (Message, error) {
	if len(p) > MaxEnvelope {
		return Message{}, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(p))
	}
	var m Message
	var seen uint8
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			if len(b) != len(m.ID) {
				return fmt.Errorf("%w: message id of %d bytes", ErrMalformed, len(b))
			}
			copy(m.ID[:], b)
		case 2:
			m.Author = peer.ID(b)
		case 3:
			m.Clock = time.Unix(0, int64(v)).UTC()
		case 4:
			m.Lamport = v
		case 5:
			m.Text = string(b)
		case 6:
			if b == nil {
				return fmt.Errorf("%w: signature is not a bytes field", ErrMalformed)
			}
			m.Sig = bytes.Clone(b)
		default:
			return nil
		}
		seen |= 1 << num
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	if seen&0b1110 != 0b1110 {
		return Message{}, fmt.Errorf("%w: message lacks id, author or clock", ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// AppendEnvelope appends e's protobuf encoding to b.
func AppendEnvelope(b []byte, e Envelope) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, e.Epoch)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, e.Nonce[:])
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, e.Ciphertext)
}

// ParseEnvelope decodes an envelope, refusing more than MaxEnvelope bytes before decoding.
// Ciphertext aliases p.
func ParseEnvelope(p []byte) (Envelope, error) {
	if len(p) > MaxEnvelope {
		return Envelope{}, fmt.Errorf("%w: envelope of %d bytes; at most %d", ErrTooLarge, len(p), MaxEnvelope)
	}
	var e Envelope
	var sawEpoch, sawNonce, sawCT bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			e.Epoch, sawEpoch = v, true
		case 2:
			if len(b) != NonceSize {
				return fmt.Errorf("%w: nonce of %d bytes", ErrMalformed, len(b))
			}
			copy(e.Nonce[:], b)
			sawNonce = true
		case 3:
			e.Ciphertext, sawCT = b, true
		}
		return nil
	})
	if err != nil {
		return Envelope{}, err
	}
	if !sawEpoch || !sawNonce || !sawCT || e.Epoch == 0 || len(e.Ciphertext) < chacha20poly1305.Overhead {
		return Envelope{}, fmt.Errorf("%w: envelope lacks epoch, nonce or ciphertext", ErrMalformed)
	}
	return e, nil
}

// Seal encrypts m under the room's current key with a random nonce and returns the
// envelope to publish on the room's topic.
func (r Room) Seal(m Message) ([]byte, error) {
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("room: random nonce: %w", err)
	}
	return r.seal(m, nonce)
}

// seal is Seal with a chosen nonce, for golden bytes. A nonce must never repeat under a key.
func (r Room) seal(m Message, nonce [NonceSize]byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("room: %w", err)
	}
	aead, err := chacha20poly1305.NewX(r.Key[:])
	if err != nil {
		return nil, err
	}
	e := Envelope{Epoch: r.Epoch, Nonce: nonce}
	e.Ciphertext = aead.Seal(nil, nonce[:], AppendMessage(nil, m), r.ad(r.Epoch))
	env := AppendEnvelope(nil, e)
	if len(env) > MaxEnvelope {
		return nil, fmt.Errorf("room: %w: sealed message of %d bytes; at most %d", ErrTooLarge, len(env), MaxEnvelope)
	}
	return env, nil
}

// Open decodes an envelope and decrypts it under the room's current key and epoch.
func (r Room) Open(env []byte) (Message, error) {
	e, err := ParseEnvelope(env)
	if err != nil {
		return Message{}, err
	}
	if e.Epoch != r.Epoch {
		return Message{}, fmt.Errorf("%w: epoch %d, the room is at %d", ErrEpoch, e.Epoch, r.Epoch)
	}
	aead, err := chacha20poly1305.NewX(r.Key[:])
	if err != nil {
		return Message{}, err
	}
	plain, err := aead.Open(nil, e.Nonce[:], e.Ciphertext, r.ad(e.Epoch))
	if err != nil {
		return Message{}, ErrDecrypt
	}
	return ParseMessage(plain)
}

func (r Room) ad(epoch uint64) []byte {
	ad := make([]byte, 0, len(adPrefix)+len(r.ID)+8)
	ad = append(ad, adPrefix...)
	ad = append(ad, r.ID[:]...)
	return binary.BigEndian.AppendUint64(ad, epoch)
}
