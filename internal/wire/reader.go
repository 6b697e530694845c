package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Every Parley protocol frames its messages the same way: an unsigned varint length, then
// that many bytes of body. Reader is the one reader of such frames, and it pays for a
// frame before allocating it:
//
//   - the length is checked against the caller's cap before anything is allocated;
//   - the body is allocated as its bytes arrive (from 4 KiB, doubling), never the whole
//     claimed length up front, so a peer that claims 16 MiB and sends 10 bytes costs
//     about 4 KiB;
//   - each step of that growth is reserved with the stream's resource-manager scope
//     first; a refused reservation refuses the frame (ErrNoMemory);
//   - a frame over SmallFrame is a large read: it needs a place in the Budget (a few
//     per peer, a byte total overall), refused at once when there is none (ErrBusy);
//   - a large frame is read under a progress deadline instead of one for the whole
//     frame: every progress window (DefaultProgress, 10 s) must bring at least
//     DefaultMinProgress bytes (or the rest of the frame), so a big frame over a slow
//     honest link arrives, while a peer that stops sending mid-frame, or trickles, is
//     cut within a window. The wait for a frame's first byte, and the whole of a small
//     frame, stay under the deadline the caller set on the stream. A progress deadline
//     replaces that deadline, so a caller with a total time limit also gives it as
//     Config.Until, which no progress deadline passes.
//
// A frame's memory stays reserved until the caller is done with it: until the next
// read on the Reader, or Release.

// SmallFrame is the largest frame read without a Budget place and under the caller's
// own deadline.
const SmallFrame = 64 << 10

// DefaultProgress is the progress window of a large frame, and DefaultMinProgress what
// each window must bring: a floor of about 100 kbit/s, at which a 16 MiB frame takes
// 21 minutes. A peer that sends slower is cut.
const (
	DefaultProgress    = 10 * time.Second
	DefaultMinProgress = 128 << 10
)

// initialAlloc is the first allocation for a frame's body.
const initialAlloc = 4 << 10

// Errors of a frame that was refused rather than malformed.
var (
	// ErrTooLarge: the length is over the caller's cap. Errors that wrap it also wrap
	// ErrMalformed.
	ErrTooLarge = errors.New("frame too large")
	// ErrNoMemory: the stream's resource-manager scope refused the frame's memory.
	ErrNoMemory = errors.New("no memory for the frame")
	// ErrBusy: the Budget has no place for another large read from this peer, or
	// overall.
	ErrBusy = errors.New("too many large frames in flight")
)

// Scope is what the Reader reserves frames' memory with: a libp2p stream's scope.
type Scope interface {
	ReserveMemory(size int, prio uint8) error
	ReleaseMemory(size int)
}

// Config says what a Reader pays with. Its zero value reserves nothing and sets no
// deadlines: what unit tests and decoders of bytes in hand use.
type Config struct {
	Scope    Scope                 // reserves each frame's memory; nil: nothing reserved
	Deadline func(time.Time) error // sets the stream's read deadline; nil: no progress deadline
	Budget   *Budget               // places for large reads; nil: no bound
	Peer     string                // whose places in Budget this stream uses
	Progress time.Duration         // the progress window; 0: DefaultProgress
	// MinProgress is the bytes each progress window must bring; 0: DefaultMinProgress.
	MinProgress int
	// Until is the caller's hard deadline for the whole exchange: a progress deadline
	// never goes past it (zero: none). A caller with a total time limit sets it, since
	// a large frame's progress deadline replaces the one it set on the stream.
	Until time.Time
	// Now is the clock the progress deadline is reckoned by; nil: time.Now. Tests set it.
	Now func() time.Time
}

// StreamConfig is the Config of a libp2p stream: its scope, its read deadline and its
// remote peer, with places for large reads taken from b (which may be nil).
func StreamConfig(s network.Stream, b *Budget) Config {
	return Config{Scope: s.Scope(), Deadline: s.SetReadDeadline, Budget: b, Peer: string(s.Conn().RemotePeer())}
}

// Reader reads frames from one stream. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	cfg Config

	reserved int  // bytes of the current frame reserved with cfg.Scope
	budgeted int  // bytes of the current frame counted in cfg.Budget
	large    bool // the current frame holds a place in cfg.Budget
}

// NewReader reads frames from r, which it buffers unless r is a *bufio.Reader already
// (then other bytes on the stream, such as raw chunk data, can be read from it between
// frames).
func NewReader(r io.Reader, c Config) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if c.Progress <= 0 {
		c.Progress = DefaultProgress
	}
	if c.MinProgress <= 0 {
		c.MinProgress = DefaultMinProgress
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Reader{br: br, cfg: c}
}

// StreamReader is NewReader(s, StreamConfig(s, b)) with a buffer of size bytes.
func StreamReader(s network.Stream, b *Budget, size int) *Reader {
	return NewReader(bufio.NewReaderSize(s, size), StreamConfig(s, b))
}

// StreamReaderUntil is StreamReader whose large frames end by until (Config.Until): for
// an exchange with a total time limit.
func StreamReaderUntil(s network.Stream, b *Budget, size int, until time.Time) *Reader {
	c := StreamConfig(s, b)
	c.Until = until
	return NewReader(bufio.NewReaderSize(s, size), c)
}

