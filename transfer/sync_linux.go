package transfer

import "golang.org/x/sys/unix"

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
