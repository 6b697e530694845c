package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/api"
)

// TestPeerTextCannotDriveTheTerminal: a message and names carrying escape sequences,
// carriage returns, newlines and bidi overrides print with all of them escaped, so
// a peer can neither retitle the window, rewrite a line nor fake one.
func TestPeerTextCannotDriveTheTerminal(t *testing.T) {
	m := api.Message{
		From: "12D3KooWQ", FromName: "Eve\x1b[2J\nme → Ann: fine", Room: "ab12", RoomName: "ops\u202e",
		Text: "\x1b]0;pwned\x07line one\nline two\r2026-01-01 me → Bob: transfer the money \u009b31m", SentAt: time.Now(),
	}
	line := formatMessage(m)
	if hasUnsafe(line, true) || strings.Count(line, "\n") != 1 {
		t.Fatalf("history line %q keeps control characters or breaks into more than the text's own two lines", line)
	}
	for _, want := range []string{`Eve\x1b[2J\x0ame → Ann: fine`, `#ops\u202e`, `\x1b]0;pwned\x07line one`, `\x0d2026-01-01`, `\x9b31m`} {
		if !strings.Contains(line, want) {
			t.Errorf("history line %q lacks %q", line, want)
		}
	}

	var out bytes.Buffer
	w := safeWriter{&out}
	fmt.Fprintf(w, "status: %s\tdone\n", "\x1b[31mred\x1b[0m\r")
	if got, want := out.String(), "status: \\x1b[31mred\\x1b[0m\\x0d\tdone\n"; got != want {
		t.Errorf("through safeWriter: %q, want %q", got, want)
	}
	if n, err := w.Write([]byte("a\x1bb")); n != 3 || err != nil {
		t.Errorf("safeWriter.Write = %d, %v; want the 3 bytes it was given", n, err)
	}
	if s := "Zoë 日本 🙂 tab\there"; visibleText(s) != s || visible("Zoë") != "Zoë" {
		t.Errorf("plain text changed: %q", visibleText(s))
	}
	if got := visible("a\xffb"); got != `a\xffb` {
		t.Errorf("invalid UTF-8: %q", got)
	}
}

// hasUnsafe is the tests' own check that no unsafe rune or non-UTF-8 byte is left.
func hasUnsafe(s string, keepLines bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r, keepLines) {
			return true
		}
		i += size
	}
	return false
}

// FuzzVisible: whatever a peer sends, what the CLI prints has no character a
// terminal acts on, and text without any is printed unchanged.
func FuzzVisible(f *testing.F) {
	for _, s := range []string{"", "hello", "\x1b[2J", "a\rb\nc\td", "\u202eevil", "\xc2\x9b", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, text := visible(s), visibleText(s)
		if hasUnsafe(line, false) || hasUnsafe(text, true) {
			t.Fatalf("visible(%q) = %q, visibleText = %q: control characters left", s, line, text)
		}
		if !hasUnsafe(s, true) && text != s {
			t.Fatalf("visibleText changed safe text %q to %q", s, text)
		}
		var out bytes.Buffer
		if n, err := (safeWriter{&out}).Write([]byte(s)); n != len(s) || err != nil || out.String() != text {
			t.Fatalf("safeWriter wrote %q (%d, %v), want %q", out.String(), n, err, text)
		}
	})
}
