package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes everything written to the file system of the downloads folder: one
// syncfs(2) instead of an fsync per file, for transfers of many files.
func (m *Manager) syncFS() bool {
	d, err := m.root.Open(".")
	if err != nil {
		return false
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd())) == nil
}

// startWriteback asks the kernel to start writing a just-written chunk to disk without
// waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE). Dirty data then never piles up
// to the size of the file, so the fsync at release has little left to do instead of
// flushing gigabytes at the very end.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error { return fsyncDir(dir) }
