//go:build !linux && !darwin

package localapi

import "errors"

// freeSpace is unknown on this system: uploads are not limited in advance and a full
// disk shows up as a write error.
func freeSpace(string) (int64, error) {
	return 0, errors.New("free space unknown on this system")
}
