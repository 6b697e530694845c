//go:build !linux

package transfer

import "testing"

// mountTmpfs needs Linux's tmpfs: the disk-full tests run on Linux only.
func mountTmpfs(t *testing.T, _ string) string {
	t.Skip("SKIPPING: the disk-full tests mount a tmpfs, which only Linux has")
	return ""
}
