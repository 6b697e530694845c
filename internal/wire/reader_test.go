package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// testScope is a resource-manager scope with a limit (0: none) that records what it
// holds and the most it ever held.
type testScope struct {
	mu         sync.Mutex
	limit      int
	held, peak int
}

func (s *testScope) ReserveMemory(n int, _ uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit > 0 && s.held+n > s.limit {
		return fmt.Errorf("scope limit of %d bytes", s.limit)
	}
	s.held += n
	s.peak = max(s.peak, s.held)
	return nil
}

func (s *testScope) ReleaseMemory(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held -= n
}

func (s *testScope) stats() (held, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.peak
}

func frame(body []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func TestReaderGolden(t *testing.T) {
	in := append(frame([]byte("hi")), frame(nil)...)
	in = append(in, frame(bytes.Repeat([]byte{'x'}, 300))...)
	if got := fmt.Sprintf("%x", in[:6]); got != "026869"+"00"+"ac02" {
		t.Fatalf("frames start %s", got)
	}
	sc := &testScope{}
	r := NewReader(bytes.NewReader(in), Config{Scope: sc})
	for _, want := range []int{2, 0, 300} {
		p, err := r.Read(300)
		if err != nil || len(p) != want || p == nil {
			t.Fatalf("Read = %d bytes (nil %v), %v; want %d", len(p), p == nil, err, want)
		}
	}
	if _, err := r.Read(300); err != io.EOF {
		t.Errorf("at a frame boundary: %v, want io.EOF", err)
	}
	if held, _ := sc.stats(); held != 0 {
		t.Errorf("%d bytes still reserved after the last frame", held)
	}
}

func TestReaderRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"over max", []byte{0x04, 1, 2, 3, 4}, 3, ErrTooLarge},
		{"huge length", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1 << 20, ErrTooLarge},
		{"negative max", []byte{0x00}, -1, ErrTooLarge},
		{"length overflows", bytes.Repeat([]byte{0xff}, 10), 1 << 20, ErrMalformed},
		{"length overflows in byte 10", append(bytes.Repeat([]byte{0x80}, 9), 0x02), 1 << 20, ErrMalformed},
		{"truncated length", []byte{0x80}, 10, ErrMalformed},
		{"truncated body", []byte{0x05, 1, 2}, 10, ErrMalformed},
		{"truncated large body", append(binary.AppendUvarint(nil, 1<<20), make([]byte, 100<<10)...), 1 << 20, ErrMalformed},
	}
	for _, c := range cases {
		sc := &testScope{}
		_, err := NewReader(bytes.NewReader(c.in), Config{Scope: sc, Budget: NewBudget(1, 1<<20)}).Read(c.max)
		if !errors.Is(err, c.want) || errors.Is(err, io.EOF) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: too large but not malformed: %v", c.name, err)
		}
		if held, peak := sc.stats(); held != 0 || (errors.Is(err, ErrTooLarge) && peak != 0) {
			t.Errorf("%s: %d bytes held after the error, %d reserved at most", c.name, held, peak)
		}
	}
}

// TestReaderPaysAsBytesArrive: a peer that claims 16 MiB and sends 10 bytes costs the
// first allocation, not 16 MiB.
func TestReaderPaysAsBytesArrive(t *testing.T) {
	sc := &testScope{}
	in := append(binary.AppendUvarint(nil, 16<<20), make([]byte, 10)...)
	_, err := NewReader(bytes.NewReader(in), Config{Scope: sc}).Read(16 << 20)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("a frame cut short: %v", err)
	}
	if held, peak := sc.stats(); held != 0 || peak > initialAlloc {
		t.Errorf("a liar's 10 bytes reserved %d bytes at most (%d still held); want ≤ %d", peak, held, initialAlloc)
	}
	// An honest large frame grows to its length, and its reservation is its capacity.
	body := bytes.Repeat([]byte{7}, 1<<20+3)
	sc = &testScope{}
	r := NewReader(bytes.NewReader(frame(body)), Config{Scope: sc})
	p, err := r.Read(2 << 20)
	if err != nil || !bytes.Equal(p, body) {
		t.Fatalf("large frame: %d bytes, %v", len(p), err)
	}
	if held, _ := sc.stats(); held != cap(p) || cap(p) != len(body) {
		t.Errorf("holding %d bytes for a body of %d (cap %d)", held, len(body), cap(p))
	}
	r.Release()
	r.Release()
	if held, _ := sc.stats(); held != 0 {
		t.Errorf("%d bytes held after Release", held)
	}
}

