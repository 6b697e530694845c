package testnode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
)

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// buildProbe compiles internal/testnode/eventprobe once per test binary, next to the
// parley binary. It is a test tool, so it is built without -race.
func buildProbe(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Dir(Build(tb))
	probeOnce.Do(func() {
		probePath = filepath.Join(dir, "eventprobe")
		out, err := exec.Command("go", "build", "-o", probePath,
			"github.com/parley-im/parley/internal/testnode/eventprobe").CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("go build eventprobe: %v\n%s", err, out)
		}
	})
	if probeErr != nil {
		tb.Fatal(probeErr)
	}
	return probePath
}

// probe is an eventprobe process in a node's namespace, stopped at cleanup (its stdin
// is closed, then it is killed if it lingers).
type probe struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) startProbe(args ...string) *probe {
	n.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args = append([]string{"-home", n.Home}, args...)
	var cmd *exec.Cmd
	if n.opts.Host != nil {
		cmd = n.opts.Host.Command(ctx, buildProbe(n.tb), args...)
	} else {
		cmd = exec.CommandContext(ctx, buildProbe(n.tb), args...)
	}
	p := &probe{cmd: cmd, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		n.tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		n.tb.Fatal(err)
	}
	p.stdout = bufio.NewScanner(stdout)
	p.stdout.Buffer(make([]byte, 64<<10), 1<<20)
	if err := cmd.Start(); err != nil {
		cancel()
		n.tb.Fatalf("%s: start eventprobe: %v", n.opts.Name, err)
	}
	n.tb.Cleanup(p.stop)
	return p
}

func (p *probe) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cancel()
		<-p.done
	}
	p.cancel()
}

// PeerSeen is one peer event and the wall-clock time the probe read it off the stream.
type PeerSeen struct {
	At   time.Time
	Peer api.Peer
}

// PeerWatch follows one peer as a node sees it: every peer event about it on the node's
// event stream, stamped by an eventprobe process in the node's namespace as it arrives.
type PeerWatch struct {
	tb     testing.TB
	name   string
	p      *probe
	events chan PeerSeen // closed when the probe's output ends
}

// WatchPeer starts following peer ID id on the node's event stream and returns once
// the node has subscribed the probe, so no later event is missed.
func (n *Node) WatchPeer(id string) *PeerWatch {
	n.tb.Helper()
	p := n.startProbe("watch", id)
	w := &PeerWatch{tb: n.tb, name: n.opts.Name, p: p, events: make(chan PeerSeen, 4096)}
	ready := make(chan bool, 1)
	go w.read(ready)
	select {
	case ok := <-ready:
		if !ok {
			n.tb.Fatalf("%s: eventprobe ended before its stream was up: %s", n.opts.Name, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		n.tb.Fatalf("%s: eventprobe not ready after 30s: %s", n.opts.Name, p.stderr.String())
	}
	return w
}

// read forwards the probe's lines; the first one says the stream is up.
func (w *PeerWatch) read(ready chan<- bool) {
	defer close(w.p.done)
	defer close(w.events)
	first := true
	for w.p.stdout.Scan() {
		if first {
			first = false
			ready <- true
			continue
		}
		var l struct {
			AtNS int64    `json:"at_ns"`
			Peer api.Peer `json:"peer"`
		}
		if json.Unmarshal(w.p.stdout.Bytes(), &l) != nil {
			continue
		}
		select {
		case w.events <- PeerSeen{At: time.Unix(0, l.AtNS), Peer: l.Peer}:
		default: // nobody reads; a test that cares reads on time
		}
	}
	if first {
		ready <- false
	}
	w.p.cmd.Wait()
}

// WaitFor returns the first event from now on whose peer satisfies cond, and fails the
// test if none comes within timeout. The bound only keeps a broken run from hanging.
func (w *PeerWatch) WaitFor(timeout time.Duration, what string, cond func(api.Peer) bool) PeerSeen {
	w.tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				w.tb.Fatalf("%s: eventprobe ended while waiting for %s: %s", w.name, what, w.p.stderr.String())
			}
			if cond(e.Peer) {
				return e
			}
		case <-deadline:
			w.tb.Fatalf("%s: gave up after %v waiting for %s", w.name, timeout, what)
		}
	}
}

// Collect returns every event that arrives within d.
func (w *PeerWatch) Collect(d time.Duration) []PeerSeen {
	var out []PeerSeen
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-deadline:
			return out
		}
	}
}

// PresenceSetter changes a node's presence through its API from a probe process in the
// node's namespace, so no CLI start is part of the time measured.
type PresenceSetter struct {
	tb   testing.TB
	name string
	p    *probe
}

// StartPresenceSetter starts the probe; it is stopped at cleanup.
func (n *Node) StartPresenceSetter() *PresenceSetter {
	n.tb.Helper()
	p := n.startProbe("set")
	go func() { p.cmd.Wait(); close(p.done) }()
	return &PresenceSetter{tb: n.tb, name: n.opts.Name, p: p}
}

// Set sets presence and status text and returns the wall-clock times just before and
// just after the API call, as the probe took them.
func (s *PresenceSetter) Set(presence, status string) (at, done time.Time) {
	s.tb.Helper()
	if strings.ContainsAny(presence+status, "\t\n") {
		s.tb.Fatalf("presence %q / status %q: no tabs or newlines", presence, status)
	}
	if _, err := fmt.Fprintf(s.p.stdin, "%s\t%s\n", presence, status); err != nil {
		s.tb.Fatalf("%s: eventprobe set: %v: %s", s.name, err, s.p.stderr.String())
	}
	if !s.p.stdout.Scan() {
		s.tb.Fatalf("%s: eventprobe set ended: %s", s.name, s.p.stderr.String())
	}
	var l struct {
		AtNS   int64  `json:"at_ns"`
		DoneNS int64  `json:"done_ns"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(s.p.stdout.Bytes(), &l); err != nil || l.Error != "" {
		s.tb.Fatalf("%s: set presence %s %q: %v %s", s.name, presence, status, err, l.Error)
	}
	return time.Unix(0, l.AtNS), time.Unix(0, l.DoneNS)
}
