package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// mdnsPort is the mDNS port; a packet from another source port is a legacy unicast query.
const mdnsPort = 5353

var (
	mdnsGroup4 = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: mdnsPort}
	mdnsGroup6 = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: mdnsPort}
)

const (
	maxPacket    = 9000 // RFC 6762 §17: the largest mDNS message
	writeTimeout = time.Second
)

// mconn is one mDNS socket: port 5353 on one interface in one address family, joined to the
// group, sending with IP TTL (hop limit) 255 as RFC 6762 §11 requires. Several nodes on one
// machine share the port (SO_REUSEADDR/SO_REUSEPORT) and each gets every multicast packet;
// multicast loopback is on, so they hear each other.
type mconn struct {
	ifi   net.Interface
	v6    bool
	c     net.PacketConn
	p4    *ipv4.PacketConn
	p6    *ipv6.PacketConn
	group *net.UDPAddr
}

// packet is one datagram received on an mconn's interface.
type packet struct {
	data []byte
	src  *net.UDPAddr
}

func listenMDNS(ifi net.Interface, v6 bool) (*mconn, error) {
	network, addr, group := "udp4", "0.0.0.0:5353", mdnsGroup4
	if v6 {
		network, addr, group = "udp6", "[::]:5353", mdnsGroup6
	}
	lc := net.ListenConfig{Control: reusePort}
	c, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("listening on UDP %s: %w (is another program holding port 5353 without SO_REUSEPORT?)", addr, err)
	}
	m := &mconn{ifi: ifi, v6: v6, c: c, group: group}
	if err := m.setup(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("mDNS socket on %s: %w", ifi.Name, err)
	}
	return m, nil
}

func (m *mconn) setup() error {
	ifi := &m.ifi
	if m.v6 {
		p := ipv6.NewPacketConn(m.c)
		m.p6 = p
		_ = p.SetControlMessage(ipv6.FlagInterface, true) // unsupported on Windows: see read
		return errors.Join(p.JoinGroup(ifi, m.group), p.SetMulticastInterface(ifi),
			p.SetMulticastHopLimit(255), p.SetHopLimit(255), p.SetMulticastLoopback(true))
	}
	p := ipv4.NewPacketConn(m.c)
	m.p4 = p
	_ = p.SetControlMessage(ipv4.FlagInterface, true) // unsupported on Windows: see read
	return errors.Join(p.JoinGroup(ifi, m.group), p.SetMulticastInterface(ifi),
		p.SetMulticastTTL(255), p.SetTTL(255), p.SetMulticastLoopback(true))
}

// read returns the next packet that arrived on the socket's interface; packets from other
// interfaces (the port is shared by every socket of the machine) are skipped. Where the
// system gives no interface index (Windows), every packet is taken. It fails once the socket
// is closed.
func (m *mconn) read(buf []byte) (packet, error) {
	for {
		var n, ifindex int
		var src net.Addr
		var err error
		if m.v6 {
			var cm *ipv6.ControlMessage
			n, cm, src, err = m.p6.ReadFrom(buf)
			if cm != nil {
				ifindex = cm.IfIndex
			}
		} else {
			var cm *ipv4.ControlMessage
			n, cm, src, err = m.p4.ReadFrom(buf)
			if cm != nil {
				ifindex = cm.IfIndex
			}
		}
		if err != nil {
			return packet{}, err
		}
		u, ok := src.(*net.UDPAddr)
		if !ok || (ifindex != 0 && ifindex != m.ifi.Index) {
			continue
		}
		return packet{data: append([]byte(nil), buf[:n]...), src: u}, nil
	}
}

// send writes b to dst (nil: the group).
func (m *mconn) send(b []byte, dst *net.UDPAddr) error {
	if dst == nil {
		dst = m.group
	} else if dst.IP.IsLinkLocalUnicast() && dst.Zone == "" {
		d := *dst
		d.Zone = m.ifi.Name
		dst = &d
	}
	_ = m.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := m.c.WriteTo(b, dst)
	return err
}

func (m *mconn) close() error { return m.c.Close() }

// sourceAddr is a packet's source as a netip.Addr (zone dropped).
func sourceAddr(u *net.UDPAddr) netip.Addr {
	a, ok := netip.AddrFromSlice(u.IP)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
