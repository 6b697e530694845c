//go:build !windows

package transfer

import "os"

// fsyncDir fsyncs a directory, which is how Unix makes the names in it durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
