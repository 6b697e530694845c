package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/parley-im/parley/discovery"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/rendezvous"
)

// forgetAfter is the victim's shortened "forget a never-connected mDNS peer" delay
// (3 minutes by default).
const forgetAfter = 3 * time.Second

// TestFakeMDNSPeers: a stranger on the LAN answers every mDNS query with made-up Parley
// peers, from a real responder (miekg/dns) in its own namespace, over real multicast:
//
//   - five peer IDs whose addresses are the stranger's own (a port that accepts and
//     closes, so they never speak Parley);
//   - one peer whose addresses are aimed elsewhere: at a host on another subnet (behind
//     a router the victim has a route through), at the victim's own loopback, and at
//     an IPv6 link-local address: none of them fits the LAN, so it is never learned.
//
// The victim, an honest node on the LAN, must never list a fake as a person (`parley
// peers`), must forget them once its (shortened) delay has passed, and must never send
// a single SYN to the aimed-at host or its own loopback. It still dials the stranger's
// own addresses (the control: the victim does act on answers), and it still finds,
// connects to and keeps listing the honest peer.
func TestFakeMDNSPeers(t *testing.T) {
	t.Parallel()
	lan, far := netlab.NewSubnet(t, 40), netlab.NewSubnet(t, 41)
	router := lan.AddRouter("router", far)
	_ = router
	victimHost, honestHost, strangerHost := lan.AddHost("victim"), lan.AddHost("honest"), lan.AddHost("stranger")
	third := far.AddHost("third")
	if err := victimHost.AddRoute(far.SubnetCIDR(), lan.RouterIP()); err != nil {
		t.Fatal(err)
	}
	if err := third.AddRoute(lan.SubnetCIDR(), far.RouterIP()); err != nil {
		t.Fatal(err)
	}

	thirdLn := countAccepts(t, listenTCPIn(t, third.NS, third.IP.String()+":0"))
	loopLn := countAccepts(t, listenTCPIn(t, victimHost.NS, "127.0.0.1:0"))
	strangerLn := countAccepts(t, listenTCPIn(t, strangerHost.NS, strangerHost.IP.String()+":0"))

	var fakes []fakePeer
	for i := range 5 {
		fakes = append(fakes, fakePeer{id: newPeerID(t), name: fmt.Sprintf("Fake %d", i),
			addrs: []string{fmt.Sprintf("/ip4/%s/tcp/%d", strangerHost.IP, strangerLn.port)}})
	}
	aimed := fakePeer{id: newPeerID(t), name: "Aimed", addrs: []string{
		fmt.Sprintf("/ip4/%s/tcp/%d", third.IP, thirdLn.port),
		fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", loopLn.port),
		fmt.Sprintf("/ip6/fe80::1/tcp/%d", loopLn.port),
	}}
	all := append(append([]fakePeer(nil), fakes...), aimed)
	startFakeResponder(t, strangerHost, all)

	victim := testnode.Start(t, testnode.Options{Name: "Victim", Host: victimHost, Args: victimArgs()})
	honest := testnode.Start(t, testnode.Options{Name: "Honest", Host: honestHost})
	honestID := honest.Status().PeerID

	fakeIDs := map[string]bool{}
	for _, f := range all {
		fakeIDs[f.id.String()] = true
	}
	listed := "" // the first fake seen listed as a person
	checkListing := func() {
		for _, p := range victim.Peers() {
			if fakeIDs[p.PeerID] && listed == "" {
				listed = fmt.Sprintf("%s (%s, via %s, addrs %v)", p.Name, p.PeerID, p.Via, p.Addrs)
			}
		}
	}
	testnode.WaitFor(t, 60*time.Second, "the victim to dial the stranger's own address (it acts on answers)", func() bool {
		checkListing()
		return strangerLn.accepts.Load() > 0
	})
	waitOnline(t, victim, "Honest")

	// Past the delay, with the stranger still answering every query: each fake is
	// forgotten, and none is ever listed on the way.
	deadline := time.Now().Add(forgetAfter + 10*time.Second)
	for _, f := range fakes {
		for !strings.Contains(victim.Log(), "forgot "+f.id.String()) && time.Now().Before(deadline) {
			checkListing()
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(victim.Log(), "forgot "+f.id.String()) {
			t.Errorf("the victim did not forget %s (%s), %v after its delay of %v", f.name, f.id, 10*time.Second, forgetAfter)
		}
	}
	t.Logf("the five fakes were forgotten %v after the victim started (delay %v)", time.Since(victim.StartedAt()).Round(100*time.Millisecond), forgetAfter)
	// One more browse round after that (each logs the aimed peer's dropped addresses): the
	// fakes' answers are ignored now, not learned (and dialled) again.
	rounds := strings.Count(victim.Log(), "do not fit the interface")
	testnode.WaitFor(t, 20*time.Second, "another browse round", func() bool {
		return strings.Count(victim.Log(), "do not fit the interface") > rounds
	})
	log := victim.Log()
	for _, f := range fakes {
		if relearnt, forgot := lastLine(log, "listed once it speaks Parley", f.id.String()), lastLine(log, "forgot "+f.id.String()); forgot >= 0 && relearnt > forgot {
			t.Errorf("%s was learned again after it was forgotten", f.name)
		}
	}
	if !logHas(log, "do not fit the interface", aimed.id.String()) {
		t.Errorf("the victim's log does not show the aimed peer's addresses dropped")
	}
	checkListing()
	if listed != "" {
		t.Errorf("the victim lists a fake mDNS peer as a person: %s", listed)
	}
	if _, ok := victim.Peer(honestID); !ok {
		t.Error("the honest peer, which spoke Parley, was forgotten along with the fakes")
	}
	if n := thirdLn.accepts.Load(); n != 0 {
		t.Errorf("the host on the other subnet got %d connections from the victim: announced addresses aim its dials", n)
	}
	if n := loopLn.accepts.Load(); n != 0 {
		t.Errorf("the victim's own loopback got %d connections: announced addresses aim its dials", n)
	}
	t.Logf("the stranger's own port saw %d connection(s) from the victim", strangerLn.accepts.Load())
}

// logHas reports whether one line of log contains every one of parts.
func logHas(log string, parts ...string) bool { return lastLine(log, parts...) >= 0 }

// lastLine returns the number of the last line of log that contains every one of parts, or -1.
func lastLine(log string, parts ...string) int {
	last := -1
	for i, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			last = i
		}
	}
	return last
}

