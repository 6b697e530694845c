package osfile

import (
	"fmt"
	"os"
)

// WritePrivate writes data to path like os.WriteFile, creating it private (see
// OpenPrivate) if it does not exist.
func WritePrivate(path string, data []byte) error {
	f, err := OpenPrivate(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
