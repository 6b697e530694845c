package transfer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// ProtocolID names this protocol and its version on libp2p streams.
const ProtocolID = "/parley/file/1.0.0"

// Frame size caps, checked against the length prefix before anything is allocated.
const (
	MaxOfferFrame = 16 << 20 // OFFER: the manifest with every chunk hash
	MaxSmallFrame = 4 << 10  // every other frame
	MaxReason     = 1024     // bytes of a human-readable reason
)

// FrameType is the first byte of a frame body.
type FrameType byte

// Frame types.
const (
	TypeOffer  FrameType = 0x01
	TypeAnswer FrameType = 0x02
	TypeGet    FrameType = 0x03
	TypeChunk  FrameType = 0x04
	TypeDone   FrameType = 0x05
	TypeCancel FrameType = 0x06
	TypeAck    FrameType = 0x07
	TypeError  FrameType = 0x08
)

// ErrMalformed wraps every decoding failure of a peer's frame.
var ErrMalformed = wire.ErrMalformed

// maxFrame is the cap on the body length of a frame of type t; 0 for unknown types.
func maxFrame(t FrameType) uint64 { return uint64(frameCap(t, MaxOfferFrame)) }

// frameCap is the cap on the body length of a frame of type t, with OFFERs capped at
// maxOffer; 0 for unknown types.
func frameCap(t FrameType, maxOffer int) int {
	switch t {
	case TypeOffer:
		return maxOffer
	case TypeAnswer, TypeGet, TypeChunk, TypeDone, TypeCancel, TypeAck, TypeError:
		return MaxSmallFrame
	}
	return 0
}

func appendFrame(b []byte, t FrameType, payload []byte) []byte {
	b = binary.AppendUvarint(b, uint64(1+len(payload)))
	b = append(b, byte(t))
	return append(b, payload...)
}

// ReadFrame reads one frame from r: its type and payload. The length is checked against
// the cap of the frame's type before the body is allocated. It returns io.EOF only at a
// clean frame boundary; a frame cut short or badly encoded is ErrMalformed; other read
// errors (a reset stream, a deadline) are returned as they are, wrapped. It reserves
// nothing: streams read through ReadFrameFrom.
func ReadFrame(r *bufio.Reader) (FrameType, []byte, error) {
	return ReadFrameFrom(wire.NewReader(r, wire.Config{}), MaxOfferFrame)
}

// ReadFrameFrom reads one frame from fr, which pays for it (see package wire): an OFFER
// of at most maxOffer bytes (0 refuses offers), any other frame of at most
// MaxSmallFrame. The payload is valid until fr's next read or Release.
func ReadFrameFrom(fr *wire.Reader, maxOffer int) (FrameType, []byte, error) {
	t, p, err := fr.ReadTyped(func(t byte) int { return frameCap(FrameType(t), maxOffer) })
	return FrameType(t), p, err
}

// readError tells a frame cut short (ErrMalformed) from a failed read, as wire.Reader
// does, for code that reads past a frame without allocating it.
func readError(part string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, part, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("read frame %s: %w", part, err)
}

func appendBytesField(p []byte, num protowire.Number, b []byte) []byte {
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendBytes(p, b)
}

func appendVarintField(p []byte, num protowire.Number, v uint64) []byte {
	p = protowire.AppendTag(p, num, protowire.VarintType)
	return protowire.AppendVarint(p, v)
}
