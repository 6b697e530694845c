package transfer

import "os"

// syncFS is not available on Windows (flushing a whole volume needs administrator
// rights): every file is flushed on its own with FlushFileBuffers (Go's File.Sync).
func (m *Manager) syncFS() bool { return false }

// startWriteback has no equivalent: the flush at release does all the work.
func startWriteback(*os.File, int64, int64) {}

// syncDir does nothing on Windows: a directory opened for reading cannot be flushed
// (FlushFileBuffers wants write access and fails with "Access is denied"), and NTFS
// journals the rename itself. The file's own contents were flushed before the rename.
func syncDir(string) error { return nil }
