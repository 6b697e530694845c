//go:build !(linux || darwin || windows)

package osfile

import "errors"

// FreeSpace is unknown on this system: callers skip their check, and a full disk
// shows up as a clear write error instead.
func FreeSpace(string) (int64, error) {
	return 0, errors.New("free space unknown on this system")
}