func TestReaderScopeRefuses(t *testing.T) {
	sc := &testScope{limit: 64 << 10}
	body := make([]byte, 100<<10)
	_, err := NewReader(bytes.NewReader(frame(body)), Config{Scope: sc}).Read(1 << 20)
	if !errors.Is(err, ErrNoMemory) || errors.Is(err, ErrMalformed) {
		t.Fatalf("frame over the scope's memory: %v, want ErrNoMemory", err)
	}
	if held, _ := sc.stats(); held != 0 {
		t.Errorf("%d bytes held after a refused frame", held)
	}
	if _, err := NewReader(bytes.NewReader(frame(body[:1000])), Config{Scope: sc}).Read(1 << 20); err != nil {
		t.Errorf("a small frame after the refusal: %v", err)
	}
}

// stalledLarge starts a large frame from peer on a pipe and leaves it unfinished; it
// returns the reader's error once the test closes the pipe.
func stalledLarge(t *testing.T, b *Budget, peer string, n int) (started chan struct{}, result chan error, closeIt func()) {
	a, c := net.Pipe()
	started, result = make(chan struct{}), make(chan error, 1)
	go func() {
		c.Write(binary.AppendUvarint(nil, uint64(n)))
		c.Write(make([]byte, SmallFrame+1))
		close(started)
	}()
	go func() {
		defer a.Close()
		_, err := NewReader(a, Config{Budget: b, Peer: peer}).Read(1 << 30)
		result <- err
	}()
	return started, result, func() { c.Close() }
}

func TestBudgetRefuses(t *testing.T) {
	b := NewBudget(1, 256<<10)
	started, result, closeIt := stalledLarge(t, b, "mallory", 1<<20)
	<-started
	big := frame(make([]byte, SmallFrame+1))
	if _, err := NewReader(bytes.NewReader(big), Config{Budget: b, Peer: "mallory"}).Read(1 << 20); !errors.Is(err, ErrBusy) {
		t.Errorf("a second large read from the same peer: %v, want ErrBusy", err)
	}
	if _, err := NewReader(bytes.NewReader(frame([]byte("small"))), Config{Budget: b, Peer: "mallory"}).Read(1 << 20); err != nil {
		t.Errorf("a small frame needs no place: %v", err)
	}
	alice := NewReader(bytes.NewReader(big), Config{Budget: b, Peer: "alice"})
	if _, err := alice.Read(1 << 20); err != nil {
		t.Errorf("another peer's large read: %v", err)
	}
	alice.Release()
	// Over the total: mallory's stalled read holds 128 KiB of the 256 KiB.
	huge := frame(make([]byte, 200<<10))
	if _, err := NewReader(bytes.NewReader(huge), Config{Budget: b, Peer: "bob"}).Read(1 << 20); !errors.Is(err, ErrBusy) {
		t.Errorf("a read over the total: %v, want ErrBusy", err)
	}
	closeIt()
	if err := <-result; !errors.Is(err, ErrMalformed) {
		t.Errorf("the stalled read: %v", err)
	}
	if s := b.Stats(); s != (BudgetStats{}) {
		t.Errorf("budget holds %+v after every read ended", s)
	}
}

// clockStream is a stream on a fake clock: each Read first lets the time of the next
// step pass, then fails with os.ErrDeadlineExceeded if that is past the read deadline
// set last (through Config.Deadline), else returns the step's bytes. Nothing in it
// depends on the scheduler.
type clockStream struct {
	data     []byte
	steps    []step
	now      time.Time
	deadline time.Time
	sets     int // deadlines set
}

// step is one Read of a clockStream: after wait, n bytes.
type step struct {
	wait time.Duration
	n    int
}

func newClockStream(data []byte, steps []step) *clockStream {
	return &clockStream{data: data, steps: steps, now: time.Unix(1e9, 0)}
}

func (c *clockStream) Now() time.Time { return c.now }

func (c *clockStream) SetDeadline(t time.Time) error { c.deadline, c.sets = t, c.sets+1; return nil }

