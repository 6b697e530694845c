//go:build !unix

package discovery

import "syscall"

// reusePort does nothing where SO_REUSEPORT does not exist (Windows): there a second program
// holding UDP 5353 makes listenMDNS fail, which is logged and retried every round.
func reusePort(network, address string, c syscall.RawConn) error { return nil }
