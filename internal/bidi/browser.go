package bidi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure Start.
type Options struct {
	// Path is the Firefox binary, e.g. from exec.LookPath("firefox-esr").
	Path string
	// OnLog, if set, gets every log entry of every tab (console messages, uncaught
	// script errors). It runs on the read goroutine, which Close waits for.
	OnLog func(LogEntry)
}

// Browser is one headless Firefox with one BiDi session. Close stops it.
type Browser struct {
	cmd     *exec.Cmd
	stderr  *stderrWatch
	profile string
	conn    *websocket.Conn
	onLog   func(LogEntry)

	writeMu sync.Mutex // gorilla allows one writer at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan *message
	readErr error // why the read loop stopped; set once

	exited    chan struct{} // closed when Firefox has exited and been waited for
	done      chan struct{} // closed when the read loop stops
	closeOnce sync.Once
	closeErr  error
}

// Start runs Firefox headless on a fresh profile, connects to its BiDi server and
// opens a session. The context bounds only the start; the browser lives until Close.
func Start(ctx context.Context, opts Options) (*Browser, error) {
	profile, err := os.MkdirTemp("", "parley-firefox-")
	if err != nil {
		return nil, fmt.Errorf("bidi: profile folder: %w", err)
	}
	b := &Browser{profile: profile, onLog: opts.OnLog, pending: map[uint64]chan *message{}, done: make(chan struct{})}
	if err := b.start(ctx, opts.Path); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// start launches Firefox, dials its websocket and opens the session.
func (b *Browser) start(ctx context.Context, path string) error {
	url, err := b.launch(ctx, path)
	if err != nil {
		return err
	}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	conn, _, err := dialer.DialContext(ctx, url+"/session", nil)
	if err != nil {
		return fmt.Errorf("bidi: connect to firefox at %s: %w", url, err)
	}
	conn.SetReadLimit(maxMessage)
	b.conn = conn
	go b.readLoop()
	if _, err := b.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		return err
	}
	return b.subscribe(ctx)
}

// launch starts Firefox and returns the websocket address it prints on stderr.
func (b *Browser) launch(ctx context.Context, path string) (string, error) {
	b.stderr = newStderrWatch()
	b.cmd = exec.Command(path, "-headless", "-no-remote", "-profile", b.profile,
		"--remote-debugging-port=0", "about:blank")
	b.cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1")
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = 5 * time.Second // children that inherited stderr must not hold Wait up
	ownProcessGroup(b.cmd)
	if err := b.cmd.Start(); err != nil {
		return "", fmt.Errorf("bidi: start %s: %w", path, err)
	}
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }() // reaped here; stop waits on exited
	b.exited = exited
	select {
	case url := <-b.stderr.url:
		return url, nil
	case <-exited:
		return "", fmt.Errorf("bidi: firefox exited before its BiDi server listened; its output:\n%s", b.stderr.tail())
	case <-ctx.Done():
		return "", fmt.Errorf("bidi: waiting for firefox's BiDi server: %w; its output:\n%s", ctx.Err(), b.stderr.tail())
	}
}

// subscribe asks for log entries if the caller wants them.
func (b *Browser) subscribe(ctx context.Context) error {
	if b.onLog == nil {
		return nil
	}
	_, err := b.call(ctx, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}})
	return err
}

// call sends one command and waits for its answer or the context's end.
func (b *Browser) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id, answer, err := b.register()
	if err != nil {
		return nil, fmt.Errorf("bidi: %s: %w", method, err)
	}
	defer b.unregister(id)
	if err := b.send(ctx, command{ID: id, Method: method, Params: params}); err != nil {
		return nil, fmt.Errorf("bidi: send %s: %w", method, err)
	}
	select {
	case m := <-answer:
		return m.answer(method)
	case <-b.done:
		return nil, fmt.Errorf("bidi: %s: connection lost: %w", method, b.readError())
	case <-ctx.Done():
		return nil, fmt.Errorf("bidi: %s: %w", method, ctx.Err())
	}
}