func (c *clockStream) Read(p []byte) (int, error) {
	if len(c.steps) == 0 || len(c.data) == 0 {
		return 0, io.EOF
	}
	st := &c.steps[0]
	c.now = c.now.Add(st.wait)
	st.wait = 0
	if !c.deadline.IsZero() && c.now.After(c.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	k := copy(p, c.data[:min(st.n, len(c.data))])
	c.data = c.data[k:]
	if st.n -= k; st.n == 0 { // a step's bytes not taken come with the next Read
		c.steps = c.steps[1:]
	}
	return k, nil
}

// every is n steps of k bytes, one each wait.
func every(n int, wait time.Duration, k int) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{wait, k}
	}
	return s
}

// TestProgressDeadline: a large frame over a slow link arrives as long as each progress
// window brings its bytes, although the whole frame takes many windows; one that stops
// mid-frame, or trickles, is cut after a window. On a fake clock: no timing involved.
func TestProgressDeadline(t *testing.T) {
	const window = 10 * time.Second
	body := make([]byte, SmallFrame+4096) // 68 KiB and the length
	in := frame(body)
	for _, c := range []struct {
		name  string
		steps []step
		ok    bool
	}{
		// 8 KiB every 3 s: 24 KiB a window, above the 16 KiB floor; 27 s in all.
		{"slow", every(10, 3*time.Second, 8<<10), true},
		// the same, then 11 s of silence before the last bytes.
		{"stalled", append(every(8, 3*time.Second, 8<<10), step{11 * time.Second, 8 << 10}, step{0, 8 << 10}), false},
		// 100 bytes a second: never 16 KiB in a window.
		{"trickled", every(1000, time.Second, 100), false},
	} {
		cs := newClockStream(in, c.steps)
		start := cs.now
		cfg := Config{Deadline: cs.SetDeadline, Now: cs.Now, Progress: window, MinProgress: 16 << 10}
		p, err := NewReader(cs, cfg).Read(1 << 20)
		switch {
		case c.ok && (err != nil || len(p) != len(body)):
			t.Errorf("%s honest frame: %d bytes, %v", c.name, len(p), err)
		case c.ok && cs.now.Sub(start) < 2*window:
			t.Errorf("%s honest frame took %v of fake time; the test needs more than two windows", c.name, cs.now.Sub(start))
		case !c.ok && !errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("%s frame: %v, want a deadline error", c.name, err)
		}
		t.Logf("%s: %v after %v of fake time, %d deadlines set", c.name, err, cs.now.Sub(start), cs.sets)
	}
}

// TestHardDeadline: a large frame whose every window brings its bytes still ends at the
// caller's hard deadline (Config.Until); before it, the progress deadline holds. Fake
// clock.
func TestHardDeadline(t *testing.T) {
	body := make([]byte, 1<<20)
	// 128 KiB every 9 s: 8 windows of 10 s, all above the floor; 72 s in all.
	cs := newClockStream(frame(body), every(100, 9*time.Second, 128<<10))
	until := cs.now.Add(30 * time.Second)
	cfg := Config{Deadline: cs.SetDeadline, Now: cs.Now, Until: until}
	_, err := NewReader(cs, cfg).Read(2 << 20)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a frame that outlasts the hard deadline: %v, want a deadline error", err)
	}
	if cs.deadline.After(until) {
		t.Errorf("the stream's deadline was set to %v past the hard deadline", cs.deadline.Sub(until))
	}
	// With the hard deadline far enough, the same frame arrives.
	cs = newClockStream(frame(body), every(100, 9*time.Second, 128<<10))
	cfg = Config{Deadline: cs.SetDeadline, Now: cs.Now, Until: cs.now.Add(time.Hour)}
	if p, err := NewReader(cs, cfg).Read(2 << 20); err != nil || len(p) != len(body) {
		t.Errorf("a frame within the hard deadline: %d bytes, %v", len(p), err)
	}
}

// TestHardDeadlinePipe: the same on a real pipe and the real clock: a large frame that
// keeps its progress windows (an hour each) is cut at Until, which the reader, not the
// caller's SetReadDeadline, must keep. The writer would take about 3 s; Until is 300 ms
// away; whether the cut comes early or late is not asserted, only that it comes.
func TestHardDeadlinePipe(t *testing.T) {
	a, w := net.Pipe()
	defer a.Close()
	go func() {
		defer w.Close()
		in := frame(make([]byte, 300<<10))
		for len(in) > 0 {
			k := min(len(in), 1<<10)
			if _, err := w.Write(in[:k]); err != nil {
				return
			}
			in = in[k:]
			time.Sleep(10 * time.Millisecond)
		}
	}()
	until := time.Now().Add(300 * time.Millisecond)
	a.SetReadDeadline(until) // what the callers did: lost at the first large read
	cfg := Config{Deadline: a.SetReadDeadline, Progress: time.Hour, MinProgress: 1, Until: until}
	p, err := NewReader(a, cfg).Read(1 << 20)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a frame that outlasts the hard deadline: %d bytes, %v; want a deadline error", len(p), err)
	}
}

