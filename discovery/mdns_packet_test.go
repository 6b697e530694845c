package discovery

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
)

// badRecordPacket is an answer whose first record is an NSEC with data miekg/dns rejects
// (a window block longer than the record), followed by a good Parley TXT.
func badRecordPacket(t testing.TB, txt []string, name string) []byte {
	t.Helper()
	good := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}}
	good.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 120}, Txt: txt}}
	b, err := good.Pack()
	if err != nil {
		t.Fatal(err)
	}
	// NSEC for "x.local.": next name "x.local.", then window 0 with a bitmap length of 32
	// bytes of which only 2 are present.
	bad := []byte{1, 'x', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, byte(dns.TypeNSEC), 0x80, 1, 0, 0, 0, 120}
	rdata := []byte{1, 'x', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 32, 0x40, 0}
	bad = binary.BigEndian.AppendUint16(bad, uint16(len(rdata)))
	bad = append(bad, rdata...)
	out := append([]byte(nil), b[:12]...)
	binary.BigEndian.PutUint16(out[6:], 2) // two answers
	out = append(out, bad...)
	return append(out, b[12:]...)
}

func TestParseLenientSkipsBadRecord(t *testing.T) {
	id := testID(t, "lenient")
	txt := EncodeTXT(id, "Len", []ma.Multiaddr{ma.StringCast("/ip4/198.18.0.9/tcp/4747")})
	pkt := badRecordPacket(t, txt, id.String()+serviceSuffix)
	if err := new(dns.Msg).Unpack(pkt); err == nil {
		t.Fatal("miekg/dns accepts the bad record: the test no longer tests anything")
	}
	m, skipped, err := parseLenient(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 {
		t.Errorf("skipped %d records, want 1", skipped)
	}
	got := parleyTXT(m)
	if len(got) != 1 || strings.Join(got[0].txt, " ") != strings.Join(txt, " ") || got[0].ttl != 120 {
		t.Fatalf("Parley TXT records: %+v", got)
	}
}

func TestParseLenientBrokenFraming(t *testing.T) {
	pkt := badRecordPacket(t, []string{"v=1"}, "a"+serviceSuffix)
	for _, n := range []int{0, 5, 11} {
		if _, _, err := parseLenient(pkt[:n]); err == nil {
			t.Errorf("%d bytes: no error", n)
		}
	}
	// Cut inside the last record: what came before is kept, nothing is invented.
	m, _, err := parseLenient(pkt[:len(pkt)-3])
	if err != nil || len(m.Answer) != 0 {
		t.Errorf("truncated: %v, %d answers", err, len(m.Answer))
	}
}

func FuzzParseLenient(f *testing.F) {
	f.Add(badRecordPacket(f, []string{"v=1", "id=x"}, "x"+serviceSuffix))
	q, _ := ownQuery("_parley._udp.local.", nil).Pack()
	f.Add(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, skipped, err := parseLenient(b)
		if err != nil {
			return
		}
		if n := len(m.Answer) + len(m.Ns) + len(m.Extra) + skipped; n > maxRecords {
			t.Fatalf("%d records", n)
		}
		for _, a := range parleyTXT(m) {
			_, _ = ParseTXT(a.txt)
		}
	})
}

func testZone(t *testing.T) (*mdns.MDNSService, names) {
	t.Helper()
	id := testID(t, "zone")
	svc, err := mdns.NewMDNSService(id.String(), MDNSService, "local.", id.String()+".local.", 4747,
		[]net.IP{net.ParseIP("198.18.0.7")}, []string{"v=1", "id=" + id.String()})
	if err != nil {
		t.Fatal(err)
	}
	return svc, ownerNames(id)
}

func question(qclass uint16) *dns.Msg {
	return &dns.Msg{Question: []dns.Question{{Name: "_parley._udp.local.", Qtype: dns.TypePTR, Qclass: qclass}}}
}

func TestAnswerQuery(t *testing.T) {
	z, ns := testZone(t)
	// QM: multicast, ID 0, no question, cache-flush on the unique records, PTR in the answers
	// and the rest in the additional section.
	r := answerQuery(question(dns.ClassINET), z, ns, false)
	if r == nil || r.unicast || r.msg.Id != 0 || len(r.msg.Question) != 0 {
		t.Fatalf("QM: %+v", r)
	}
	if len(r.msg.Answer) != 1 || r.msg.Answer[0].Header().Rrtype != dns.TypePTR || len(r.msg.Extra) != 3 {
		t.Errorf("QM sections: %v / %v", r.msg.Answer, r.msg.Extra)
	}
	for _, rr := range r.msg.Extra {
		if rr.Header().Class&rrclassFlush == 0 {
			t.Errorf("no cache-flush bit on %v", rr)
		}
	}
	// QU: unicast.
	if r := answerQuery(question(dns.ClassINET|qclassUnicast), z, ns, false); r == nil || !r.unicast {
		t.Errorf("QU: %+v", r)
	}
	// Legacy: unicast, same ID, question echoed, TTL at most 10, no cache-flush.
	q := question(dns.ClassINET)
	q.Id = 4660
	r = answerQuery(q, z, ns, true)
	if r == nil || !r.unicast || r.msg.Id != 4660 || len(r.msg.Question) != 1 {
		t.Fatalf("legacy: %+v", r)
	}
	for _, rr := range append(r.msg.Answer, r.msg.Extra...) {
		if rr.Header().Ttl > legacyTTL || rr.Header().Class&rrclassFlush != 0 {
			t.Errorf("legacy record %v", rr)
		}
	}
	// Case does not matter.
	q = question(dns.ClassINET)
	q.Question[0].Name = "_PARLEY._udp.LOCAL."
	if answerQuery(q, z, ns, false) == nil {
		t.Error("no answer to an upper-case question")
	}
	// Not a query: nothing.
	q = question(dns.ClassINET)
	q.Response = true
	if answerQuery(q, z, ns, false) != nil {
		t.Error("answered a response")
	}
}

func TestKnownAnswerSuppression(t *testing.T) {
	z, ns := testZone(t)
	ptr := z.Records(dns.Question{Name: ns[0], Qtype: dns.TypePTR})[0]
	q := question(dns.ClassINET)
	q.Answer = []dns.RR{dns.Copy(ptr)}
	q.Answer[0].Header().Ttl = 60 // half of 120: still fresh enough
	if r := answerQuery(q, z, ns, false); r != nil {
		t.Errorf("answered a query that lists our PTR with half its TTL: %v", r.msg)
	}
	q.Answer[0].Header().Ttl = 59
	if r := answerQuery(q, z, ns, false); r == nil {
		t.Error("no answer when the known answer is about to expire")
	}
}

func TestAnnouncementAndGoodbye(t *testing.T) {
	z, ns := testZone(t)
	a := announcement(z, ns[0], false)
	if len(a.Answer) != 4 || a.Id != 0 || !a.Response {
		t.Fatalf("announcement: %v", a)
	}
	for _, rr := range announcement(z, ns[0], true).Answer {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye record with TTL %d", rr.Header().Ttl)
		}
	}
}
