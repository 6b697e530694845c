// Package testnode starts real `parley` node processes for integration tests and
// benchmarks: in this namespace (loopback, --no-mdns) or inside a netlab host. Clients
// reach a node through the real CLI binary, run in the node's namespace.
package testnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
)

// build is one compilation of cmd/parley, done at most once per test binary.
type build struct {
	once sync.Once
	path string
	err  error
}

// builds: [0] as the test binary is built (with -race under -race), [1] without -race.
var builds [2]build

// Build compiles cmd/parley once per test binary (with -race when the test binary has
// it) and returns the executable's path.
func Build(tb testing.TB) string {
	tb.Helper()
	return compile(tb, &builds[0], "parley", raceEnabled)
}

// BuildPlain compiles cmd/parley without -race, once per test binary: for tests whose
// figures are the product's own (memory under attack), which the race detector would
// multiply (about 3x here).
func BuildPlain(tb testing.TB) string {
	tb.Helper()
	if !raceEnabled {
		return Build(tb)
	}
	return compile(tb, &builds[1], "parley-plain", false)
}

// compile builds cmd/parley into the test process's folder as name (tests put that
// folder on PATH and call "parley").
func compile(tb testing.TB, b *build, name string, race bool) string {
	tb.Helper()
	b.once.Do(func() {
		removeStaleBuilds()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d", buildDirPrefix, os.Getpid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.err = err
			return
		}
		args := []string{"build"}
		if race {
			args = append(args, "-race")
		}
		b.path = filepath.Join(dir, name)
		args = append(args, "-o", b.path, "github.com/parley-im/parley/cmd/parley")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// buildDirPrefix + PID names the folder a test process builds the binary into. Test
// binaries have no common end to clean up after, so each Build removes the folders of
// processes that are gone.
const buildDirPrefix = "parley-testbin-"

func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), buildDirPrefix))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, err := os.FindProcess(pid); err != nil || errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone) {
			os.RemoveAll(dir)
		}
	}
}

// Options describe one node.
type Options struct {
	Name string        // display name
	Home string        // empty: a new temp dir
	Host *netlab.Host  // nil: run in this namespace (then pass --no-mdns in Args)
	Args []string      // extra `up` flags
	Wait time.Duration // how long to wait for the API; default 60s
	Env  []string      // extra NAME=value variables for the node and its CLI calls
	// Plain runs a parley built without -race (BuildPlain) even under -race: for a
	// node whose memory is the figure under test.
	Plain bool
}

// Node is one running `parley up` process.
type Node struct {
	tb   testing.TB
	bin  string
	opts Options
	Home string

	mu      sync.Mutex
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	done    chan struct{} // closed when the current process has exited
	started time.Time
	lines   chan string // stderr lines, for WaitLog
}

// Start runs `parley up` and waits until its API answers. The process is killed at
// cleanup.
func Start(tb testing.TB, o Options) *Node {
	tb.Helper()
	if o.Home == "" {
		o.Home = tb.TempDir()
	}
	if o.Wait == 0 {
		o.Wait = 60 * time.Second
	}
	bin := Build
	if o.Plain {
		bin = BuildPlain
	}
	n := &Node{tb: tb, bin: bin(tb), opts: o, Home: o.Home}
	n.launch()
	tb.Cleanup(n.Kill)
	n.waitReady()
	return n
}

// command returns the CLI binary run with args in the node's namespace.
func (n *Node) command(ctx context.Context, args ...string) *exec.Cmd {
	args = append([]string{"--home", n.Home}, args...)
	var cmd *exec.Cmd
	if n.opts.Host != nil {
		cmd = n.opts.Host.Command(ctx, n.bin, args...)
	} else {
		cmd = exec.CommandContext(ctx, n.bin, args...)
	}
	cmd.Env = childEnv(n.opts.Env...)
	return cmd
}

