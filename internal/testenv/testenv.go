// Package testenv decides what a test does when this machine lacks something it needs
// (root, a tool, a browser): it skips with a loud reason, or fails when the CI
// environment variable is set, because CI must run every test. scripts/install-deps.sh
// installs what the tests need.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Need stops t when err is not nil: a loud skip, or a failure under CI. need says what
// the test needs, e.g. "needs root and iproute2".
func Need(t testing.TB, need string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s (run scripts/install-deps.sh as root): %v", need, err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI must run this test, not skip it", msg)
	}
	t.Skip("SKIPPING: " + msg)
}

// Tool returns the path of the first of names found on PATH, or stops t as Need does.
func Tool(t testing.TB, need string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Need(t, need, fmt.Errorf("none of %v on PATH", names))
	return ""
}
