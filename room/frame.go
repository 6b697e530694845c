package room

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
// Other read errors (deadlines, resets) pass through wrapped.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	if max < 0 || n > uint64(max) {
		return nil, fmt.Errorf("%w: frame of %d bytes; at most %d", ErrTooLarge, n, max)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, truncated(err)
	}
	return p, nil
}

// readLength reads a frame's uvarint length.
func readLength(r *bufio.Reader) (uint64, error) {
	var n uint64
	for i := range binary.MaxVarintLen64 {
		c, err := r.ReadByte()
		switch {
		case err == io.EOF && i == 0:
			return 0, io.EOF
		case err != nil:
			return 0, truncated(err)
		case i == binary.MaxVarintLen64-1 && c > 1:
			return 0, fmt.Errorf("%w: frame length overflows 64 bits", ErrMalformed)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: frame length overflows 64 bits", ErrMalformed)
}

// truncated maps the end of the stream inside a frame to ErrMalformed.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w: the stream ended inside a frame", ErrMalformed, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("read frame: %w", err)
}
