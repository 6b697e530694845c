package testnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/parley-im/parley/api"
)

// Command returns the CLI binary run as `parley --home HOME args...` in the node's
// namespace, for commands that run beside the test or longer than TryCLI allows.
func (n *Node) Command(ctx context.Context, args ...string) *exec.Cmd {
	return n.command(ctx, args...)
}

// Transfers is `parley transfers --json`.
func (n *Node) Transfers() []api.Transfer {
	n.tb.Helper()
	var l api.TransferList
	n.JSON(&l, "transfers")
	return l.Transfers
}

// TryTransfers is Transfers for a node that may be down: it returns the error instead
// of failing the test.
func (n *Node) TryTransfers() ([]api.Transfer, error) {
	out, err := n.TryCLI("transfers", "--json")
	if err != nil {
		return nil, err
	}
	var l api.TransferList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return nil, fmt.Errorf("decode %q: %w", out, err)
	}
	return l.Transfers, nil
}

// Incoming returns the node's newest incoming transfer that holds a file or folder
// named path (as offered: slash-separated, relative), if there is one.
func (n *Node) Incoming(path string) (api.Transfer, bool) {
	n.tb.Helper()
	for _, t := range n.Transfers() { // newest first
		if t.Direction != "in" {
			continue
		}
		for _, f := range t.Files {
			if f.Path == path || strings.HasPrefix(f.Path, path+"/") {
				return t, true
			}
		}
	}
	return api.Transfer{}, false
}

// SendFile runs `parley send-file --json TO PATH...` until it ends (at most timeout)
// and returns the transfer it printed last. err is non-nil when the command failed,
// which it does when the transfer did not complete; the transfer is still returned if
// one was printed.
func (n *Node) SendFile(timeout time.Duration, to string, paths ...string) (api.Transfer, error) {
	s := n.StartSendFile(timeout, to, paths...)
	return s.Wait()
}

// SendFileRun is a send-file command running beside the test.
type SendFileRun struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	out    bytes.Buffer
	errb   bytes.Buffer
	done   chan struct{}
	err    error
}

// StartSendFile starts `parley send-file --json TO PATH...` and returns at once. The
// command is killed after timeout, or at the test's cleanup.
func (n *Node) StartSendFile(timeout time.Duration, to string, paths ...string) *SendFileRun {
	n.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	args := append([]string{"send-file", "--json", to}, paths...)
	s := &SendFileRun{cmd: n.command(ctx, args...), cancel: cancel, done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.errb
	if err := s.cmd.Start(); err != nil {
		cancel()
		n.tb.Fatalf("%s: start send-file: %v", n.opts.Name, err)
	}
	go func() {
		defer close(s.done)
		defer cancel()
		if err := s.cmd.Wait(); err != nil {
			s.err = fmt.Errorf("parley %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(s.errb.String()))
		}
	}()
	n.tb.Cleanup(func() { cancel(); <-s.done })
	return s
}

// Done is closed when the command has exited.
func (s *SendFileRun) Done() <-chan struct{} { return s.done }

// Wait waits for the command to exit and returns the transfer it printed (if any) and
// its error.
func (s *SendFileRun) Wait() (api.Transfer, error) {
	<-s.done
	var t api.Transfer
	out := bytes.TrimSpace(s.out.Bytes())
	if len(out) > 0 {
		if err := json.Unmarshal(out, &t); err != nil && s.err == nil {
			return t, fmt.Errorf("send-file printed %q: %w", out, err)
		}
	}
	return t, s.err
}
