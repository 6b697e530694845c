package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-im/parley/stun"
)

// What a node behind a NAT does so that others can still reach it:
//
//   - It asks a STUN responder (the rendezvous server's, on port 3478, unless --stun
//     names another) which address its packets come from. If that is not one of its own
//     addresses it is behind a NAT, and it advertises its listen ports on that outside
//     address too (Linux masquerade and most home gateways keep the source port of a
//     socket, so the outside port is the listen port).
//   - It holds a reservation on each rendezvous server that runs a circuit relay and
//     advertises the relayed address, so a peer that cannot reach it directly still can,
//     slowly, through the server (messages only; files need --allow-relay-files).
//   - When two peers end up on a relayed connection, they punch: see punch.go.
const (
	stunPort        = "3478"
	natRefreshEvery = 2 * time.Minute
	stunTimeout     = 3 * time.Second
)

// natState is what the node learnt about its outside, read on every h.Addrs().
type natState struct {
	outside  atomic.Pointer[netip.Addr]     // our address as STUN saw it, when behind a NAT
	circuits atomic.Pointer[[]ma.Multiaddr] // relayed addresses we hold reservations for
}

// addrsFactory adds to the listen addresses the same ports on our outside address, and
// our relayed addresses.
func (n *Node) addrsFactory(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(addrs)
	if ip := n.nat.outside.Load(); ip != nil {
		out = append(out, onOutside(addrs, *ip)...)
	}
	if c := n.nat.circuits.Load(); c != nil {
		out = append(out, *c...)
	}
	return out
}

// onOutside rewrites the non-loopback IPv4 listen addresses to ip, keeping their ports.
func onOutside(addrs []ma.Multiaddr, ip netip.Addr) []ma.Multiaddr {
	var out []ma.Multiaddr
	seen := map[string]bool{}
	for _, a := range addrs {
		first, rest := ma.SplitFirst(a)
		if first == nil || first.Protocol().Code != ma.P_IP4 || manet.IsIPLoopback(a) {
			continue
		}
		m, err := ma.NewMultiaddr("/ip4/" + ip.String() + rest.String())
		if err != nil {
			continue
		}
		if !seen[m.String()] {
			seen[m.String()], out = true, append(out, m)
		}
	}
	return out
}

// stunServers are the STUN servers this node uses: --stun, else each rendezvous
// server's first IPv4 address on port 3478 (the node itself asks the first); none with
// --stun off. `parley nat` asks them all when given no --stun (api.Status.STUN).
func (n *Node) stunServers() []string {
	switch n.cfg.STUN {
	case "off":
		return nil
	case "":
	default:
		return []string{n.cfg.STUN}
	}
	var out []string
	for _, s := range n.cfg.Rendezvous {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			continue // Start refused it already
		}
		if addr := stunAddr(*ai); addr != "" && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out
}

// stunAddr is a rendezvous server's first IPv4 address on port 3478, or "".
func stunAddr(s peer.AddrInfo) string {
	for _, a := range s.Addrs {
		if ip, err := manet.ToIP(a); err == nil && ip.To4() != nil {
			return net.JoinHostPort(ip.String(), stunPort)
		}
	}
	return ""
}

// learnOutside asks the STUN server where our packets come from.
func (n *Node) learnOutside(server string) {
	ctx, cancel := context.WithTimeout(n.ctx, stunTimeout)
	defer cancel()
	rep, err := stun.Probe(ctx, []string{server})
	if err != nil || !rep.Mapped.IsValid() {
		n.log.Debug("STUN probe failed", "server", server, "err", err)
		return
	}
	ip := rep.Mapped.Addr().Unmap()
	if n.isOwnIP(ip) {
		n.nat.outside.Store(nil)
		return
	}
	if old := n.nat.outside.Swap(&ip); old == nil || *old != ip {
		n.log.Info("behind a NAT: advertising the outside address", "outside", ip, "stun", server)
	}
}

// isOwnIP reports whether ip is on one of this machine's interfaces (no NAT between).
func (n *Node) isOwnIP(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok {
			if own, ok := netip.AddrFromSlice(p.IP); ok && own.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// reserveRelays holds a reservation on every server that relays, renewing it before
// it expires, and advertises the relayed addresses.
func (n *Node) reserveRelays(servers []peer.AddrInfo) {
	var circuits []ma.Multiaddr
	next := natRefreshEvery
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		r, err := client.Reserve(ctx, n.host, s)
		cancel()
		if err != nil {
			n.log.Debug("no relay reservation", "server", s.ID, "err", err)
			continue
		}
		circuits = append(circuits, circuitAddrs(s)...)
		next = min(next, max(time.Until(r.Expiration)/2, 10*time.Second))
	}
	n.nat.circuits.Store(&circuits)
	n.natNext.Store(int64(next))
}

// circuitAddrs are the addresses through relay s: <s's address>/p2p/<s>/p2p-circuit.
func circuitAddrs(s peer.AddrInfo) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range s.Addrs {
		if manet.IsIPLoopback(a) {
			continue
		}
		c, err := ma.NewMultiaddr(a.String() + "/p2p/" + s.ID.String() + "/p2p-circuit")
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// watchNAT learns the outside address and takes relay reservations at once, then
// refreshes both; when our advertised addresses change it calls changed, so the
// rendezvous servers get the new ones without waiting for the next refresh.
func (n *Node) watchNAT(servers []peer.AddrInfo, stunServer string, changed func()) {
	for {
		before := fmt.Sprint(n.host.Addrs())
		if stunServer != "" {
			n.learnOutside(stunServer)
		}
		n.reserveRelays(servers)
		if fmt.Sprint(n.host.Addrs()) != before {
			changed()
		}
		t := time.NewTimer(time.Duration(n.natNext.Load()))
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
