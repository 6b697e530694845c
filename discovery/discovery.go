package discovery

import (
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Peer is a Parley node found by some source.
type Peer struct {
	ID    peer.ID
	Name  string         // display name it advertises
	Addrs []ma.Multiaddr // without the /p2p/ suffix
	Via   string         // the source that found it: "mdns"
}

// Source is what the node needs from any discovery mechanism.
type Source interface {
	Start() error
	Close() error
}
