package discovery

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Limits on what one packet may make us parse or keep.
const (
	maxQuestions  = 64
	maxRecords    = 256
	qclassUnicast = 1 << 15 // the QU bit in a question's class (RFC 6762 §5.4)
	rrclassFlush  = 1 << 15 // the cache-flush bit in a record's class (RFC 6762 §10.2)
	legacyTTL     = 10      // RFC 6762 §6.7: TTL cap in answers to legacy unicast queries
)

var errShortPacket = errors.New("mdns: packet shorter than a DNS header")

// parseLenient decodes an mDNS message record by record: a record miekg/dns cannot decode
// (python-zeroconf's NSEC, an unknown type with a bad length) is skipped, and the rest of the
// packet is kept. miekg/dns's Msg.Unpack, which hashicorp/mdns uses, drops the whole packet
// instead. It fails only when the header, a question or a record's framing (name, type,
// class, TTL, length) is broken, since nothing after that can be found. skipped counts the
// records left out.
func parseLenient(b []byte) (m *dns.Msg, skipped int, err error) {
	if len(b) < 12 {
		return nil, 0, errShortPacket
	}
	m = new(dns.Msg)
	m.Id = binary.BigEndian.Uint16(b)
	bits := binary.BigEndian.Uint16(b[2:])
	m.Response = bits&(1<<15) != 0
	m.Opcode = int(bits>>11) & 0xF
	m.Authoritative = bits&(1<<10) != 0
	m.Truncated = bits&(1<<9) != 0
	m.Rcode = int(bits & 0xF)
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(b[4+2*i:]))
	}
	if counts[0] > maxQuestions {
		return nil, 0, errors.New("mdns: too many questions")
	}
	off := 12
	for range counts[0] {
		name, next, err := dns.UnpackDomainName(b, off)
		if err != nil || next+4 > len(b) {
			return nil, 0, errors.New("mdns: bad question")
		}
		m.Question = append(m.Question, dns.Question{Name: name,
			Qtype: binary.BigEndian.Uint16(b[next:]), Qclass: binary.BigEndian.Uint16(b[next+2:])})
		off = next + 4
	}
	sections := []*[]dns.RR{&m.Answer, &m.Ns, &m.Extra}
	total := 0
	for i, sec := range sections {
		for range counts[i+1] {
			if total++; total > maxRecords {
				return m, skipped, nil // keep what fits
			}
			rr, next, err := unpackRecord(b, off)
			if err != nil {
				return m, skipped, nil // framing broken: nothing more can be read
			}
			off = next
			if rr == nil {
				skipped++
				continue
			}
			*sec = append(*sec, rr)
		}
	}
	return m, skipped, nil
}

// unpackRecord decodes the record at off. A record whose framing is sound but whose data
// miekg/dns rejects is returned as nil with the offset after it; err means the framing is
// broken.
func unpackRecord(b []byte, off int) (dns.RR, int, error) {
	_, p, err := dns.UnpackDomainName(b, off)
	if err != nil || p+10 > len(b) {
		return nil, 0, errors.New("mdns: bad record header")
	}
	end := p + 10 + int(binary.BigEndian.Uint16(b[p+8:]))
	if end > len(b) {
		return nil, 0, errors.New("mdns: record longer than the packet")
	}
	rr, next, err := dns.UnpackRR(b[:end], off)
	if err != nil || next != end {
		return nil, end, nil
	}
	return rr, end, nil
}

// recordSource is what the responder asks for records: hashicorp/mdns's MDNSService.
type recordSource interface {
	Records(q dns.Question) []dns.RR
}

// names are the owner names of this node's records, as built by hashicorp's MDNSService,
// so questions can be matched case-insensitively (RFC 6762 §16) although the service matches
// them exactly.
type names []string

