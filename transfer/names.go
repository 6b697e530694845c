package transfer

import (
	"errors"
	"fmt"
	"slices"
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
// every component is a plain name that is safe to create on Linux, macOS and Windows:
// no Windows-reserved character (: < > " | ? *), no trailing dot or space. Checking
// that two paths of one offer do not differ only in case is Manifest.Validate's job.
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
	case strings.ContainsAny(c, windowsReserved):
		i := strings.IndexAny(c, windowsReserved)
		return fmt.Errorf("%q holds %q, which Windows does not allow in names", c, c[i])
	case strings.HasSuffix(c, ".") || strings.HasSuffix(c, " "):
		return fmt.Errorf("%q ends in a dot or a space, which Windows drops (it would become another name)", c)
	case top && isReservedTop(c):
		return fmt.Errorf("%q is reserved for Parley's own use", c)
	}
	return nil
}

// windowsReserved are the printable characters Windows refuses in a name.
const windowsReserved = `:<>"|?*`

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

// checkCase refuses two entries, or two folders on the way to them, whose names differ
// only in case ("Readme" and "README", "docs/a" and "Docs/b"): Windows and macOS store
// them as one, so such a folder would arrive half overwritten or merged. It sorts the
// lower-cased paths with "/" lowest, so the paths under one lower-cased folder are
// contiguous and comparing neighbours finds every clash: O(n log n) for any offer.
func checkCase(entries []Entry) error {
	type folded struct{ key, orig string }
	fs := make([]folded, len(entries))
	for i := range entries {
		p := entries[i].Path
		fs[i] = folded{key: strings.ReplaceAll(strings.ToLower(p), "/", "\x00"), orig: p}
	}
	slices.SortFunc(fs, func(a, b folded) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(fs); i++ {
		a, b := fs[i-1], fs[i]
		n := commonComponents(a.key, b.key)
		pa, pb := firstComponents(a.orig, n), firstComponents(b.orig, n)
		if pa != pb {
			return fmt.Errorf("%w: %q and %q differ only in case, and Windows and macOS would store them as one",
				ErrBadName, clip(pa), clip(pb))
		}
	}
	return nil
}

// commonComponents counts the leading components two keys (components separated by
// NUL) share.
func commonComponents(a, b string) int {
	n := 0
	for {
		ca, ra, moreA := strings.Cut(a, "\x00")
		cb, rb, moreB := strings.Cut(b, "\x00")
		if ca != cb {
			return n
		}
		n++
		if !moreA || !moreB {
			return n
		}
		a, b = ra, rb
	}
}

// firstComponents is the first n slash-separated components of p.
func firstComponents(p string, n int) string {
	end := 0
	for i := 0; i < n; i++ {
		j := strings.IndexByte(p[end:], '/')
		if j < 0 {
			return p
		}
		if i == n-1 {
			return p[:end+j]
		}
		end += j + 1
	}
	return p[:0]
}
