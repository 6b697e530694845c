package netlab

import (
	"fmt"
	"net"
	"strconv"
)

// AddRouter adds a namespace that forwards IPv4 between this lab (its eth0,
// 198.18.<l>.254) and other (its eth1, 198.18.<other>.254); the two labs must have
// different subnets. Multicast is not routed, so mDNS stays within each subnet, as on
// real routed office networks. Hosts reach the other subnet once given a route through
// the router (Host.AddRoute). The router is deleted with l.
func (l *Lab) AddRouter(name string, other *Lab) *Host {
	l.t.Helper()
	if l.subnet == other.subnet {
		l.t.Fatalf("netlab: AddRouter: both labs use 198.18.%d.0/24", l.subnet)
	}
	r, err := l.addRouter(name, other)
	if err != nil {
		l.t.Fatalf("netlab: add router %q: %v", name, err)
	}
	return r
}

func (l *Lab) addRouter(name string, other *Lab) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("lab is closed")
	}
	r := &Host{Name: name, NS: nextNS(), IP: l.hostIP(routerHost), Lab: l}
	l.hosts = append(l.hosts, r) // deleted with l, which also removes both veth pairs
	port := "r" + strconv.Itoa(len(l.hosts))
	otherIP := other.hostIP(routerHost)
	steps := [][]string{
		{"netns", "add", r.NS},
		{"-n", r.NS, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", l.switchNS},
		{"-n", l.switchNS, "link", "set", port, "master", "br0", "up"},
		{"-n", r.NS, "link", "add", "eth1", "type", "veth", "peer", "name", port, "netns", other.switchNS},
		{"-n", other.switchNS, "link", "set", port, "master", "br0", "up"},
		{"-n", r.NS, "link", "set", "lo", "up"},
		{"-n", r.NS, "link", "set", "eth0", "up"},
		{"-n", r.NS, "link", "set", "eth1", "up"},
		{"-n", r.NS, "addr", "add", r.IP.String() + "/24", "dev", "eth0"},
		{"-n", r.NS, "addr", "add", otherIP.String() + "/24", "dev", "eth1"},
		{"netns", "exec", r.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	return r, ipSteps(steps)
}

// AddRoute sends traffic for dst (a CIDR such as 198.18.1.0/24) through gateway.
func (h *Host) AddRoute(dst string, gateway net.IP) error {
	return ipSteps([][]string{{"-n", h.NS, "route", "add", dst, "via", gateway.String()}})
}

// SubnetCIDR is the lab's network, 198.18.<subnet>.0/24.
func (l *Lab) SubnetCIDR() string {
	return fmt.Sprintf("198.18.%d.0/24", l.subnet)
}

// RouterIP is the address a router added with AddRouter has on this lab's subnet.
func (l *Lab) RouterIP() net.IP { return l.hostIP(routerHost) }
