package discovery

import (
	"net"
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Link is what an mDNS answer's announced addresses are checked against: where the answer
// arrived. Anyone on the LAN can announce any address for any peer ID, so a node dials only
// addresses that fit the link the answer came over; otherwise a stranger could make every
// node on the LAN dial a host elsewhere (or its own loopback) at once.
type Link struct {
	// Subnets are the interface's networks (its addresses with their masks), without
	// loopback and link-local ones.
	Subnets []netip.Prefix
	// Source is the answer's source address, when the mDNS library tells it (hashicorp/mdns
	// does not: the zero Addr then).
	Source netip.Addr
}

// LinkOf returns the Link of an interface with the given addresses (as net.Interface.Addrs
// returns them).
func LinkOf(addrs []net.Addr) Link {
	var l Link
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, bits := ipn.Mask.Size()
		if bits != ip.BitLen() || !routable(ip) {
			continue
		}
		l.Subnets = append(l.Subnets, netip.PrefixFrom(ip, ones).Masked())
	}
	return l
}

// FitLink returns the addresses of addrs that may be dialed for an answer that arrived over
// link: a plain IPv4 or IPv6 address (no DNS name, no zone, no relay circuit) that lies in one
// of the link's subnets or equals its source, and is not loopback, link-local, unspecified or
// multicast. The others are dropped.
func FitLink(addrs []ma.Multiaddr, link Link) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if fitsLink(a, link) {
			out = append(out, a)
		}
	}
	return out
}

func fitsLink(a ma.Multiaddr, link Link) bool {
	if len(a) == 0 || isCircuit(a) {
		return false
	}
	switch a[0].Protocol().Code {
	case ma.P_IP4, ma.P_IP6:
	default:
		return false // a DNS name resolves anywhere; a zone is this machine's own
	}
	nip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	ip, ok := netip.AddrFromSlice(nip)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	if !routable(ip) {
		return false
	}
	if link.Source.IsValid() && ip == link.Source.Unmap() {
		return true
	}
	for _, p := range link.Subnets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// routable is false for addresses that never name another host on the LAN the way a
// multiaddr without a zone can: loopback, link-local (an IPv6 one needs a zone to be dialed),
// unspecified and multicast.
func routable(ip netip.Addr) bool {
	return !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() &&
		!ip.IsMulticast() && !ip.IsLinkLocalMulticast()
}

func isCircuit(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Protocol().Code == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// Routable returns the addresses of addrs that name another host the way FitLink allows
// (a plain IPv4 or IPv6 address, not loopback, link-local, unspecified or multicast, no relay
// circuit), wherever they are: for addresses that were checked when they were learned.
func Routable(addrs []ma.Multiaddr) []ma.Multiaddr {
	return FitLink(addrs, Link{Subnets: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})
}