// victimArgs shortens the victim's delay; PARLEY_TEST_OLD_CODE=1 leaves the flag out, to
// watch this test fail on code that predates it.
func victimArgs() []string {
	if os.Getenv("PARLEY_TEST_OLD_CODE") == "1" {
		return nil
	}
	return []string{"--mdns-forget-after", forgetAfter.String()}
}

// fakePeer is one made-up Parley node the fake responder announces.
type fakePeer struct {
	id    peer.ID
	name  string
	addrs []string // multiaddrs without /p2p/
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func listenTCPIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptCounter counts the connections a listener accepts, closing each at once.
type acceptCounter struct {
	port    int
	accepts atomic.Int64
}

func countAccepts(t *testing.T, ln net.Listener) *acceptCounter {
	c := &acceptCounter{port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepts.Add(1)
			conn.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return c
}

// startFakeResponder answers, from h's eth0, every mDNS query for Parley's service with
// one complete DNS-SD answer per fake peer (PTR, SRV, TXT and A), unicast to the asker,
// as hashicorp's servers do.
func startFakeResponder(t *testing.T, h *netlab.Host, fakes []fakePeer) {
	t.Helper()
	var conn *net.UDPConn
	inNetns(t, h.NS, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
		return err
	})
	answers := make([][]byte, len(fakes))
	for i, f := range fakes {
		answers[i] = fakeAnswer(t, f, h.IP)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { serveFakeMDNS(ctx, conn, answers) })
	t.Cleanup(func() { cancel(); conn.Close(); wg.Wait() })
}

func serveFakeMDNS(ctx context.Context, conn *net.UDPConn, answers [][]byte) {
	buf := make([]byte, 9000)
	for ctx.Err() == nil {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || q.Response || len(q.Question) == 0 {
			continue
		}
		if !strings.EqualFold(q.Question[0].Name, discovery.MDNSService+".local.") {
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		for _, a := range answers {
			conn.WriteToUDP(a, from)
		}
	}
}

// fakeAnswer is a DNS-SD answer announcing f the way a Parley node does (discovery/doc.go).
func fakeAnswer(t *testing.T, f fakePeer, ip net.IP) []byte {
	t.Helper()
	instance := f.id.String() + "." + discovery.MDNSService + ".local."
	hostName := f.id.String() + ".local."
	txt := []string{"v=1", "id=" + f.id.String(), "name=" + f.name}
	for _, a := range f.addrs {
		txt = append(txt, "dnsaddr="+a+"/p2p/"+f.id.String())
	}
	hdr := func(name string, rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 120}
	}
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: hdr(discovery.MDNSService+".local.", dns.TypePTR), Ptr: instance},
		&dns.SRV{Hdr: hdr(instance, dns.TypeSRV), Target: hostName, Port: 4747},
		&dns.TXT{Hdr: hdr(instance, dns.TypeTXT), Txt: txt},
		&dns.A{Hdr: hdr(hostName, dns.TypeA), A: ip.To4()},
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The record test runs the test binary itself inside a netlab host as a rendezvous client
// that prints what DISCOVER returns (envDiscover: the server's full address).
const envDiscover = "PARLEY_TEST_DISCOVER"

// TestDiscoverChild is that client; it does nothing in a normal run.
func TestDiscoverChild(t *testing.T) {
	server := os.Getenv(envDiscover)
	if server == "" {
		t.Skip("helper for TestRendezvousRecordsHaveNoLoopback")
	}
	ai, err := peer.AddrInfoFromString(server)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peers, _, err := rendezvous.NewClient(h, *ai).Discover(ctx, "parley", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		for _, a := range p.Addrs {
			fmt.Printf("RECORD %s %s\n", p.ID, a)
		}
	}
}

// TestRendezvousRecordsHaveNoLoopback: the signed record a real node registers with a
// server on another host, as DISCOVER returns it to a third host, carries the node's LAN
// address and no loopback or link-local one.
func TestRendezvousRecordsHaveNoLoopback(t *testing.T) {
	t.Parallel()
	lab := netlab.NewSubnet(t, 42)
	srvHost, nodeHost, readerHost := lab.AddHost("server"), lab.AddHost("node"), lab.AddHost("reader")
	srv := startRendezvous(t, srvHost, t.TempDir())
	n := testnode.Start(t, testnode.Options{Name: "Ann", Host: nodeHost, Args: []string{"--no-mdns", "--rendezvous", srv.addr, "--stun", "off"}})
	id := n.Status().PeerID
	var addrs []string
	testnode.WaitFor(t, 30*time.Second, "the node's record on the server", func() bool {
		cmd := readerHost.Command(t.Context(), os.Args[0], "-test.run=^TestDiscoverChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envDiscover+"="+srv.addr)
		out, err := cmd.Output()
		if err != nil {
			return false
		}
		addrs = nil
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "RECORD "+id+" "); ok {
				addrs = append(addrs, rest)
			}
		}
		return len(addrs) > 0
	})
	t.Logf("the record holds %v", addrs)
	lan := false
	for _, a := range addrs {
		if strings.Contains(a, "/127.0.0.1/") || strings.HasPrefix(a, "/ip6/::1/") || strings.HasPrefix(a, "/ip6/fe80") || strings.Contains(a, "/169.254.") {
			t.Errorf("the signed record carries %s, which would make its readers dial themselves", a)
		}
		lan = lan || strings.HasPrefix(a, "/ip4/"+nodeHost.IP.String()+"/")
	}
	if !lan {
		t.Errorf("the record has no address on the LAN (%s): %v", nodeHost.IP, addrs)
	}
}