func (ns names) canonical(name string) string {
	for _, n := range ns {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

// reply is what the responder sends for one query.
type reply struct {
	msg     *dns.Msg
	unicast bool // to the query's source; else to the group
}

// answerQuery builds the reply to q, or nil when there is nothing to say: no question about
// our records, or every such record listed by the querier as a known answer with at least
// half its TTL left (RFC 6762 §7.1). legacy marks a query from a port other than 5353
// (RFC 6762 §6.7): the reply echoes the ID and the questions, goes by unicast to the source
// port, and carries TTLs of at most 10 s. Otherwise the reply is multicast, unless every
// question asked for a unicast answer (the QU bit, §5.4).
func answerQuery(q *dns.Msg, z recordSource, ns names, legacy bool) *reply {
	if q.Response || q.Opcode != dns.OpcodeQuery || q.Rcode != 0 {
		return nil // RFC 6762 §18.3, §18.11: ignore other opcodes and rcodes
	}
	var answers, extra []dns.RR
	unicast := len(q.Question) > 0
	for _, qq := range q.Question {
		qq.Name = ns.canonical(qq.Name)
		unicast = unicast && qq.Qclass&qclassUnicast != 0
		direct, more := splitAnswers(z.Records(qq), qq)
		n := len(answers)
		for _, rr := range direct {
			if !knownAnswer(rr, q.Answer) && !containsRR(answers, rr) {
				answers = append(answers, rr)
			}
		}
		if len(answers) == n {
			continue // all known: the records that come with them are known too
		}
		for _, rr := range more {
			if !containsRR(extra, rr) {
				extra = append(extra, rr)
			}
		}
	}
	if len(answers) == 0 {
		return nil
	}
	extra = slices.DeleteFunc(extra, func(rr dns.RR) bool { return containsRR(answers, rr) })
	resp := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: answers, Extra: extra}
	if legacy {
		resp.Id, resp.Question = q.Id, q.Question
		for _, rr := range slices.Concat(answers, extra) {
			rr.Header().Ttl = min(rr.Header().Ttl, legacyTTL)
		}
		return &reply{msg: resp, unicast: true}
	}
	setCacheFlush(answers)
	setCacheFlush(extra)
	return &reply{msg: resp, unicast: unicast}
}

// splitAnswers separates the records that answer q (its name and type) from those
// hashicorp's service adds to them (the SRV, TXT and addresses with a PTR), which go in the
// additional section.
func splitAnswers(rrs []dns.RR, q dns.Question) (direct, more []dns.RR) {
	for _, rr := range rrs {
		h := rr.Header()
		if strings.EqualFold(h.Name, q.Name) && (q.Qtype == dns.TypeANY || h.Rrtype == q.Qtype) {
			direct = append(direct, rr)
		} else {
			more = append(more, rr)
		}
	}
	return direct, more
}

// knownAnswer reports whether the querier listed rr with at least half its TTL left.
func knownAnswer(rr dns.RR, known []dns.RR) bool {
	for _, k := range known {
		if k.Header().Ttl >= rr.Header().Ttl/2 && sameRecord(rr, k) {
			return true
		}
	}
	return false
}

func containsRR(list []dns.RR, rr dns.RR) bool {
	for _, x := range list {
		if sameRecord(x, rr) {
			return true
		}
	}
	return false
}

// sameRecord compares name, type and data, ignoring TTL, case and the cache-flush bit.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if ha.Rrtype != hb.Rrtype || ha.Class&^rrclassFlush != hb.Class&^rrclassFlush || !strings.EqualFold(ha.Name, hb.Name) {
		return false
	}
	a2, b2 := dns.Copy(a), dns.Copy(b)
	a2.Header().Ttl, b2.Header().Ttl = 0, 0
	a2.Header().Class, b2.Header().Class = dns.ClassINET, dns.ClassINET
	a2.Header().Name, b2.Header().Name = strings.ToLower(ha.Name), strings.ToLower(ha.Name)
	return strings.EqualFold(a2.String(), b2.String())
}

// setCacheFlush marks the records only this node owns (all but the shared PTR records).
func setCacheFlush(rrs []dns.RR) {
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype != dns.TypePTR {
			h.Class |= rrclassFlush
		}
	}
}

// announcement is an unsolicited response with every record of this node (RFC 6762 §8.3), or
// with TTL 0 a goodbye (§10.1).
func announcement(z recordSource, service string, goodbye bool) *dns.Msg {
	rrs := z.Records(dns.Question{Name: service, Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	if len(rrs) == 0 {
		return nil
	}
	if goodbye {
		for _, rr := range rrs {
			rr.Header().Ttl = 0
		}
	}
	setCacheFlush(rrs)
	return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: rrs}
}

// ownQuery is this node's browse question, with its own PTR record as a known answer so its
// own responder (and others on the machine serving the same record) stay silent.
func ownQuery(service string, own []dns.RR) *dns.Msg {
	q := &dns.Msg{Question: []dns.Question{{Name: service, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}}
	for _, rr := range own {
		if rr.Header().Rrtype == dns.TypePTR {
			q.Answer = append(q.Answer, rr)
		}
	}
	return q
}

// txtAnswer is one TXT record for a Parley instance, as received.
type txtAnswer struct {
	name string // owner name: <instance>._parley._udp.local.
	txt  []string
	ttl  uint32
}

// parleyTXT returns the TXT records of the message whose names are Parley instances, from
// the answer and additional sections (responders put them in either).
func parleyTXT(m *dns.Msg) []txtAnswer {
	var out []txtAnswer
	for _, sec := range [][]dns.RR{m.Answer, m.Extra} {
		for _, rr := range sec {
			t, ok := rr.(*dns.TXT)
			if !ok {
				continue
			}
			if _, ok := cutSuffixFold(t.Hdr.Name, serviceSuffix); ok {
				out = append(out, txtAnswer{name: t.Hdr.Name, txt: t.Txt, ttl: t.Hdr.Ttl})
			}
		}
	}
	return out
}