func (n *Node) launch() {
	n.tb.Helper()
	args := append([]string{"up", "--name", n.opts.Name, "--log-level", "debug"}, n.opts.Args...)
	cmd := n.command(context.Background(), args...)
	cmd.Stdout = io.Discard
	pr, pw := io.Pipe()
	buf := &lockedBuffer{}
	cmd.Stderr = io.MultiWriter(buf, pw)
	lines := make(chan string, 4096)
	go forwardLines(pr, lines)
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.stderr, n.lines, n.done, n.started = cmd, buf, lines, done, time.Now()
	n.mu.Unlock()
	if err := cmd.Start(); err != nil {
		n.tb.Fatalf("start %s: %v", n.opts.Name, err)
	}
	go func() {
		cmd.Wait()
		pw.Close()
		close(done)
	}()
}

// forwardLines copies lines into ch, dropping them if nobody reads; it ends with r.
func forwardLines(r io.Reader, ch chan<- string) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		select {
		case ch <- sc.Text():
		default:
		}
	}
	io.Copy(io.Discard, r)
}

func (n *Node) waitReady() {
	n.tb.Helper()
	deadline := time.Now().Add(n.opts.Wait)
	for time.Now().Before(deadline) {
		if n.apiUp() {
			return
		}
		if n.exited() {
			n.tb.Fatalf("%s exited before its API came up:\n%s", n.opts.Name, n.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.tb.Fatalf("%s: API not up after %v:\n%s", n.opts.Name, n.opts.Wait, n.Log())
}

// apiUp reports whether the node's API answers. `id` alone is not enough: without a
// running node it still prints the home's identity, with no start time.
func (n *Node) apiUp() bool {
	out, err := n.TryCLI("id", "--json")
	var st api.Status
	return err == nil && json.Unmarshal([]byte(out), &st) == nil && !st.StartedAt.IsZero()
}

func (n *Node) exited() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// PID is the node process's ID.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd.Process.Pid
}

// StartedAt is when the current process was started.
func (n *Node) StartedAt() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.started
}

// Lines streams the node's stderr log lines of the current process.
func (n *Node) Lines() <-chan string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lines
}

// Log is everything the node wrote to stderr so far.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() { n.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for a clean exit.
func (n *Node) Stop() { n.signal(syscall.SIGTERM) }

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		n.tb.Errorf("%s did not exit within 15s of %v", n.opts.Name, sig)
	}
}

// Restart starts the node again with the same home and flags.
func (n *Node) Restart() {
	n.tb.Helper()
	n.launch()
	n.waitReady()
}

// TryCLI runs `parley --home HOME args...` in the node's namespace.
func (n *Node) TryCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := n.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("parley %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// CLI runs the CLI and fails the test if it fails.
func (n *Node) CLI(args ...string) string {
	n.tb.Helper()
	out, err := n.TryCLI(args...)
	if err != nil {
		n.tb.Fatalf("%s: %v", n.opts.Name, err)
	}
	return out
}

// JSON runs the CLI command args[0] with --json (right after the command name; flags
// may also follow the arguments) and decodes its output into v.
func (n *Node) JSON(v any, args ...string) {
	n.tb.Helper()
	out := n.CLI(append([]string{args[0], "--json"}, args[1:]...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.tb.Fatalf("%s: decode %q: %v", n.opts.Name, out, err)
	}
}

// Status is `parley id --json`.
func (n *Node) Status() api.Status {
	n.tb.Helper()
	var st api.Status
	n.JSON(&st, "id")
	return st
}

// Peers is `parley peers --json`.
func (n *Node) Peers() []api.Peer {
	n.tb.Helper()
	var l api.PeerList
	n.JSON(&l, "peers")
	return l.Peers
}

// History is `parley history --json` with extra args.
func (n *Node) History(args ...string) []api.Message {
	n.tb.Helper()
	var l api.MessageList
	n.JSON(&l, append([]string{"history", "--limit", "100000"}, args...)...)
	return l.Messages
}

// WaitFor polls cond every 100 ms until it holds or timeout passes, then fails the
// test with what. It bounds how long a broken run hangs; it asserts nothing about speed.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
