//go:build !windows

package daemon

import (
	"errors"
	"os"
	"syscall"
)

// lockExclusive takes flock(2) LOCK_EX without waiting. The lock belongs to the open
// file, so a second open of node.lock (in this process or another) cannot take it.
func lockExclusive(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
