package room

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parley-im/parley/internal/wire"
)

// WriteFrame writes payload as one frame of the invite and sync protocols: its length as
// an unsigned varint, then the payload, in one Write.
func WriteFrame(w io.Writer, payload []byte) error {
	b := make([]byte, 0, binary.MaxVarintLen64+len(payload))
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame written by WriteFrame. A length above max is refused before
// anything is allocated (ErrTooLarge); a bad length or a stream that ends inside a frame
// is ErrMalformed; io.EOF is returned as is only when the stream ends between frames.
// Other read errors (deadlines, resets) pass through wrapped. It reserves nothing:
// streams read through ReadFrameFrom.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	return ReadFrameFrom(wire.NewReader(r, wire.Config{}), max)
}

// ReadFrameFrom reads one frame of at most max bytes from fr, which pays for it (see
// package wire); errors as for ReadFrame. The payload is valid until fr's next read or
// Release.
func ReadFrameFrom(fr *wire.Reader, max int) ([]byte, error) {
	p, err := fr.Read(max)
	if errors.Is(err, wire.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return p, err
}
