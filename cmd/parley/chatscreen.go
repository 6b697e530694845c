package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// screen is where a chat reads typed lines and prints: a line editor on a terminal, or
// plain lines when input is not a terminal (a pipe, a file, a test).
type screen interface {
	// ReadLine returns the next typed line; io.EOF at the end of input (Ctrl-D).
	ReadLine() (string, error)
	// Print shows a line of output above the line being typed.
	Print(line string)
	// Error shows "! msg": on stderr, or above the prompt on a terminal.
	Error(msg string)
	// Close gives the terminal back as it was.
	Close() error
}

// newScreen is a terminal line editor when both in and out are terminals, else plain
// lines.
func newScreen(in io.Reader, out, errw io.Writer) (screen, error) {
	inFile, ok := in.(*os.File)
	outFile, ok2 := rawWriter(out).(*os.File)
	if ok && ok2 && term.IsTerminal(int(inFile.Fd())) && term.IsTerminal(int(outFile.Fd())) {
		return newTermScreen(inFile, outFile)
	}
	return &lineScreen{in: bufio.NewScanner(in), out: out, errw: errw}, nil
}

// lineScreen reads lines and prints whole lines, one at a time.
type lineScreen struct {
	in   *bufio.Scanner
	mu   sync.Mutex
	out  io.Writer
	errw io.Writer
}

func (s *lineScreen) ReadLine() (string, error) {
	if s.in.Scan() {
		return s.in.Text(), nil
	}
	if err := s.in.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (s *lineScreen) Print(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.out, line)
}

func (s *lineScreen) Error(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.errw, "! %s\n", msg)
}

func (s *lineScreen) Close() error { return nil }

// termScreen is golang.org/x/term's line editor on a terminal in raw mode: output is
// written above the prompt, which is redrawn with what was typed so far.
type termScreen struct {
	t   *term.Terminal
	fd  int
	old *term.State
}

const chatPrompt = "> "

func newTermScreen(in, out *os.File) (*termScreen, error) {
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("set up the terminal for the chat: %w (pipe the input to chat line by line)", err)
	}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, chatPrompt)
	if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h) // a terminal that does not know its size stays at 80x24
	}
	return &termScreen{t: t, fd: fd, old: old}, nil
}

func (s *termScreen) ReadLine() (string, error) { return s.t.ReadLine() }

// Print writes through the editor, which clears the prompt line, writes line (every
// \n as \r\n, as raw mode needs) and redraws the prompt and the typed text. The
// terminal is written to directly, not through the CLI's safeWriter, so line is made
// visible here (control characters escaped; what is escaped already stays as it is).
func (s *termScreen) Print(line string) { fmt.Fprintln(s.t, visibleText(line)) }

func (s *termScreen) Error(msg string) { s.Print("! " + msg) }

func (s *termScreen) Close() error { return term.Restore(s.fd, s.old) }
