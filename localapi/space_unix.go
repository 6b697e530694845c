//go:build linux || darwin

package localapi

import "syscall"

// freeSpace is the number of bytes an unprivileged user can still write under dir.
func freeSpace(dir string) (int64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), nil
}