// register allots a command id and the channel its answer will come on.
func (b *Browser) register() (uint64, chan *message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.readErr != nil {
		return 0, nil, fmt.Errorf("connection lost: %w", b.readErr)
	}
	b.nextID++
	ch := make(chan *message, 1)
	b.pending[b.nextID] = ch
	return b.nextID, ch, nil
}

func (b *Browser) unregister(id uint64) {
	b.mu.Lock()
	delete(b.pending, id)
	b.mu.Unlock()
}

// send writes one command, bounded by the context's deadline.
func (b *Browser) send(ctx context.Context, c command) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	b.conn.SetWriteDeadline(deadline)
	return b.conn.WriteMessage(websocket.TextMessage, data)
}

// readLoop hands each answer to its caller and each event to its handler, until
// the connection fails or Close closes it.
func (b *Browser) readLoop() {
	defer close(b.done)
	for {
		_, data, err := b.conn.ReadMessage()
		if err != nil {
			b.setReadError(err)
			return
		}
		m, err := decodeMessage(data)
		if err != nil {
			b.setReadError(err)
			return
		}
		b.dispatch(m)
	}
}

// dispatch routes one decoded message.
func (b *Browser) dispatch(m *message) {
	if !m.isAnswer() {
		b.event(m)
		return
	}
	b.mu.Lock()
	ch := b.pending[*m.ID]
	b.mu.Unlock()
	select {
	case ch <- m: // buffered: the caller takes it when it is ready
	default: // no caller (it gave up) or a second answer to one id: dropped
	}
}

// event handles an event or an error that names no command.
func (b *Browser) event(m *message) {
	if m.Method != "log.entryAdded" || b.onLog == nil {
		return
	}
	if e, err := logEntry(m.Params); err == nil {
		b.onLog(e)
	}
}

func (b *Browser) setReadError(err error) {
	b.mu.Lock()
	if b.readErr == nil {
		b.readErr = err
	}
	b.mu.Unlock()
}

func (b *Browser) readError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr
}

// Close ends the session, kills Firefox, waits for it and the read loop, and removes
// the profile. It is safe to call more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		if b.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.call(ctx, "session.end", map[string]any{}) // best effort: Firefox dies next anyway
			cancel()
		}
		b.closeErr = b.stop()
	})
	return b.closeErr
}

// stop kills Firefox and waits for it, closes the websocket, waits for the read
// loop and removes the profile.
func (b *Browser) stop() error {
	if b.cmd != nil && b.cmd.Process != nil {
		killProcessGroup(b.cmd)
		<-b.exited
	}
	if b.conn != nil {
		b.conn.Close()
		<-b.done
	}
	if err := os.RemoveAll(b.profile); err != nil {
		return fmt.Errorf("bidi: remove firefox profile: %w", err)
	}
	return nil
}

// stderrWatch collects Firefox's output, keeps its tail for error messages, and
// sends the BiDi websocket address once Firefox prints it.
type stderrWatch struct {
	url     chan string
	mu      sync.Mutex
	partial string
	lines   []string
	found   bool
}

const bidiListening = "WebDriver BiDi listening on "

func newStderrWatch() *stderrWatch { return &stderrWatch{url: make(chan string, 1)} }

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial += string(p)
	if len(w.partial) > 64<<10 { // a line that never ends: keep its end only
		w.partial = w.partial[len(w.partial)-64<<10:]
	}
	for {
		line, rest, ok := strings.Cut(w.partial, "\n")
		if !ok {
			break
		}
		w.partial = rest
		w.line(line)
	}
	return len(p), nil
}

// line looks at one complete line of output.
func (w *stderrWatch) line(line string) {
	if len(w.lines) == 40 {
		w.lines = w.lines[1:]
	}
	w.lines = append(w.lines, line)
	if _, url, ok := strings.Cut(line, bidiListening); ok && !w.found {
		w.found = true
		w.url <- strings.TrimSpace(url)
	}
}

// tail is the last lines Firefox printed.
func (w *stderrWatch) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(append(w.lines, w.partial), "\n")
}