// TestSmallFrameKeepsCallerDeadline: a small frame is read under the deadline the caller
// set, not refreshed by the progress window.
func TestSmallFrameKeepsCallerDeadline(t *testing.T) {
	a, c := net.Pipe()
	defer a.Close()
	defer c.Close()
	go func() {
		c.Write([]byte{0x10, 1})
		for range 20 {
			time.Sleep(20 * time.Millisecond)
			if _, err := c.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	a.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := NewReader(a, Config{Deadline: a.SetReadDeadline, Progress: time.Hour}).Read(100)
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrMalformed) {
		t.Errorf("trickled small frame: %v, want the caller's deadline", err)
	}
}

func TestReadTyped(t *testing.T) {
	limits := func(t byte) int {
		if t == 1 {
			return 100
		}
		return 4
	}
	in := append(frame([]byte{1, 'a', 'b'}), frame([]byte{2})...)
	r := NewReader(bytes.NewReader(in), Config{})
	if typ, p, err := r.ReadTyped(limits); err != nil || typ != 1 || string(p) != "ab" {
		t.Errorf("first: %d %q %v", typ, p, err)
	}
	if typ, p, err := r.ReadTyped(limits); err != nil || typ != 2 || len(p) != 0 || p == nil {
		t.Errorf("second: %d %q %v", typ, p, err)
	}
	if _, _, err := r.ReadTyped(limits); err != io.EOF {
		t.Errorf("end: %v", err)
	}
	for name, in := range map[string][]byte{
		"empty":           {0x00},
		"over type's cap": {0x05, 2, 0, 0, 0, 0},
		"unknown type":    {0x01, 9},
		"no type":         {0x03},
	} {
		if _, _, err := NewReader(bytes.NewReader(in), Config{}).ReadTyped(func(t byte) int {
			if t == 9 {
				return 0
			}
			return limits(t)
		}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzReader: never panic, never return more than max bytes, what is returned is what
// was framed, and nothing stays reserved after Release, whatever the scope allows.
func FuzzReader(f *testing.F) {
	f.Add(append(frame([]byte("hello")), frame(nil)...), 16, 0)
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1<<20, 0)
	f.Add(bytes.Repeat([]byte{0xff}, 12), 100, 0)
	f.Add(append(binary.AppendUvarint(nil, 70000), make([]byte, 5000)...), 1<<20, 8192)
	f.Fuzz(func(t *testing.T, in []byte, maxLen, limit int) {
		maxLen %= 1 << 20
		limit %= 1 << 20
		sc := &testScope{limit: max(0, limit)}
		b := NewBudget(1, 1<<20)
		r := NewReader(bufio.NewReader(bytes.NewReader(in)), Config{Scope: sc, Budget: b, Peer: "p"})
		for {
			p, err := r.Read(maxLen)
			if err != nil {
				break
			}
			if len(p) > maxLen {
				t.Fatalf("returned %d bytes; max %d", len(p), maxLen)
			}
			back, err := NewReader(bytes.NewReader(frame(p)), Config{}).Read(maxLen)
			if err != nil || !bytes.Equal(back, p) {
				t.Fatalf("frame does not round-trip: %v", err)
			}
		}
		r.Release()
		if held, _ := sc.stats(); held != 0 {
			t.Fatalf("%d bytes reserved after Release", held)
		}
		if s := b.Stats(); s != (BudgetStats{}) {
			t.Fatalf("budget holds %+v after Release", s)
		}
	})
}

// TestReadLength (moved here from transfer, whose reader this replaced).
func TestReadLength(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 + 5, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		got, err := readLength(bufio.NewReader(bytes.NewReader(binary.AppendUvarint(nil, v))))
		if err != nil || got != v {
			t.Errorf("readLength(%d) = %d, %v", v, got, err)
		}
	}
	over := append(bytes.Repeat([]byte{0xff}, 9), 0x02)
	if _, err := readLength(bufio.NewReader(bytes.NewReader(over))); !errors.Is(err, ErrMalformed) {
		t.Errorf("a 65-bit length: %v", err)
	}
	if _, err := readLength(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("no bytes: %v, want io.EOF", err)
	}
}
