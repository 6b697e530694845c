//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parley-im/parley/internal/testenv"
)

// openPTY opens a pseudo-terminal pair from /dev/ptmx. The master stays in Go's poller
// (its Fd is never taken), so closing it ends a Read in progress.
func openPTY() (master, slave *os.File, err error) {
	for _, path := range []string{"/dev/ptmx", "/dev/pts/ptmx"} {
		if master, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0); err == nil {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	rc, err := master.SyscallConn()
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	var n int
	var ioErr error
	rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ioErr != nil {
		master.Close()
		return nil, nil, ioErr
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// TestChatOnATerminalKeepsTheTypedLine drives `parley chat bob` on a pseudo-terminal:
// a message that arrives while a line is half typed is printed above the prompt, the
// prompt comes back with the half-typed text, and finishing the line sends all of it.
// Ctrl-D leaves and gives the terminal back in the mode it had.
func TestChatOnATerminalKeepsTheTypedLine(t *testing.T) {
	master, slave, err := openPTY()
	testenv.Need(t, "needs a pseudo-terminal (/dev/ptmx and /dev/pts)", err)
	defer master.Close()
	defer slave.Close()
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	ann, bob := pair(t)

	var screen, stderr syncBuffer
	copied := make(chan struct{})
	go func() { defer close(copied); io.Copy(&screen, master) }()
	defer func() { master.Close(); <-copied }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"parley", "--home", ann.home, "chat", "bob"}, slave, slave, &stderr)
	}()
	waitOutputQ(t, &screen, "Chatting")
	if _, err := master.WriteString("half typ"); err != nil {
		t.Fatal(err)
	}
	waitOutputQ(t, &screen, "half typ")
	if r := bob.parley(t, nil, "send", "ann", "incoming line"); r.code != 0 {
		t.Fatalf("send: %s", r)
	}
	waitOutputQ(t, &screen, "bob: incoming line")
	deadline := time.Now().Add(waitLong)
	for {
		out := screen.String()
		_, after, _ := strings.Cut(out[strings.Index(out, "bob: incoming line"):], "\n")
		if strings.Contains(after, chatPrompt+"half typ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the prompt did not come back with the half-typed line after the message:\n%q", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := master.WriteString("ed\r"); err != nil {
		t.Fatal(err)
	}
	waitOutputQ(t, &screen, "delivered: half typed")
	if got := texts(bob.history(t, "--search", "half")); !slices.Equal(got, []string{"half typed"}) {
		t.Errorf("bob received %q, want the whole line", got)
	}
	master.WriteString("\x04") // Ctrl-D
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("chat exited %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(waitLong):
		t.Fatalf("Ctrl-D did not end the chat:\n%q", screen.String())
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("the terminal was left in another mode: lflag %#x → %#x", before.Lflag, after.Lflag)
	}
	t.Logf("the terminal showed:\n%q", screen.String())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the chat ran into the test's deadline")
	}
}

// waitOutputQ is waitOutput that shows the screen quoted, escapes and all.
func waitOutputQ(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	if !waitOutputFor(b, want, waitLong) {
		t.Fatalf("output lacks %q:\n%q", want, b.String())
	}
}
