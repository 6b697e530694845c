// Package integration holds end-to-end tests that run real `parley` processes: three
// nodes in three network namespaces finding each other by mDNS alone, and kill -9 of a
// node in the middle of a burst of messages. They need root and iproute2; without them
// they skip loudly, and in CI (CI set) they fail instead of skipping.
package integration
