package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"lukechampine.com/blake3"

	"github.com/parley-im/parley/internal/wire"
)

// Pull tuning.
const (
	spanBytes      = 8 << 20 // data asked for by one GET: large enough that a round trip is noise
	maxChunkTries  = 3       // a chunk that fails verification this often fails the transfer
	getsInFlight   = 2       // GETs outstanding per data stream
	dataReadBuffer = 64 << 10
)

// peerError is the sender's ERROR frame.
type peerError struct{ ErrorFrame }

func (e *peerError) Error() string { return "the sender refused: " + e.Reason }

// fatalError marks a failure that retrying cannot fix.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// isFatal reports whether err ends the transfer (failed) rather than pausing it.
func isFatal(err error) bool {
	var fe fatalError
	if errors.As(err, &fe) {
		return true
	}
	var pe *peerError
	if errors.As(err, &pe) {
		return pe.Code == CodeUnknown || pe.Code == CodeChanged || pe.Code == CodeBadRequest
	}
	return false
}

// span is a run of chunks of one file, asked for by one GET.
type span struct {
	file  int
	first int64
	count int64
}

// puller fetches the missing chunks of one incoming transfer over parallel streams.
type puller struct {
	m     *Manager
	t     *transfer
	cs    int64
	mu    sync.Mutex
	queue []span
	tries map[[2]int64]int
}

// pull fetches every chunk not yet verified. It returns nil once all are on disk.
func (m *Manager) pull(ctx context.Context, t *transfer) error {
	p := &puller{m: m, t: t, cs: t.man.ChunkSize, tries: map[[2]int64]int{}}
	p.queue = t.missing(max(1, spanBytes/p.cs))
	if len(p.queue) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(m.cfg.Streams, len(p.queue)) {
		wg.Go(func() {
			if err := p.worker(ctx); err != nil {
				once.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// missing lists the chunks of every file not yet verified, in spans of up to per chunks.
func (t *transfer) missing(per int64) []span {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []span
	for f := range t.man.Entries {
		n := t.man.Entries[f].NumChunks(t.man.ChunkSize)
		for c := int64(0); c < n; c++ {
			if t.got[f].has(c) {
				continue
			}
			if k := len(out) - 1; k >= 0 && out[k].file == f && out[k].first+out[k].count == c && out[k].count < per {
				out[k].count++
				continue
			}
			out = append(out, span{file: f, first: c, count: 1})
		}
	}
	return out
}

func (p *puller) next() (span, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return span{}, false
	}
	s := p.queue[0]
	p.queue = p.queue[1:]
	return s, true
}

// bad counts a chunk that failed verification and queues it again, or gives up.
func (p *puller) bad(f int, c int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := [2]int64{int64(f), c}
	p.tries[key]++
	if p.tries[key] >= maxChunkTries {
		path := p.t.man.Entries[f].Path
		return fatalError{fmt.Errorf("the sender's data does not match its offer: chunk %d of %s failed verification %d times", c, path, maxChunkTries)}
	}
	p.m.log.Warn("chunk failed verification, fetching it again", "id", p.t.id, "file", p.t.man.Entries[f].Path, "chunk", c)
	p.queue = append([]span{{file: f, first: c, count: 1}}, p.queue...)
	return nil
}

// worker owns one data stream and fetches spans until the queue is empty. It keeps
// getsInFlight GETs outstanding, so the sender never waits for the receiver to ask.
func (p *puller) worker(ctx context.Context) error {
	st, err := p.m.openStream(ctx, p.t.peer)
	if err != nil {
		return err
	}
	defer onDone(ctx, func() { st.Reset() })()
	if err := p.serve(st); err != nil {
		st.Reset()
		return err
	}
	st.Close()
	return nil
}

func (p *puller) serve(st network.Stream) error {
	r := wire.StreamReader(st, nil, dataReadBuffer)
	defer r.Release()
	buf := make([]byte, p.cs)
	var asked []span
	for {
		for len(asked) < getsInFlight {
			s, ok := p.next()
			if !ok {
				break
			}
			if err := p.ask(st, s); err != nil {
				return err
			}
			asked = append(asked, s)
		}
		if len(asked) == 0 {
			return nil
		}
		if err := p.fetch(st, r, asked[0], buf); err != nil {
			return err
		}
		asked = asked[1:]
	}
}

func (p *puller) ask(st network.Stream, s span) error {
	g := Get{ID: p.t.id, File: uint64(s.file), First: uint64(s.first), Count: uint64(s.count)}
	if err := writeFrame(st, AppendGet(nil, g)); err != nil {
		return fmt.Errorf("lost the sender: %w", err)
	}
	return nil
}

// fetch receives one span that was asked for, verifying and writing each chunk.
func (p *puller) fetch(st network.Stream, r *wire.Reader, s span, buf []byte) error {
	f, err := p.m.openPart(p.t, s.file)
	if err != nil {
		return err
	}
	defer f.Close()
	for c := s.first; c < s.first+s.count; c++ {
		if err := p.receive(st, r, f, s.file, c, buf); err != nil {
			return err
		}
	}
	return nil
}

func (p *puller) receive(st network.Stream, r *wire.Reader, f *os.File, file int, c int64, buf []byte) error {
	e := &p.t.man.Entries[file]
	data, err := readChunk(st, r, file, c, buf[:e.ChunkLen(c, p.cs)])
	if err != nil {
		return err
	}
	sum := blake3.Sum256(data)
	if !bytes.Equal(sum[:], e.ChunkHash(c)) {
		return p.bad(file, c)
	}
	if _, err := f.WriteAt(data, c*p.cs); err != nil {
		return diskError(err)
	}
	startWriteback(f, c*p.cs, int64(len(data)))
	if p.t.markChunk(file, c, int64(len(data))) {
		p.m.emit(p.t)
	}
	return nil
}

// readChunk reads the CHUNK header for chunk c of file and its data into buf, which has
// exactly the expected length.
func readChunk(st network.Stream, r *wire.Reader, file int, c int64, buf []byte) ([]byte, error) {
	st.SetReadDeadline(time.Now().Add(frameTimeout))
	typ, payload, err := ReadFrameFrom(r, 0)
	if err != nil {
		return nil, fmt.Errorf("lost the sender: %w", err)
	}
	if typ == TypeError {
		ef, err := ParseError(payload)
		if err != nil {
			return nil, err
		}
		return nil, &peerError{ef}
	}
	if typ != TypeChunk {
		return nil, fmt.Errorf("%w: frame type 0x%02x where a chunk was due", ErrMalformed, byte(typ))
	}
	h, err := ParseChunkHeader(payload)
	if err != nil {
		return nil, err
	}
	if h.File != uint64(file) || h.Index != uint64(c) || h.Length != uint64(len(buf)) {
		return nil, fmt.Errorf("%w: chunk %d/%d of %d bytes where %d/%d of %d was due", ErrMalformed, h.File, h.Index, h.Length, file, c, len(buf))
	}
	st.SetReadDeadline(time.Now().Add(frameTimeout))
	if _, err := io.ReadFull(r.Raw(), buf); err != nil {
		return nil, fmt.Errorf("lost the sender mid-chunk: %w", err)
	}
	return buf, nil
}
