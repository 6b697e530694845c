//go:build linux || darwin

package osfile

import "golang.org/x/sys/unix"

// FreeSpace is the number of bytes an unprivileged user can still write under dir
// (statfs f_bavail, which leaves out the blocks reserved for root).
func FreeSpace(dir string) (int64, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), nil
}
