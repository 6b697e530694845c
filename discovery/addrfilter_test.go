package discovery

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// ifaceAddrs are an interface's addresses as net.Interface.Addrs gives them.
func ifaceAddrs(t *testing.T, cidrs ...string) []net.Addr {
	t.Helper()
	var out []net.Addr
	for _, c := range cidrs {
		ip, ipn, err := net.ParseCIDR(c)
		if err != nil {
			t.Fatal(err)
		}
		ipn.IP = ip
		out = append(out, ipn)
	}
	return out
}

func TestLinkOf(t *testing.T) {
	l := LinkOf(ifaceAddrs(t, "198.18.0.5/24", "fe80::1/64", "127.0.0.1/8", "fd00:1::5/64", "169.254.3.4/16"))
	want := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("fd00:1::/64")}
	if !slices.Equal(l.Subnets, want) || l.Source.IsValid() {
		t.Fatalf("LinkOf = %+v, want subnets %v (loopback and link-local left out) and no source", l, want)
	}
}

// TestFitLink: only addresses in the subnets of the interface an answer arrived on, or its
// source address, are kept; other subnets, loopback, link-local, names and relays are not.
func TestFitLink(t *testing.T) {
	link := LinkOf(ifaceAddrs(t, "198.18.0.5/24", "fd00:1::5/64", "fe80::5/64"))
	keep := []string{
		"/ip4/198.18.0.7/tcp/4747",
		"/ip4/198.18.0.7/udp/4747/quic-v1",
		"/ip6/fd00:1::7/tcp/4747",
	}
	drop := []string{
		"/ip4/198.18.1.7/tcp/4747",   // another subnet: a third host
		"/ip4/10.0.0.1/tcp/22",       // elsewhere
		"/ip4/127.0.0.1/tcp/4747",    // the dialer's own loopback
		"/ip6/::1/tcp/4747",          // likewise
		"/ip6/fe80::7/tcp/4747",      // link-local: no zone, and never in a record
		"/ip4/169.254.0.7/tcp/4747",  // link-local
		"/ip4/0.0.0.0/tcp/4747",      // unspecified
		"/ip4/224.0.0.251/udp/5353",  // multicast
		"/dns4/example.com/tcp/4747", // a name resolves anywhere
		"/ip6zone/eth0/ip6/fe80::7/tcp/4747",
		"/ip4/198.18.0.7/tcp/4747/p2p/12D3KooWGzh2bTTmbGXFkEPXbavRfygRa3mCTWpQ1mRVRKF7Hzvx/p2p-circuit", // a relay dials for us
	}
	got := FitLink(maddrs(t, append(slices.Clone(keep), drop...)...), link)
	if s := strs(got); !slices.Equal(s, keep) {
		t.Fatalf("FitLink kept %v, want %v", s, keep)
	}
	if got := FitLink(maddrs(t, drop...), Link{}); len(got) != 0 {
		t.Fatalf("with no subnet, kept %v", strs(got))
	}
}

// TestFitLinkSource: the answer's source address is accepted even outside the interface's
// subnets (a peer with a /32, or an answer that came through), never loopback.
func TestFitLinkSource(t *testing.T) {
	link := Link{Subnets: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}, Source: netip.MustParseAddr("192.0.2.9")}
	got := strs(FitLink(maddrs(t, "/ip4/192.0.2.9/tcp/4747", "/ip4/192.0.2.10/tcp/4747"), link))
	if !slices.Equal(got, []string{"/ip4/192.0.2.9/tcp/4747"}) {
		t.Fatalf("kept %v, want only the source address", got)
	}
	loop := Link{Source: netip.MustParseAddr("127.0.0.1")}
	if got := FitLink(maddrs(t, "/ip4/127.0.0.1/tcp/4747"), loop); len(got) != 0 {
		t.Fatalf("a loopback source was accepted: %v", strs(got))
	}
}

func strs(addrs []ma.Multiaddr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
