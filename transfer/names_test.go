package transfer

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidatePath(t *testing.T) {
	good := []string{
		"a", "a.txt", "photos/2024/IMG 0001.jpg", ".bashrc", "dir/.hidden", "ünïcødé/名前.txt",
		"CONSOLE", "com10", "lpt0.txt", "nul-not", "a..b", "...x", strings.Repeat("n", MaxNameLen),
		strings.Repeat("d/", (MaxPathLen-1)/2) + "f",
	}
	for _, p := range good {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want ok", clip(p), err)
		}
	}
	bad := []string{
		"", "/etc/passwd", "../../etc/passwd", "a/../../b", "a/./b", ".", "..", "a/", "a//b",
		"a\\b", "..\\..\\windows", "a\x00b", "tab\tname", "line\nbreak", "del\x7f", "c1\u0085",
		"CON", "con.txt", "Aux.tar.gz", "dir/NUL", "COM1", "lpt9.log", "prn ", "nul .txt",
		strings.Repeat("n", MaxNameLen+1), strings.Repeat("d/", MaxPathLen/2) + "f",
		"\xff\xfe", ".parley-partial/x", ".PARLEY-QUARANTINE", "x/.parley-partial",
	}
	for _, p := range bad[:len(bad)-1] {
		if err := ValidatePath(p); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidatePath(%q) = %v, want ErrBadName", clip(p), err)
		}
	}
	if err := ValidatePath("x/.parley-partial"); err != nil {
		t.Errorf("a reserved name below the top is harmless: %v", err)
	}
}

// FuzzValidatePath: an accepted path must be one a receiver can join under its
// downloads folder without leaving it, on any OS.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a", "a/b.txt", "../x", "/abs", "a\\b", "CON.txt", "a//b", "ok/..", "\x00", ".parley-partial", "a:b", "x.", "y /z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		if !utf8.ValidString(p) || len(p) > MaxPathLen || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("accepted %q", p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxNameLen || isDeviceName(c) ||
				strings.ContainsAny(c, windowsReserved) || strings.HasSuffix(c, ".") || strings.HasSuffix(c, " ") {
				t.Fatalf("accepted %q with component %q", p, c)
			}
		}
	})
}

// TestPortableNames: names Windows or macOS cannot store are refused at the offer, with
// the reason: Windows-reserved characters, a trailing dot or space, and two paths that
// differ only in case (one of them would overwrite or merge with the other).
func TestPortableNames(t *testing.T) {
	for _, p := range []string{
		"a:b", "dir/x<y", "x>y", `say "hi"`, "a|b", "what?", "star*", "notes.", "notes ",
		"dir./file", "dir /file", "...", "a/b.",
	} {
		err := ValidatePath(p)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "Windows") {
			t.Errorf("ValidatePath(%q) = %v, want refused, naming Windows", p, err)
		}
	}
	for _, p := range []string{".hidden", "a.b", "x..y", "trailing.dot.txt", " leading space"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want ok", p, err)
		}
	}
	file := func(p string) Entry { return Entry{Path: p, Kind: KindFile, Mode: 0644, Hash: FileHash(nil)} }
	dir := func(p string) Entry { return Entry{Path: p, Kind: KindDir, Mode: 0755} }
	for _, entries := range [][]Entry{
		{file("Readme"), file("README")},
		{dir("Photos"), file("Photos/a.jpg"), dir("photos"), file("photos/b.jpg")},
		{file("docs/A.txt"), file("Docs/b.txt")},
		{file("x"), file("X/y")},
		{file("Straße"), file("straße")},
	} {
		man := Manifest{ChunkSize: ChunkSize, Entries: entries}
		err := man.Validate()
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "case") {
			t.Errorf("%v: Validate = %v, want refused: differ only in case", entries, err)
		}
	}
	ok := Manifest{ChunkSize: ChunkSize, Entries: []Entry{dir("a"), file("a/x"), file("a/y"), file("b")}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a plain folder: %v", err)
	}
}
