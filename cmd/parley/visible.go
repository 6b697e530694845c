package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Names, statuses, room names and message texts come from other peers. A terminal acts
// on control characters (ESC starts sequences that move the cursor, retitle the window
// or rewrite what is on screen) and bidi controls reorder what is shown, so the CLI
// never prints them as they are: they appear escaped, like \x1b or \u202e.

// visible makes a one-line field safe to print: every control character, a newline
// too, shows as an escape.
func visible(s string) string { return escapeControls(s, false) }

// visibleText is visible for a message text, whose newlines and tabs stay.
func visibleText(s string) string { return escapeControls(s, true) }

// escapeControls returns s with each unsafe rune (and each byte that is not UTF-8)
// written as an escape; s itself when it has none.
func escapeControls(s string, keepLines bool) string {
	var b strings.Builder
	copied := 0 // s[:copied] is in b
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && size == 1
		if invalid || unsafeRune(r, keepLines) {
			b.WriteString(s[copied:i])
			switch {
			case invalid:
				fmt.Fprintf(&b, `\x%02x`, s[i])
			case r < 0x100:
				fmt.Fprintf(&b, `\x%02x`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
			copied = i + size
		}
		i += size
	}
	if copied == 0 {
		return s
	}
	b.WriteString(s[copied:])
	return b.String()
}

// unsafeRune: C0 and C1 controls, DEL, and the bidi embedding, override and isolate
// controls; newline and tab only when keepLines is false.
func unsafeRune(r rune, keepLines bool) bool {
	switch {
	case keepLines && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
		return true
	}
	return false
}

// safeWriter is what the CLI's commands print through: whatever reaches it, a peer's
// text included, leaves with its control characters escaped (newlines and tabs stay).
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	out := visibleText(string(p))
	if len(out) == len(p) { // an escape is always longer: nothing was escaped
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawWriter is the stream under a safeWriter, for the progress bar, which redraws its
// line with carriage returns (its description is made visible first).
func rawWriter(w io.Writer) io.Writer {
	if s, ok := w.(safeWriter); ok {
		return s.w
	}
	return w
}
