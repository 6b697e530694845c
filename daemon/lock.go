package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFile is held by the running node for as long as it runs (flock on Unix,
// LockFileEx on Windows); the kernel releases it if the process dies, so a kill -9
// never leaves a stale lock. It holds the node's pid, for the error a second node
// gets.
const lockFile = "node.lock"

// errLocked is what lockFileEx/flock report when another process holds the lock.
var errLocked = errors.New("locked by another process")

type homeLock struct{ f *os.File }

func lockHome(home string) (*homeLock, error) {
	path := filepath.Join(home, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := lockExclusive(f); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w for home %s (pid %s): stop it first, or use another --home",
				ErrAlreadyRunning, home, strings.TrimSpace(string(pid)))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &homeLock{f: f}, nil
}

func (l *homeLock) release() {
	unlock(l.f)
	l.f.Close()
}
