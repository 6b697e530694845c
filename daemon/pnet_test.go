package daemon

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/node"
	"github.com/parley-im/parley/rendezvous"
)

// A rendezvous server in a private network serves members and refuses everyone else.
func TestRendezvousPrivateNetwork(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s := startRendezvous(t, RendezvousOptions{NetworkKey: key, STUN: Off, Metrics: Off})
	member, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.PrivateNetwork(key), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	if _, err := rendezvous.NewClient(member, s.addrInfo(t)).Register(ctx, "parley", 0); err != nil {
		t.Fatalf("a member's register: %v", err)
	}
	if err := clientHost(t).Connect(ctx, s.addrInfo(t)); err == nil {
		t.Fatal("a host without the network key connected to the server")
	}
}

func TestRendezvousPrivateNetworkRefusesQUIC(t *testing.T) {
	err := RunRendezvous(context.Background(), RendezvousOptions{
		Home: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}, STUN: Off, Metrics: Off,
		NetworkKey: bytes.Repeat([]byte{7}, 32),
	})
	if !errors.Is(err, node.ErrQUICPrivateNetwork) {
		t.Fatalf("RunRendezvous with a key and a QUIC address = %v, want ErrQUICPrivateNetwork", err)
	}
}

func TestRendezvousPrivateNetworkDefaultsToTCP(t *testing.T) {
	o := RendezvousOptions{NetworkKey: bytes.Repeat([]byte{7}, 32)}.withDefaults()
	if len(o.Listen) == 0 || slices.ContainsFunc(o.Listen, node.IsUDPAddr) {
		t.Errorf("default listen addresses with a network key: %v, want TCP only", o.Listen)
	}
	if !slices.ContainsFunc(DefaultRendezvousListen, node.IsUDPAddr) {
		t.Errorf("DefaultRendezvousListen lost its QUIC address: %v", DefaultRendezvousListen)
	}
}
