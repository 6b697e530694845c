package discovery

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// serviceSuffix ends the instance name of every Parley answer.
const serviceSuffix = "." + MDNSService + "." + mdnsDomain + "."

// query is one question on one interface in one address family.
type query struct {
	iface net.Interface
	link  Link
	v6    bool
}

func (q query) String() string {
	if q.v6 {
		return "query on " + q.iface.Name + " (IPv6)"
	}
	return "query on " + q.iface.Name + " (IPv4)"
}

// queries lists one query per interface and family it has addresses in. The families are
// queried separately because hashicorp aborts a two-family query when either send fails, and
// an IPv6 link-local address is unusable for a second or two after an interface comes up
// (duplicate address detection) while IPv4 already works.
func queries(ifaces []usableIface) []query {
	var qs []query
	for _, u := range ifaces {
		if u.has4 {
			qs = append(qs, query{iface: u.Interface, link: u.link})
		}
		if u.has6 {
			qs = append(qs, query{iface: u.Interface, link: u.link, v6: true})
		}
	}
	return qs
}

// browse runs one round: every query in parallel, then Found once per valid peer.
func (m *MDNS) browse(ifaces []usableIface, timeout time.Duration) {
	qs := queries(ifaces)
	results := make([][]*mdns.ServiceEntry, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() { results[i], errs[i] = m.query(m.ctx, q, timeout) })
	}
	wg.Wait()
	if m.ctx.Err() != nil {
		return
	}
	var found []Peer
	index := map[peer.ID]int{}
	for i, q := range qs {
		m.problem(q.String(), errs[i])
		for _, e := range results[i] {
			p, ok := m.peerFrom(e, q)
			if !ok {
				continue
			}
			if j, dup := index[p.ID]; dup {
				found[j].Addrs = mergeAddrs(found[j].Addrs, p.Addrs)
				continue
			}
			index[p.ID] = len(found)
			found = append(found, p)
		}
	}
	for _, p := range found {
		if m.ctx.Err() != nil || m.cfg.Found == nil {
			return
		}
		m.cfg.Found(p)
	}
}

// query runs one hashicorp query and returns the entries it produced. Entries are read only
// after QueryContext returns: hashicorp keeps updating an entry it has already sent when more
// answers for the same name arrive, so reading one earlier would race.
func (m *MDNS) query(ctx context.Context, q query, timeout time.Duration) ([]*mdns.ServiceEntry, error) {
	ch := make(chan *mdns.ServiceEntry, 32) // hashicorp drops entries it cannot send at once
	var got []*mdns.ServiceEntry
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for e := range ch {
			if len(got) < maxEntriesPerQuery {
				got = append(got, e)
			}
		}
	}()
	ifi := q.iface
	err := mdns.QueryContext(ctx, &mdns.QueryParam{
		Service:     MDNSService,
		Domain:      mdnsDomain,
		Timeout:     timeout,
		Interface:   &ifi,
		Entries:     ch,
		DisableIPv4: q.v6,
		DisableIPv6: !q.v6,
		Logger:      m.hlog,
	})
	close(ch) // hashicorp sends only from inside QueryContext
	<-drained
	if ctx.Err() != nil {
		err = nil // closing, not a failure
	}
	return got, err
}

// peerFrom validates one answer to q: our service, not ourselves, a TXT that parses, an
// instance name matching the advertised peer ID, and at least one address that fits the
// interface the query went out on (the others are dropped, see FitLink). hashicorp/mdns does
// not tell an answer's source address, so only the interface's subnets count here.
func (m *MDNS) peerFrom(e *mdns.ServiceEntry, q query) (Peer, bool) {
	instance, ok := cutSuffixFold(e.Name, serviceSuffix)
	if !ok {
		return Peer{}, false // another service: hashicorp does not filter answers
	}
	p, err := ParseTXT(e.InfoFields)
	if err != nil {
		m.log.Debug("mdns: ignoring answer", "name", e.Name, "err", err)
		return Peer{}, false
	}
	if p.ID == m.cfg.Self {
		return Peer{}, false
	}
	if !strings.EqualFold(instance, p.ID.String()) {
		m.log.Debug("mdns: ignoring answer: instance name is not its peer ID", "name", e.Name, "id", p.ID)
		return Peer{}, false
	}
	fit := FitLink(p.Addrs, q.link)
	if len(fit) < len(p.Addrs) {
		m.log.Debug("mdns: dropping announced addresses that do not fit the interface", "peer", p.ID,
			"iface", q.iface.Name, "announced", p.Addrs, "kept", fit)
	}
	if len(fit) == 0 {
		return Peer{}, false
	}
	p.Addrs, p.Via = fit, "mdns"
	return p, true
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || !strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return "", false
	}
	return s[:len(s)-len(suffix)], true
}

// mergeAddrs appends to a the addresses of b it does not have.
func mergeAddrs(a, b []ma.Multiaddr) []ma.Multiaddr {
	for _, x := range b {
		if !slices.ContainsFunc(a, x.Equal) {
			a = append(a, x)
		}
	}
	return a
}
