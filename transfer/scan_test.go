package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scanner is a stand-in for an office's virus scanner: it refuses files containing
// EICAR, saying so on stdout, and lets everything else pass.
var scanner = []string{"sh", "-c", `if grep -q EICAR "$1"; then echo "infected: EICAR test signature"; exit 1; fi`, "scanner"}

// TestScanQuarantines: a file the scanner refuses is never released: it stays in the
// quarantine folder as a .part file, both sides say quarantined with the scanner's
// reason, and the clean files of the same transfer are released.
func TestScanQuarantines(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.ScanCmd = scanner })
	dir := filepath.Join(t.TempDir(), "inbox")
	writeFile(t, filepath.Join(dir, "clean.txt"), "hello", 0644)
	writeFile(t, filepath.Join(dir, "bad", "eicar.com"), "X5O!P%@AP EICAR", 0755)
	info := a.send(b, dir)
	got, err := b.wait(info.ID)
	if !errors.Is(err, ErrQuarantined) || !strings.Contains(got.Error, "infected: EICAR") || !strings.Contains(got.Error, "inbox/bad/eicar.com") {
		t.Fatalf("receiver: %s %q, want quarantined with the scanner's reason", got.State, got.Error)
	}
	sent, err := a.wait(info.ID)
	if !errors.Is(err, ErrQuarantined) || !strings.Contains(sent.Error, "infected") {
		t.Errorf("sender: %s %q, want quarantined with the reason", sent.State, sent.Error)
	}
	sameFile(t, filepath.Join(dir, "clean.txt"), filepath.Join(b.cfg.Downloads, "inbox", "clean.txt"))
	if _, err := os.Stat(filepath.Join(b.cfg.Downloads, "inbox", "bad", "eicar.com")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the refused file was released")
	}
	q := filepath.Join(b.cfg.Downloads, quarantineDir, info.ID, "inbox", "bad", "eicar.com.part")
	fi, err := os.Stat(q)
	if err != nil || fi.Mode().Perm()&0111 != 0 {
		t.Errorf("quarantined file %s: %v (mode %v)", q, err, fi)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.Downloads, partialDir)); !errors.Is(err, os.ErrNotExist) {
		t.Error("the staging folder is left over")
	}
}

// TestScanPasses: a clean transfer goes through the scanner and completes.
func TestScanPasses(t *testing.T) {
	var states []State
	a, b := pair(t, nil, func(c *Config) { c.ScanCmd = scanner })
	src := filepath.Join(t.TempDir(), "ok.txt")
	writeFile(t, src, "nothing to see", 0644)
	info := a.send(b, src)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.eventsFor(info.ID) {
		states = append(states, e.State)
	}
	if !slices.Contains(states, StateScanning) {
		t.Errorf("states %v, want scanning among them", states)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "ok.txt"))
}

// TestScannerMissing: a scanner that cannot run quarantines (nothing unchecked is
// released when a check was asked for).
func TestScannerMissing(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.ScanCmd = []string{filepath.Join(t.TempDir(), "no-such-scanner")} })
	src := filepath.Join(t.TempDir(), "ok.txt")
	writeFile(t, src, "x", 0644)
	info := a.send(b, src)
	if got, err := b.wait(info.ID); !errors.Is(err, ErrQuarantined) {
		t.Fatalf("receiver: %s %q", got.State, got.Error)
	}
}

// TestSendRefusesNonPortableNames: the sender refuses, before offering, a folder whose
// names would break on the receiver's system, naming the file and what to do.
func TestSendRefusesNonPortableNames(t *testing.T) {
	a, b := pair(t, nil, nil)
	for name, files := range map[string][]string{
		"colon":  {"meeting 10:30.txt"},
		"case":   {"Readme", "README"},
		"dotend": {"draft."},
	} {
		dir := filepath.Join(t.TempDir(), name)
		for _, f := range files {
			writeFile(t, filepath.Join(dir, f), "x", 0644)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		_, err := a.m.Send(ctx, b.h.ID(), []string{dir})
		cancel()
		if err == nil || !strings.Contains(err.Error(), files[len(files)-1][:4]) || !strings.Contains(err.Error(), "rename") {
			t.Errorf("%s: Send = %v, want refused naming the file and saying to rename it", name, err)
		}
	}
	if n := len(b.m.List()); n != 0 {
		t.Errorf("the receiver got %d offers", n)
	}
}
