package transfer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// relayedPair builds a relay r and two hosts a and b, all on loopback, where a's only
// connection to b goes through r (a limited connection with the default relay limits).
func relayedPair(t *testing.T) (a, b host.Host) {
	t.Helper()
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(tls.ID, tls.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport), libp2p.EnableRelay())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	r, a, b := mk(), mk(), mk()
	svc, err := relay.New(r, relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	rinfo := peer.AddrInfo{ID: r.ID(), Addrs: r.Addrs()}
	ctx := context.Background()
	if err := b.Connect(ctx, rinfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, b, rinfo); err != nil {
		t.Fatal(err)
	}
	circuit := ma.StringCast(r.Addrs()[0].String() + "/p2p/" + r.ID().String() + "/p2p-circuit")
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range a.Network().ConnsToPeer(b.ID()) {
		if !c.Stat().Limited {
			t.Fatal("test setup: a has a direct connection to b")
		}
	}
	return a, b
}

// TestRelayRefused: files move over direct connections only: a Send to a peer reachable
// only through a relay fails at once with a message that says so.
func TestRelayRefused(t *testing.T) {
	ha, hb := relayedPair(t)
	a, b := newSide(t, ha, nil), newSide(t, hb, nil)
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "over a relay?", 0644)
	info, err := a.m.Send(context.Background(), b.h.ID(), []string{src})
	if !errors.Is(err, ErrRelayOnly) || info.State != StateFailed || !strings.Contains(info.Error, "relay") {
		t.Fatalf("Send over a relay: %s %q %v; want failed, ErrRelayOnly", info.State, info.Error, err)
	}
	if len(b.m.List()) != 0 {
		t.Error("the receiver heard of the transfer")
	}
}

// TestRelayAllowed: with AllowRelay on both sides, a small file (inside the relay's
// default 128 KiB budget) goes through the relay.
func TestRelayAllowed(t *testing.T) {
	ha, hb := relayedPair(t)
	allow := func(c *Config) { c.AllowRelay = true }
	a, b := newSide(t, ha, allow), newSide(t, hb, allow)
	src := filepath.Join(t.TempDir(), "small.txt")
	writeRandom(t, src, 10<<10)
	info := a.send(b, src)
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "small.txt"))
	for _, c := range ha.Network().ConnsToPeer(hb.ID()) {
		if !c.Stat().Limited {
			t.Error("a direct connection appeared: the test did not go through the relay")
		}
	}
}
