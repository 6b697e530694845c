// Package integration holds end-to-end tests that run real `parley` processes: three
// nodes in three network namespaces finding each other by mDNS alone, and kill -9 of a
// node in the middle of a burst of messages. They need root and iproute2; without them
// they skip loudly, and in CI (CI set) they fail instead of skipping.
//
// File transfers (transfer_test.go, hostile_transfer_test.go) run between a sender and
// a receiver node in two namespaces: 1 GiB of random data, a folder tree with empty
// files and folders, kill -9 of the sender and of the receiver mid-transfer (the link
// shaped with tc tbf so a transfer lasts seconds), a source file tampered with after
// the offer, a full disk (a small tmpfs as the downloads folder), and a hostile peer in
// the test process offering names that try to escape the downloads folder. Files are
// compared by SHA-256 computed in the test, never by the engine's own hashes.
package integration
