package osfile

import "golang.org/x/sys/windows"

// FreeSpace is the number of bytes this user can still write under dir: the "free
// bytes available to caller" of GetDiskFreeSpaceEx, which counts disk quotas.
func FreeSpace(dir string) (int64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return int64(avail), nil
}
