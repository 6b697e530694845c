//go:build !linux && !windows

package transfer

import "os"

// syncFS is not available here: every file is fsynced on its own. On macOS that
// fsync is F_FULLFSYNC (Go's File.Sync), which flushes the drive's cache too.
func (m *Manager) syncFS() bool { return false }

// startWriteback has no portable equivalent: the fsync at release does all the work.
func startWriteback(*os.File, int64, int64) {}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error { return fsyncDir(dir) }
