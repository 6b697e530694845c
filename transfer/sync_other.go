//go:build !linux

package transfer

// syncFS is not available here: every file is fsynced on its own.
func (m *Manager) syncFS() bool { return false }
