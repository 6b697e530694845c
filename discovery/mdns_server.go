package discovery

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Responder limits (RFC 6762 §6: a record is multicast at most once a second per interface;
// unicast replies are ours to bound, since each one is a packet a stranger makes us send).
const (
	multicastGap     = time.Second
	unicastPerSecond = 20
	announceGap      = time.Second // RFC 6762 §8.3: two announcements, one second apart
	maxInbox         = 512         // answers waiting for the browse goroutine
)

// ifaceServer is this node's mDNS on one interface: one socket per address family (reading
// queries and answers), the responder, and the announcer.
type ifaceServer struct {
	m      *MDNS
	name   string
	ips    string // the interface addresses the server was made for
	link   Link
	zone   *swapZone
	advert string // advert.key of the records it serves

	ctx      context.Context
	cancel   context.CancelFunc
	announce chan struct{} // a new advert to announce
	annDone  chan struct{}
	readers  sync.WaitGroup

	mu    sync.Mutex
	conns map[bool]*connState // by v6
}

// connState is one socket and its send limits.
type connState struct {
	c         *mconn
	lastMulti map[string]time.Time // by question, for multicastGap
	uniSecond time.Time
	uniCount  int
}

func (m *MDNS) newServer(u usableIface, ips string) *ifaceServer {
	s := &ifaceServer{m: m, name: u.Name, ips: ips, link: u.link, zone: &swapZone{},
		announce: make(chan struct{}, 1), annDone: make(chan struct{}), conns: map[bool]*connState{}}
	s.ctx, s.cancel = context.WithCancel(m.ctx)
	go s.announcer()
	return s
}

// ensureConns opens the sockets u's address families need and do not have yet (an IPv6 one
// can fail for a second or two after an interface comes up); it is called every round.
func (s *ifaceServer) ensureConns(u usableIface) error {
	var errs []error
	for _, v6 := range []bool{false, true} {
		if (v6 && !u.has6) || (!v6 && !u.has4) {
			continue
		}
		s.mu.Lock()
		have := s.conns[v6] != nil
		s.mu.Unlock()
		if have {
			continue
		}
		c, err := listenMDNS(u.Interface, v6)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		s.conns[v6] = &connState{c: c, lastMulti: map[string]time.Time{}}
		s.mu.Unlock()
		s.readers.Go(func() { s.serve(c) })
		s.reannounce()
	}
	return errors.Join(errs...)
}

// each calls f for every socket, under the lock.
func (s *ifaceServer) each(f func(*connState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.conns {
		f(cs)
	}
}

func (s *ifaceServer) reannounce() {
	select {
	case s.announce <- struct{}{}:
	default:
	}
}

// announcer sends two announcements a second apart whenever the advert or a socket is new.
func (s *ifaceServer) announcer() {
	defer close(s.annDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	left := 0
	for {
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.announce:
			left = 2
		case <-t.C:
		}
		if left == 0 {
			continue
		}
		s.sendAnnouncement(false)
		if left--; left > 0 {
			t.Reset(announceGap)
		}
	}
}

func (s *ifaceServer) sendAnnouncement(goodbye bool) {
	msg := announcement(s.zone, s.m.names[0], goodbye)
	if msg == nil {
		return
	}
	b, err := msg.Pack()
	if err != nil {
		s.m.log.Debug("mdns: packing announcement", "err", err)
		return
	}
	s.each(func(cs *connState) {
		if err := cs.c.send(b, nil); err != nil {
			s.m.log.Debug("mdns: announcing", "iface", s.name, "goodbye", goodbye, "err", err)
		}
	})
}

// query sends this node's browse question on every socket.
func (s *ifaceServer) query() {
	own := s.zone.Records(dns.Question{Name: s.m.names[0], Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	b, err := ownQuery(s.m.names[0], own).Pack()
	if err != nil {
		return
	}
	s.each(func(cs *connState) {
		fam := "IPv4"
		if cs.c.v6 {
			fam = "IPv6"
		}
		s.m.problem("query on "+s.name+" ("+fam+")", cs.c.send(b, nil))
	})
}

// shutdown says goodbye (TTL 0, RFC 6762 §10.1), closes the sockets and waits for the
// goroutines. It is called once, by the browse goroutine.
func (s *ifaceServer) shutdown() {
	s.cancel()
	<-s.annDone
	s.sendAnnouncement(true)
	s.each(func(cs *connState) { _ = cs.c.close() })
	s.readers.Wait()
}

// serve reads the socket until it is closed: queries are answered, answers go to the
// browse goroutine.
func (s *ifaceServer) serve(c *mconn) {
	buf := make([]byte, maxPacket)
	for {
		p, err := c.read(buf)
		if err != nil {
			return // closed by shutdown
		}
		s.handle(c, p)
	}
}

func (s *ifaceServer) handle(c *mconn, p packet) {
	msg, skipped, err := parseLenient(p.data)
	if err != nil {
		s.m.log.Debug("mdns: dropping packet", "iface", s.name, "from", p.src, "err", err)
		return
	}
	if skipped > 0 {
		s.m.log.Debug("mdns: skipped records miekg/dns cannot decode", "iface", s.name, "from", p.src, "skipped", skipped)
	}
	if msg.Response {
		if p.src.Port != mdnsPort {
			return // RFC 6762 §11: answers come from port 5353
		}
		link := s.link
		link.Source = sourceAddr(p.src)
		s.m.deliver(parleyTXT(msg), link, s.name)
		return
	}
	r := answerQuery(msg, s.zone, s.m.names, p.src.Port != mdnsPort)
	if r == nil {
		return
	}
	s.m.log.Debug("mdns: answering", "iface", s.name, "from", p.src, "unicast", r.unicast, "answers", len(r.msg.Answer))
	s.send(c, r, msg, p.src)
}

// send writes a reply within the responder limits.
func (s *ifaceServer) send(c *mconn, r *reply, q *dns.Msg, src *net.UDPAddr) {
	s.mu.Lock()
	cs := s.conns[c.v6]
	ok := cs != nil && cs.c == c && cs.allow(r, q, time.Now())
	s.mu.Unlock()
	if !ok {
		return
	}
	b, err := r.msg.Pack()
	if err != nil {
		s.m.log.Debug("mdns: packing reply", "err", err)
		return
	}
	var dst *net.UDPAddr
	if r.unicast {
		dst = src
	}
	if err := c.send(b, dst); err != nil {
		s.m.log.Debug("mdns: replying", "iface", s.name, "to", src, "unicast", r.unicast, "err", err)
	}
}

// allow applies the limits: one multicast reply per question per multicastGap, and at most
// unicastPerSecond unicast replies. Called under the server's lock.
func (cs *connState) allow(r *reply, q *dns.Msg, now time.Time) bool {
	if r.unicast {
		if now.Sub(cs.uniSecond) >= time.Second {
			cs.uniSecond, cs.uniCount = now, 0
		}
		cs.uniCount++
		return cs.uniCount <= unicastPerSecond
	}
	key := questionsKey(q)
	if last, ok := cs.lastMulti[key]; ok && now.Sub(last) < multicastGap {
		return false
	}
	if len(cs.lastMulti) > 64 {
		clear(cs.lastMulti)
	}
	cs.lastMulti[key] = now
	return true
}

func questionsKey(q *dns.Msg) string {
	var k []byte
	for _, qq := range q.Question {
		k = append(k, dns.CanonicalName(qq.Name)...)
		k = append(k, byte(qq.Qtype>>8), byte(qq.Qtype), 0)
	}
	return string(k)
}
