package discovery

import (
	"slices"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// serviceSuffix ends the instance name of every Parley answer.
const serviceSuffix = "." + MDNSService + "." + mdnsDomain + "."

// received is one Parley TXT record as it arrived, with the link it arrived on.
type received struct {
	txtAnswer
	link  Link
	iface string
}

// deliver hands answers from a socket reader to the browse goroutine. The inbox is bounded:
// beyond maxInbox waiting answers, new ones are dropped (the next round asks again).
func (m *MDNS) deliver(answers []txtAnswer, link Link, iface string) {
	if len(answers) == 0 {
		return
	}
	m.inboxMu.Lock()
	for _, a := range answers {
		if len(m.inbox) >= maxInbox {
			m.inboxDropped++
			break
		}
		m.inbox = append(m.inbox, received{txtAnswer: a, link: link, iface: iface})
	}
	m.inboxMu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// browse starts a round: the round's report starts afresh and every socket sends the
// question. Answers arrive on the sockets and are reported as they come (drainInbox).
func (m *MDNS) browse() {
	clear(m.round)
	for _, s := range m.servers {
		s.query()
	}
}

// drainInbox reports the waiting answers: Found for a peer not yet reported this round, or
// reported with fewer addresses, with the addresses of every answer this round merged.
func (m *MDNS) drainInbox() {
	m.inboxMu.Lock()
	in, dropped := m.inbox, m.inboxDropped
	m.inbox, m.inboxDropped = nil, 0
	m.inboxMu.Unlock()
	if dropped > 0 {
		m.log.Debug("mdns: answers dropped, too many at once", "dropped", dropped)
	}
	for _, r := range in {
		if m.ctx.Err() != nil {
			return
		}
		p, ok := m.peerFrom(r)
		if !ok {
			continue
		}
		if r.ttl == 0 {
			delete(m.round, p.ID)
			m.log.Debug("mdns: goodbye", "peer", p.ID, "iface", r.iface)
			continue
		}
		prev, seen := m.round[p.ID]
		merged := mergeAddrs(slices.Clone(prev.Addrs), p.Addrs)
		if seen && len(merged) == len(prev.Addrs) {
			continue
		}
		p.Addrs = merged
		m.round[p.ID] = p
		if len(m.round) > maxEntriesPerQuery {
			clear(m.round)
		}
		if m.cfg.Found != nil {
			m.cfg.Found(p)
		}
	}
}

// peerFrom validates one answer: our service, not ourselves, a TXT that parses, an instance
// name matching the advertised peer ID, and at least one address that fits the link it
// arrived on (its interface's subnets or its source address; the others are dropped, see
// FitLink).
func (m *MDNS) peerFrom(r received) (Peer, bool) {
	instance, ok := cutSuffixFold(r.name, serviceSuffix)
	if !ok {
		return Peer{}, false
	}
	p, err := ParseTXT(r.txt)
	if err != nil {
		m.log.Debug("mdns: ignoring answer", "name", r.name, "from", r.link.Source, "err", err)
		return Peer{}, false
	}
	if p.ID == m.cfg.Self {
		return Peer{}, false
	}
	if !strings.EqualFold(instance, p.ID.String()) {
		m.log.Debug("mdns: ignoring answer: instance name is not its peer ID", "name", r.name, "id", p.ID)
		return Peer{}, false
	}
	fit := FitLink(p.Addrs, r.link)
	if len(fit) < len(p.Addrs) {
		m.log.Debug("mdns: dropping announced addresses that do not fit the interface", "peer", p.ID,
			"iface", r.iface, "source", r.link.Source, "announced", p.Addrs, "kept", fit)
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
