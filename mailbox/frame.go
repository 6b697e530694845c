package mailbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameReader reads this protocol's frames: a uvarint length, a type byte, a payload.
// The length is checked against the cap for the type before the payload is allocated,
// and frames are at most MaxAnswerFrame (about 1 MiB), so a peer claiming more costs
// nothing.
//
// It has the shape of internal/wire's shared Reader (ReadTyped with a cap per type), so
// that this file can be replaced by wire.StreamReader once that lands in main (it also
// reserves each frame's memory with the stream's resource scope).
type frameReader struct {
	br  *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 4<<10)}
}

// ReadTyped reads one frame; max(t) caps its body (type byte included), 0 refuses t.
// io.EOF only between frames. The payload is valid until the next call.
func (r *frameReader) ReadTyped(max func(t byte) int) (byte, []byte, error) {
	n, err := binary.ReadUvarint(r.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("read frame length: %w", err)
	}
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	t, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: stream ended before the frame type: %v", ErrMalformed, err)
	}
	if limit := max(t); n > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: frame type 0x%02x of %d bytes; at most %d", ErrMalformed, t, n, limit)
	}
	if cap(r.buf) < int(n-1) || cap(r.buf) > 2*int(n-1)+4<<10 {
		r.buf = make([]byte, n-1)
	}
	r.buf = r.buf[:n-1]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return 0, nil, fmt.Errorf("%w: stream ended inside a frame: %v", ErrMalformed, err)
	}
	return t, r.buf, nil
}
