package discovery

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// ifaceKey names an interface; a re-created interface gets a new index, hence a new server.
type ifaceKey struct {
	index int
	name  string
}

// swapZone lets the advert change without restarting the sockets. Empty (no advert yet)
// answers nothing.
type swapZone struct {
	svc atomic.Pointer[mdns.MDNSService]
}

func (z *swapZone) Records(q dns.Question) []dns.RR {
	if svc := z.svc.Load(); svc != nil {
		return svc.Records(q)
	}
	return nil
}

// advert is what this node announces, the same on every interface.
type advert struct {
	port int
	txt  []string
	key  string // identifies port+txt, to notice changes
}

// currentAdvert builds the advert from the current listen addresses. ok is false when there is
// nothing to advertise (no TCP or UDP address).
func (m *MDNS) currentAdvert() (a advert, ok bool) {
	addrs := m.cfg.Addrs()
	a.port = advertPort(addrs)
	if a.port == 0 {
		return a, false
	}
	a.txt = EncodeTXT(m.cfg.Self, m.cfg.Name, addrs)
	a.key = strconv.Itoa(a.port) + "\x00" + strings.Join(a.txt, "\x00")
	return a, true
}

// advertPort returns the port of the first TCP address, else of the first UDP address, else 0.
func advertPort(addrs []ma.Multiaddr) int {
	for _, code := range []int{ma.P_TCP, ma.P_UDP} {
		for _, a := range addrs {
			if v, err := a.ValueForProtocol(code); err == nil {
				if p, err := strconv.Atoi(v); err == nil && p > 0 && p < 1<<16 {
					return p
				}
			}
		}
	}
	return 0
}

// refresh brings the per-interface servers in line with the interfaces and the advert. It
// returns the interfaces to browse on, and whether a server was started for a new interface or
// changed addresses.
func (m *MDNS) refresh() (ifaces []usableIface, grew bool) {
	ifaces = m.interfaces()
	adv, ok := m.currentAdvert()
	if !ok {
		m.log.Debug("mdns: no TCP or UDP listen address, not advertising")
	}
	live := make(map[ifaceKey]bool, len(ifaces))
	for _, u := range ifaces {
		key := ifaceKey{u.Index, u.Name}
		live[key] = true
		started, err := m.ensureServer(key, u, adv, ok)
		m.problem("advertising on "+u.Name, err)
		grew = grew || started
	}
	for key, s := range m.servers {
		if !live[key] {
			m.log.Debug("mdns: stop advertising", "iface", key.name)
			s.shutdown()
			delete(m.servers, key)
		}
	}
	return ifaces, grew
}

// ensureServer makes sure a server for u serves adv (nothing when !ok): the records are
// swapped in place (and announced) when only the advert changed, and the server is re-created
// (goodbye, then announcements) when the interface's addresses changed. started reports a
// new server.
func (m *MDNS) ensureServer(key ifaceKey, u usableIface, adv advert, ok bool) (started bool, err error) {
	ips := ipsKey(u.ips)
	s := m.servers[key]
	if s != nil && s.ips != ips {
		s.shutdown()
		delete(m.servers, key)
		s = nil
	}
	if s == nil {
		s = m.newServer(u, ips)
		m.servers[key] = s
		started = true
	}
	err = s.ensureConns(u)
	if s.advert == adv.key {
		return started, err
	}
	var svc *mdns.MDNSService
	if ok {
		if svc, err = m.service(u, adv); err != nil {
			return started, err
		}
	}
	s.zone.svc.Store(svc)
	s.advert = adv.key
	s.reannounce()
	m.log.Debug("mdns: advertising", "iface", u.Name, "ips", ips, "port", adv.port, "txt", adv.txt)
	return started, err
}

// service builds the records for one interface. The host name is the peer ID, so two nodes
// on one machine do not share a host name.
func (m *MDNS) service(u usableIface, adv advert) (*mdns.MDNSService, error) {
	id := m.cfg.Self.String()
	svc, err := mdns.NewMDNSService(id, MDNSService, mdnsDomain+".", id+"."+mdnsDomain+".", adv.port, u.ips, adv.txt)
	if err != nil {
		return nil, fmt.Errorf("building mDNS records: %w", err)
	}
	return svc, nil
}

// stopServers shuts every server down (each says goodbye); called when the browse goroutine
// ends.
func (m *MDNS) stopServers() {
	var wg sync.WaitGroup
	for key, s := range m.servers {
		wg.Go(s.shutdown)
		delete(m.servers, key)
	}
	wg.Wait()
}

func ipsKey(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}
