//go:build !windows

package osfile

import "os"

// OpenPrivate opens path like os.OpenFile; a file it creates has mode 0600.
func OpenPrivate(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag, 0o600)
}

// Check returns an error wrapping ErrReadableByOthers if group or others have any
// permission on path.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return modeError(path, uint32(perm))
	}
	return nil
}
