package daemon

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestHomeLock takes the home lock twice (a second open of node.lock, as a second
// node would): flock on Unix, LockFileEx on Windows must both refuse it, name the
// holder's pid, and let go on release.
func TestHomeLock(t *testing.T) {
	home := t.TempDir()
	l, err := lockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockHome(home)
	if !errors.Is(err, ErrAlreadyRunning) {
		l.release()
		t.Fatalf("second lockHome = %v, want ErrAlreadyRunning", err)
	}
	if want := "(pid " + strconv.Itoa(os.Getpid()) + ")"; !strings.Contains(err.Error(), want) {
		t.Errorf("second lockHome = %q, want it to name the holder %s", err, want)
	}
	l.release()
	l, err = lockHome(home)
	if err != nil {
		t.Fatalf("lockHome after release: %v", err)
	}
	l.release()
}
