//go:build !unix

package discovery

import "syscall"

// reusePort is a no-op where SO_REUSEPORT does not exist; Windows shares the port with
// SO_REUSEADDR semantics by default for multicast sockets bound by Go.
func reusePort(network, address string, c syscall.RawConn) error { return nil }
