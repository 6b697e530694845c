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
func maxFrame(t FrameType) uint64 {
	switch t {
	case TypeOffer:
		return MaxOfferFrame
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
// errors (a reset stream, a deadline) are returned as they are, wrapped.
func ReadFrame(r *bufio.Reader) (FrameType, []byte, error) {
	n, err := readUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	tb, err := r.ReadByte()
	if err != nil {
		return 0, nil, readError("type", err)
	}
	t := FrameType(tb)
	if limit := maxFrame(t); n > limit {
		return 0, nil, fmt.Errorf("%w: frame type 0x%02x of %d bytes (limit %d)", ErrMalformed, tb, n, limit)
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, readError("body", err)
	}
	return t, payload, nil
}

// readUvarint reads a frame length: io.EOF before its first byte, ErrMalformed for a
// length cut short or over 64 bits.
func readUvarint(r *bufio.Reader) (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err == io.EOF && i == 0 {
			return 0, io.EOF
		}
		if err != nil {
			return 0, readError("length", err)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			break
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: length overflows 64 bits", ErrMalformed)
}

// readError tells a frame cut short (ErrMalformed) from a failed read.
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
