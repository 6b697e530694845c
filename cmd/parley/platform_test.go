package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
)

func TestBrowserCommand(t *testing.T) {
	url := "http://127.0.0.1:4748/login?t=abc&x=1"
	for goos, want := range map[string][]string{
		"linux":   {"xdg-open", url},
		"freebsd": {"xdg-open", url},
		"darwin":  {"open", url},
		"windows": {"rundll32", "url.dll,FileProtocolHandler", url},
	} {
		if got := browserCommand(goos, url); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", goos, got, want)
		}
	}
}

func TestShutdownSignals(t *testing.T) {
	if !slices.Contains(shutdownSignals, os.Interrupt) || !slices.Contains(shutdownSignals, os.Signal(syscall.SIGTERM)) {
		t.Errorf("shutdownSignals = %v, want Interrupt and SIGTERM", shutdownSignals)
	}
}

func TestDownloadsFolder(t *testing.T) {
	def := filepath.Join("/u", ".config", "parley")
	none := func(string) bool { return false }
	old := func(p string) bool { return p == filepath.Join(def, "downloads") }
	dl := filepath.Join("/u", "Downloads")
	for _, tc := range []struct {
		name, goos, home string
		exists           func(string) bool
		want             string
	}{
		{"linux keeps HOME/downloads", "linux", def, none, ""},
		{"macOS, default home, new", "darwin", def, none, filepath.Join(dl, "Parley")},
		{"windows, default home, new", "windows", def, none, filepath.Join(dl, "Parley")},
		{"an existing home keeps its folder", "windows", def, old, ""},
		{"another --home keeps its own", "darwin", "/tmp/second", none, ""},
	} {
		if got := downloadsFolder(tc.goos, tc.home, def, dl, tc.exists); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := downloadsFolder("darwin", def, def, "", none); got != "" {
		t.Errorf("no Downloads folder known: %q, want the node's default", got)
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"clamdscan --no-summary --fdpass": {"clamdscan", "--no-summary", "--fdpass"},
		`"C:\Program Files\Windows Defender\MpCmdRun.exe" -Scan -ScanType 3 -File`: {
			`C:\Program Files\Windows Defender\MpCmdRun.exe`, "-Scan", "-ScanType", "3", "-File"},
		`  a  "" b`: {"a", "", "b"},
		"":          nil,
	} {
		if got := splitCommand(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitCommand(%q) = %q, want %q", in, got, want)
		}
	}
}
