package node

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/rendezvous"
)

// TestFoundThroughRendezvous: two nodes with no mDNS and no --peer find each other only
// through a rendezvous server, and talk.
func TestFoundThroughRendezvous(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := rendezvous.NewServer(h, rendezvous.ServerConfig{})
	t.Cleanup(func() { srv.Close(); h.Close() })
	addr := h.Addrs()[0].String() + "/p2p/" + h.ID().String()

	start := func(name string) *Node {
		home := t.TempDir()
		id, err := crypto.Create(home, name)
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Rendezvous: []string{addr}, Namespace: "team"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a, b := start("Ann"), start("Bob")
	waitUntil(t, "found through the server", func() bool { return hasOnline(a.Peers(), "Bob") && hasOnline(b.Peers(), "Ann") })
	// Whoever dialled first is "inbound" to the other until its own next poll of the
	// server reports the peer too.
	waitUntil(t, "both listed via rendezvous", func() bool {
		return via(a.Peers(), "Bob") == ViaRendezvous && via(b.Peers(), "Ann") == ViaRendezvous
	})
	if res, err := a.Send(context.Background(), "Bob", "via the server"); err != nil || res.Message.State != api.StateDelivered {
		t.Errorf("send: %+v, %v", res, err)
	}
}

func TestBadRendezvousAddress(t *testing.T) {
	home := t.TempDir()
	id, _ := crypto.Create(home, "Ann")
	if _, err := New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Rendezvous: []string{"/ip4/127.0.0.1/tcp/1"}}); err == nil {
		t.Error("a rendezvous address without /p2p/ was accepted")
	}
}

func via(peers []api.Peer, name string) string {
	for _, p := range peers {
		if p.Name == name {
			return p.Via
		}
	}
	return ""
}
