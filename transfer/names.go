package transfer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on the names in an offer.
const (
	MaxPathLen = 4096 // bytes in one slash-separated path
	MaxNameLen = 255  // bytes in one path component
)

// Names at the top of the downloads folder that belong to this package: no offer may
// use them, so a peer cannot reach into another transfer's partial or quarantined data.
const (
	partialDir    = ".parley-partial"
	quarantineDir = ".parley-quarantine"
)

// ErrBadName wraps every reason a path from an offer is refused.
var ErrBadName = errors.New("unsafe file name")

// ValidatePath checks one path of an offer: a relative, slash-separated path whose
// every component is a plain name that is safe to create on Linux, macOS and Windows.
func ValidatePath(p string) error {
	if err := checkWholePath(p); err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadName, clip(p), err)
	}
	for i, c := range strings.Split(p, "/") {
		if err := checkComponent(c, i == 0); err != nil {
			return fmt.Errorf("%w %q: %v", ErrBadName, clip(p), err)
		}
	}
	return nil
}

func checkWholePath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > MaxPathLen:
		return fmt.Errorf("path is %d bytes; at most %d are allowed", len(p), MaxPathLen)
	case !utf8.ValidString(p):
		return errors.New("not valid UTF-8")
	case p[0] == '/':
		return errors.New("absolute path")
	case strings.Contains(p, "\\"):
		return errors.New("backslash in name")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return fmt.Errorf("control character %U in name", r)
		}
	}
	return nil
}

func checkComponent(c string, top bool) error {
	switch {
	case c == "":
		return errors.New("empty path component")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q", c)
	case len(c) > MaxNameLen:
		return fmt.Errorf("component is %d bytes; at most %d are allowed", len(c), MaxNameLen)
	case isDeviceName(c):
		return fmt.Errorf("%q is a Windows device name", c)
	case top && isReservedTop(c):
		return fmt.Errorf("%q is reserved for Parley's own use", c)
	}
	return nil
}

// isDeviceName reports whether c names a Windows device: CON, PRN, AUX, NUL, COM1-9 or
// LPT1-9, in any case, with or without an extension ("nul.txt", "Com1.tar.gz").
func isDeviceName(c string) bool {
	base, _, _ := strings.Cut(c, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		return base[3] >= '1' && base[3] <= '9'
	}
	return false
}

func isReservedTop(c string) bool {
	return strings.EqualFold(c, partialDir) || strings.EqualFold(c, quarantineDir)
}

// clip shortens a hostile name for error messages.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:80] + "…"
}
