package dm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// ProtocolID names this protocol and its version on libp2p streams.
const ProtocolID = "/parley/dm/1.0.0"

// Limits enforced on every frame, sent or received.
const (
	MaxFrame   = 64 << 10 // bytes in one frame body
	MaxText    = 32 << 10 // bytes of message text
	MaxIDLen   = 64       // bytes of message ID
	MaxNameLen = 64       // bytes of display name
)

// FrameType is the first byte of a frame body.
type FrameType byte

// Frame types.
const (
	TypeMessage FrameType = 0x01
	TypeAck     FrameType = 0x02
	TypeRead    FrameType = 0x03
)

// MaxReadIDs caps the message IDs in one READ frame.
const MaxReadIDs = 512

// AckStatus says what the recipient did with a message.
type AckStatus uint8

// Ack statuses.
const (
	AckStored    AckStatus = 0
	AckDuplicate AckStatus = 1
	AckRejected  AckStatus = 2
)

// ErrMalformed wraps every decoding failure of a peer's frame.
var ErrMalformed = wire.ErrMalformed

// Message is the payload of a MESSAGE frame.
type Message struct {
	ID       string
	SentAt   time.Time
	Text     string
	FromName string
}

// Ack is the payload of an ACK frame.
type Ack struct {
	ID     string
	Status AckStatus
	Reason Reason // why a message was refused (AckRejected); see refusal.go
}

// Read is the payload of a READ frame: the recipient has shown these messages to its user.
type Read struct {
	IDs []string
}

// Validate checks m against the protocol's limits.
func (m Message) Validate() error {
	switch {
	case m.ID == "" || len(m.ID) > MaxIDLen:
		return fmt.Errorf("message id is %d bytes; want 1..%d", len(m.ID), MaxIDLen)
	case len(m.Text) > MaxText:
		return fmt.Errorf("message text is %d bytes; at most %d are allowed", len(m.Text), MaxText)
	case !utf8.ValidString(m.Text):
		return errors.New("message text is not valid UTF-8")
	case len(m.FromName) > MaxNameLen || !utf8.ValidString(m.FromName):
		return errors.New("sender name is too long or not UTF-8")
	}
	return nil
}

// AppendMessage appends m's frame to b.
func AppendMessage(b []byte, m Message) []byte {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.BytesType)
	p = protowire.AppendString(p, m.ID)
	p = protowire.AppendTag(p, 2, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(m.SentAt.UnixNano()))
	p = protowire.AppendTag(p, 3, protowire.BytesType)
	p = protowire.AppendString(p, m.Text)
	if m.FromName != "" {
		p = protowire.AppendTag(p, 4, protowire.BytesType)
		p = protowire.AppendString(p, m.FromName)
	}
	return appendFrame(b, TypeMessage, p)
}

// AppendAck appends a's frame to b.
func AppendAck(b []byte, a Ack) []byte {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.BytesType)
	p = protowire.AppendString(p, a.ID)
	p = protowire.AppendTag(p, 2, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(a.Status))
	if a.Reason != ReasonNone { // an ACK without a reason stays what older nodes send
		p = protowire.AppendTag(p, 3, protowire.VarintType)
		p = protowire.AppendVarint(p, uint64(a.Reason))
	}
	return appendFrame(b, TypeAck, p)
}

// AppendRead appends r's frame to b.
func AppendRead(b []byte, r Read) []byte {
	var p []byte
	for _, id := range r.IDs {
		p = protowire.AppendTag(p, 1, protowire.BytesType)
		p = protowire.AppendString(p, id)
	}
	return appendFrame(b, TypeRead, p)
}

// ParseRead decodes a READ payload.
func ParseRead(p []byte) (Read, error) {
	var r Read
	err := wire.WalkFields(p, func(num protowire.Number, _ uint64, b []byte) error {
		if num != 1 {
			return nil
		}
		if len(b) == 0 || len(b) > MaxIDLen || len(r.IDs) == MaxReadIDs {
			return fmt.Errorf("%w: read id of %d bytes or more than %d ids", ErrMalformed, len(b), MaxReadIDs)
		}
		r.IDs = append(r.IDs, string(b))
		return nil
	})
	if err != nil {
		return Read{}, err
	}
	if len(r.IDs) == 0 {
		return Read{}, fmt.Errorf("%w: read receipt without ids", ErrMalformed)
	}
	return r, nil
}

func appendFrame(b []byte, t FrameType, payload []byte) []byte {
	b = binary.AppendUvarint(b, uint64(1+len(payload)))
	b = append(b, byte(t))
	return append(b, payload...)
}

// ReadFrame reads one frame from r: its type and payload. The length (type byte
// included) is refused over MaxFrame before anything is allocated. It returns io.EOF
// only at a clean frame boundary; a frame cut short or badly encoded is ErrMalformed.
// It reserves nothing: streams read through ReadFrameFrom.
func ReadFrame(r *bufio.Reader) (FrameType, []byte, error) {
	return ReadFrameFrom(wire.NewReader(r, wire.Config{}))
}

// ReadFrameFrom reads one frame from fr, which pays for it (see package wire); the
// payload is valid until fr's next read or Release.
func ReadFrameFrom(fr *wire.Reader) (FrameType, []byte, error) {
	t, p, err := fr.ReadTyped(func(byte) int { return MaxFrame })
	return FrameType(t), p, err
}

// ParseMessage decodes and validates a MESSAGE payload.
func ParseMessage(p []byte) (Message, error) {
	var m Message
	var sawID, sawTime bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			m.ID, sawID = string(b), true
		case 2:
			m.SentAt, sawTime = time.Unix(0, int64(v)).UTC(), true
		case 3:
			m.Text = string(b)
		case 4:
			m.FromName = string(b)
		}
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	if !sawID || !sawTime {
		return Message{}, fmt.Errorf("%w: message lacks id or sent_at", ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// ParseAck decodes an ACK payload.
func ParseAck(p []byte) (Ack, error) {
	var a Ack
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			a.ID = string(b)
		case 2:
			if v > uint64(AckRejected) {
				return fmt.Errorf("%w: ack status %d", ErrMalformed, v)
			}
			a.Status = AckStatus(v)
		case 3:
			a.Reason = reasonOf(v)
		}
		return nil
	})
	if err != nil {
		return Ack{}, err
	}
	if a.ID == "" || len(a.ID) > MaxIDLen {
		return Ack{}, fmt.Errorf("%w: ack id is %d bytes", ErrMalformed, len(a.ID))
	}
	return a, nil
}
