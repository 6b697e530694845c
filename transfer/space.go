package transfer

import "github.com/parley-im/parley/internal/osfile"

// freeSpace is the number of bytes this user can still write under dir: statfs on
// Linux and macOS, GetDiskFreeSpaceEx on Windows. Where it is unknown the check is
// skipped and a full disk shows up as a clear write error instead.
func freeSpace(dir string) (int64, error) { return osfile.FreeSpace(dir) }
