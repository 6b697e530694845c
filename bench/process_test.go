package bench

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// stampedLine is one stderr line and when this process read it from the pipe.
type stampedLine struct {
	At   time.Time
	Text string
}

// stampedNode is a `parley up` process in a netlab host whose stderr lines are
// timestamped as they arrive. testnode.Start cannot do that for the lines before its
// API is up (it returns only then, and those lines wait in its channel), and the first
// seconds of a node's life are what BenchmarkMDNSFirstPeer measures.
type stampedNode struct {
	Started time.Time
	Lines   <-chan stampedLine // closed when the process's stderr ends

	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex
	log strings.Builder
}

// startStamped runs `parley --home home up --name name --log-level debug` (mDNS on,
// default listen addresses) in host h. It is killed at cleanup if still running.
func startStamped(b *testing.B, h *netlab.Host, home, name string) *stampedNode {
	b.Helper()
	args := []string{"--home", home, "up", "--name", name, "--log-level", "debug"}
	cmd := h.Command(context.Background(), testnode.Build(b), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	lines := make(chan stampedLine, 8192)
	n := &stampedNode{Lines: lines, cmd: cmd, done: make(chan struct{})}
	n.Started = time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	go n.readLines(stderr, lines)
	b.Cleanup(func() { n.stop(syscall.SIGKILL) })
	return n
}

// readLines stamps and forwards every line (dropping them if nobody reads), keeps the
// whole log for failure messages, and reaps the process at EOF.
func (n *stampedNode) readLines(r io.Reader, out chan<- stampedLine) {
	defer close(n.done)
	defer close(out)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := stampedLine{At: time.Now(), Text: sc.Text()}
		n.mu.Lock()
		n.log.WriteString(l.Text + "\n")
		n.mu.Unlock()
		select {
		case out <- l:
		default:
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner: keep the pipe drained
	_ = n.cmd.Wait()
}

// Log is everything the process wrote to stderr so far.
func (n *stampedNode) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// Stop ends the process with SIGTERM (SIGKILL after 15 s) and waits until it is gone,
// so the home's lock is free for the next start.
func (n *stampedNode) Stop() { n.stop(syscall.SIGTERM) }

func (n *stampedNode) stop(sig syscall.Signal) {
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
		return
	case <-time.After(15 * time.Second):
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}
