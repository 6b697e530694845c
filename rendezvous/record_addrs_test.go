package rendezvous

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p"
	ma "github.com/multiformats/go-multiaddr"
)

var hostileAddrs = []string{
	"/ip4/198.18.0.9/tcp/4747",
	"/ip4/127.0.0.1/tcp/4747",
	"/ip6/::1/tcp/4747",
	"/ip6/fe80::1/tcp/4747",
	"/ip4/169.254.7.7/tcp/4747",
	"/ip6/fd00::9/udp/4747/quic-v1",
}

func TestRecordAddrs(t *testing.T) {
	addrs := make([]ma.Multiaddr, len(hostileAddrs))
	for i, s := range hostileAddrs {
		addrs[i] = ma.StringCast(s)
	}
	check := func(loopbackOK bool, want ...string) {
		t.Helper()
		var got []string
		for _, a := range RecordAddrs(addrs, loopbackOK) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("RecordAddrs(loopbackOK=%v) = %v, want %v", loopbackOK, got, want)
		}
	}
	check(false, "/ip4/198.18.0.9/tcp/4747", "/ip6/fd00::9/udp/4747/quic-v1")
	check(true, "/ip4/198.18.0.9/tcp/4747", "/ip4/127.0.0.1/tcp/4747", "/ip6/::1/tcp/4747", "/ip6/fd00::9/udp/4747/quic-v1")
}

// TestStoredRecordHasNoLinkLocal: what the server stores, and DISCOVER returns, for a host
// whose addresses include link-local ones carries none of them. (Both ends are on loopback
// here, so loopback addresses stay: see TestRendezvousRecordsHaveNoLoopback in integration
// for a server on another host.)
func TestStoredRecordHasNoLinkLocal(t *testing.T) {
	ctx := testCtx(t)
	_, server := startServer(t, testConfig())
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.AddrsFactory(func(listen []ma.Multiaddr) []ma.Multiaddr {
			out := slices.Clone(listen)
			for _, s := range hostileAddrs {
				out = append(out, ma.StringCast(s))
			}
			return out
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := NewClient(h, server).Register(ctx, "parley", 0); err != nil {
		t.Fatal(err)
	}
	peers, _, err := newClient(t, server).Discover(ctx, "parley", 10, nil)
	if err != nil || len(peers) != 1 {
		t.Fatalf("discover: %v, %v", peers, err)
	}
	for _, a := range peers[0].Addrs {
		if s := a.String(); s == "/ip6/fe80::1/tcp/4747" || s == "/ip4/169.254.7.7/tcp/4747" {
			t.Errorf("the stored record carries the link-local address %s", s)
		}
	}
	if !slices.ContainsFunc(peers[0].Addrs, func(a ma.Multiaddr) bool { return a.String() == "/ip4/198.18.0.9/tcp/4747" }) {
		t.Errorf("the stored record lost the LAN address: %v", peers[0].Addrs)
	}
}
