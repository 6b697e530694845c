package daemon

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRegion is the byte range LockFileEx locks: one byte at 4 GiB, far past the pid
// at the start of node.lock, because Windows locks are mandatory and a lock over the
// pid would stop the second node from reading whose lock it hit.
var lockRegion = windows.Overlapped{OffsetHigh: 1}

// lockExclusive takes an exclusive LockFileEx lock without waiting. The lock belongs
// to the handle, so a second open of node.lock (in this process or another) cannot
// take it; Windows drops it when the process exits, however it exits.
func lockExclusive(f *os.File) error {
	ol := lockRegion
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) {
	ol := lockRegion
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
