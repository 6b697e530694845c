// Package node is the Parley node: it composes the libp2p host, discovery, the
// direct-message protocol and the archive, keeps the table of known peers, and emits
// events for clients. It prints nothing: the local API and the CLI render what it emits.
package node
