package node

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
)

func networkKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, crypto.NetworkKeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// startPrivateNode runs a node on loopback TCP in the private network of key.
func startPrivateNode(t *testing.T, name string, key []byte, peers ...string) *Node {
	t.Helper()
	home := t.TempDir()
	id, err := crypto.Create(home, name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StaticPeers: peers, NetworkKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestPrivateNetworkMembersConnect(t *testing.T) {
	key := networkKey(t)
	a := startPrivateNode(t, "Ann", key)
	b := startPrivateNode(t, "Bob", key, fullAddr(a))
	waitUntil(t, "both members named and online", func() bool {
		return hasOnline(a.Peers(), "Bob") && hasOnline(b.Peers(), "Ann")
	})
	if _, err := b.Send(context.Background(), "Ann", "inside"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the message inside the private network", func() bool { return len(received(t, a)) == 1 })
}

// A host without the key, or with another one, cannot complete a handshake with a
// member, and the member never lists it.
func TestPrivateNetworkKeepsOthersOut(t *testing.T) {
	a := startPrivateNode(t, "Ann", networkKey(t))
	ai, err := peer.AddrInfoFromString(fullAddr(a))
	if err != nil {
		t.Fatal(err)
	}
	outsiders := map[string][]libp2p.Option{
		"no key":      {libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")},
		"another key": {libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.PrivateNetwork(networkKey(t))},
	}
	for name, opts := range outsiders {
		t.Run(name, func(t *testing.T) {
			h, err := libp2p.New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := h.Connect(ctx, *ai); err == nil {
				t.Fatal("an outsider connected to a private network")
			}
			if a.host.Network().Connectedness(h.ID()) == network.Connected {
				t.Error("the member holds a connection to the outsider")
			}
		})
	}
	// A node without the key, told to keep connected to Ann, never gets through either.
	c := startNode(t, "Cat", fullAddr(a))
	time.Sleep(2 * time.Second)
	if len(a.Peers()) != 0 || a.host.Network().Connectedness(c.host.ID()) == network.Connected || slices.ContainsFunc(c.Peers(), func(p api.Peer) bool { return p.Presence == api.PresenceOnline }) {
		t.Errorf("peers across the private-network boundary: Ann sees %v, Cat sees %v", a.Peers(), c.Peers())
	}
}

func TestPrivateNetworkRefusesQUIC(t *testing.T) {
	home := t.TempDir()
	id, err := crypto.Create(home, "Ann")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}, NetworkKey: networkKey(t)})
	if !errors.Is(err, ErrQUICPrivateNetwork) {
		t.Fatalf("QUIC listen address with a network key: %v, want ErrQUICPrivateNetwork", err)
	}
}
