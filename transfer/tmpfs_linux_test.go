package transfer

import (
	"os"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips without root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		const why = "mounting a small tmpfs needs root (CI has it); TestSpaceCheck covers the check itself"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI must run this test, not skip it", why)
		}
		t.Skip("SKIPPING: " + why)
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
