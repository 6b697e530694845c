package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "81f8e2d1ab3c4d5e6f708192a3b4c5d6e7f80912"},
		{Key: "vcs.time", Value: "2026-12-04T20:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	noVCS := &debug.BuildInfo{GoVersion: "go1.26.8"}
	if got, want := formatVersion("v0.4.0", "0123456789abcdef", noVCS, "windows/amd64"), "v0.4.0 (commit 0123456789ab, go1.26.8, windows/amd64)"; got != want {
		t.Errorf("with the ldflags commit: %q, want %q", got, want)
	}
	for _, tc := range []struct {
		release string
		info    *debug.BuildInfo
		want    string
	}{
		{"v0.4.0", info, "v0.4.0 (commit 81f8e2d1ab3c+dirty, 2026-12-04T20:00:00Z, go1.26.8, linux/arm64)"},
		{"", info, "dev (commit 81f8e2d1ab3c+dirty"},
		{"", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.1"}}, "v0.4.1 (commit unknown, go1.26.8, linux/arm64)"},
		{"", nil, "-dev (linux/arm64)"},
	} {
		if got := formatVersion(tc.release, "", tc.info, "linux/arm64"); !strings.Contains(got, tc.want) {
			t.Errorf("formatVersion(%q) = %q, want it to contain %q", tc.release, got, tc.want)
		}
	}
}

// TestVersionFlag: parley --version prints the version line and exits 0.
func TestVersionFlag(t *testing.T) {
	r := parley(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "parley version ") || !strings.Contains(r.stdout, "commit ") {
		t.Errorf("parley --version: %s", r)
	}
}
