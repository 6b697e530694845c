package rendezvous

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// quotaFrom registers peer p from the connection address addr in a store with a
// per-IP quota of perIP, as the server does.
func quotaFrom(s *store, p, addr string, perIP int) error {
	r := &registration{peer: peer.ID(p), ns: "ns", record: []byte(p), ip: ipGroup(ma.StringCast(addr)),
		expires: time.Now().Add(time.Minute)}
	return s.add(r, quota{perPeer: 16, perIP: perIP})
}

// TestIPQuotaGroupsIPv6By64: a host is given a whole /64, so every address in one /64
// counts as one address for the per-IP quota; other /64s, and IPv4 addresses (one each),
// have quotas of their own.
func TestIPQuotaGroupsIPv6By64(t *testing.T) {
	const perIP = 2
	s := newStore()
	same64 := []string{
		"/ip6/2001:db8:1:2::1/tcp/4001",
		"/ip6/2001:db8:1:2:ffff:ffff:ffff:ffff/udp/4001/quic-v1",
		"/ip6/2001:db8:1:2:abcd:1234:5678:9/tcp/9",
	}
	for i, a := range same64[:perIP] {
		if err := quotaFrom(s, "six-"+a, a, perIP); err != nil {
			t.Fatalf("registration %d from %s: %v", i, a, err)
		}
	}
	if err := quotaFrom(s, "six-third", same64[perIP], perIP); !errors.Is(err, errIPQuota) {
		t.Errorf("a third peer from the same /64 (%s): %v, want %v", same64[perIP], err, errIPQuota)
	}
	for _, a := range []string{"/ip6/2001:db8:1:3::1/tcp/4001", "/ip6/2001:db8:2:2::1/tcp/4001"} {
		if err := quotaFrom(s, "other-"+a, a, perIP); err != nil {
			t.Errorf("a peer from another /64 (%s) was refused: %v", a, err)
		}
	}
	v4 := []string{"/ip4/192.0.2.1/tcp/4001", "/ip4/192.0.2.1/udp/4002/quic-v1"}
	for _, a := range v4 {
		if err := quotaFrom(s, "four-"+a, a, perIP); err != nil {
			t.Fatalf("registration from %s: %v", a, err)
		}
	}
	if err := quotaFrom(s, "four-third", "/ip4/192.0.2.1/tcp/5000", perIP); !errors.Is(err, errIPQuota) {
		t.Errorf("a third peer from 192.0.2.1: %v, want %v", err, errIPQuota)
	}
	if err := quotaFrom(s, "four-next", "/ip4/192.0.2.2/tcp/4001", perIP); err != nil {
		t.Errorf("the next IPv4 address was refused: %v (IPv4 addresses have a quota each)", err)
	}
	t.Logf("per-IP quota keys: %v", s.perIP)
}

func TestIPGroup(t *testing.T) {
	for in, want := range map[string]string{
		"/ip4/192.0.2.7/tcp/1":                              "192.0.2.7",
		"/ip6/2001:db8:1:2:3:4:5:6/tcp/1":                   "2001:db8:1:2::/64",
		"/ip6/2001:db8:1:2::/udp/1/quic-v1":                 "2001:db8:1:2::/64",
		"/ip6/::ffff:192.0.2.7/tcp/1":                       "192.0.2.7", // IPv4-mapped: the IPv4 address
		"/ip6/::1/tcp/1":                                    "::/64",
		"/ip4/198.18.0.1/tcp/1/p2p-circuit":                 "198.18.0.1",
		"/dns4/example.com/tcp/1":                           "/dns4/example.com/tcp/1",
		"/ip6/fe80::1/tcp/1":                                "fe80::/64",
		"/ip6/2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/tcp/1": "2001:db8:ffff:ffff::/64",
	} {
		if got := ipGroup(ma.StringCast(in)); got != want {
			t.Errorf("ipGroup(%s) = %q, want %q", in, got, want)
		}
	}
	if got := ipGroup(nil); got != "" {
		t.Errorf("ipGroup(nil) = %q", got)
	}
}
