package localapi

import "github.com/parley-im/parley/internal/osfile"

// freeSpace is the number of bytes this user can still write under dir (see
// osfile.FreeSpace); where it is unknown, uploads are not limited in advance and a
// full disk shows up as a write error.
func freeSpace(dir string) (int64, error) { return osfile.FreeSpace(dir) }