// Raw is the buffered stream under r, for bytes a protocol sends outside frames (the
// file protocol's chunk data, into a buffer the reader sized itself).
func (r *Reader) Raw() *bufio.Reader { return r.br }

// Read reads one frame's body of at most max bytes. It returns io.EOF only when the
// stream ends between frames. A length over max is ErrTooLarge, a bad length or a stream
// that ends inside the frame ErrMalformed; ErrNoMemory and ErrBusy refuse a frame; other
// read errors (a deadline, a reset) pass through wrapped. The body is valid until the
// next read or Release.
func (r *Reader) Read(max int) ([]byte, error) {
	r.Release()
	n, err := readLength(r.br)
	if err != nil {
		return nil, err
	}
	if max < 0 || n > uint64(max) {
		return nil, tooLarge(n, max)
	}
	return r.body(int(n))
}

// ReadTyped reads a frame whose body starts with a type byte, as the DM and file
// protocols frame theirs: max(t) caps the body's length, type byte included, before the
// rest is allocated (0 refuses type t). An empty frame is ErrMalformed. It returns the
// type and the payload after it; errors as for Read.
func (r *Reader) ReadTyped(max func(t byte) int) (byte, []byte, error) {
	r.Release()
	n, err := readLength(r.br)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	t, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, truncated("type", err)
	}
	if limit := max(t); n > uint64(limit) {
		return 0, nil, fmt.Errorf("frame type 0x%02x: %w", t, tooLarge(n, limit))
	}
	p, err := r.body(int(n - 1))
	return t, p, err
}

// Release gives back the current frame's memory and Budget place. The body returned
// last must not be used after it. It is safe to call more than once.
func (r *Reader) Release() {
	if r.reserved > 0 && r.cfg.Scope != nil {
		r.cfg.Scope.ReleaseMemory(r.reserved)
	}
	if r.large {
		r.cfg.Budget.done(r.cfg.Peer, r.budgeted)
	}
	r.reserved, r.budgeted, r.large = 0, 0, false
}

// body reads n bytes, paying for them as they arrive.
func (r *Reader) body(n int) ([]byte, error) {
	if n > SmallFrame {
		if !r.cfg.Budget.start(r.cfg.Peer) {
			return nil, fmt.Errorf("%w: a frame of %d bytes (from this peer, or overall); try again later", ErrBusy, n)
		}
		r.large = true
	}
	var buf []byte
	window := r.cfg.MinProgress // bytes read in this progress window; full: start one
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown, err := r.grow(buf, n)
			if err != nil {
				r.Release()
				return nil, err
			}
			buf = grown
		}
		if r.large && r.cfg.Deadline != nil && window >= r.cfg.MinProgress {
			r.cfg.Deadline(r.progressDeadline())
			window = 0
		}
		k, err := r.br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		window += k
		if err != nil && len(buf) < n {
			r.Release()
			return nil, truncated("body", err)
		}
	}
	if buf == nil {
		buf = []byte{}
	}
	return buf, nil
}

// progressDeadline is the end of a progress window starting now, or the caller's hard
// deadline if that comes first.
func (r *Reader) progressDeadline() time.Time {
	d := r.cfg.Now().Add(r.cfg.Progress)
	if !r.cfg.Until.IsZero() && r.cfg.Until.Before(d) {
		return r.cfg.Until
	}
	return d
}

// grow doubles buf's capacity (from initialAlloc, at most n), after reserving the bytes
// it adds with the scope and the budget.
func (r *Reader) grow(buf []byte, n int) ([]byte, error) {
	size := min(n, max(initialAlloc, 2*cap(buf)))
	add := size - cap(buf)
	if r.cfg.Scope != nil {
		if err := r.cfg.Scope.ReserveMemory(add, network.ReservationPriorityAlways); err != nil {
			return nil, fmt.Errorf("%w: %d more bytes for a frame of %d: %w", ErrNoMemory, add, n, err)
		}
		r.reserved += add
	}
	if r.large {
		if !r.cfg.Budget.add(add) {
			return nil, fmt.Errorf("%w: no room for %d more bytes of large frames overall; try again later", ErrBusy, add)
		}
		r.budgeted += add
	}
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	return grown, nil
}

// readLength reads a frame's uvarint length: io.EOF before its first byte, ErrMalformed
// for a length cut short or over 64 bits.
func readLength(r *bufio.Reader) (uint64, error) {
	var n uint64
	for i := range binary.MaxVarintLen64 {
		c, err := r.ReadByte()
		switch {
		case err == io.EOF && i == 0:
			return 0, io.EOF
		case err != nil:
			return 0, truncated("length", err)
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

func tooLarge(n uint64, max int) error {
	return fmt.Errorf("%w: %w: %d bytes, at most %d", ErrMalformed, ErrTooLarge, n, max)
}

// truncated maps the end of the stream inside a frame to ErrMalformed; other errors
// (deadlines, resets) pass through, wrapped.
func truncated(part string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w: the stream ended inside a frame's %s", ErrMalformed, io.ErrUnexpectedEOF, part)
	}
	return fmt.Errorf("read frame %s: %w", part, err)
}
