package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testenv"
	"github.com/parley-im/parley/internal/testnode"
)

// natTopology is a rendezvous server on a backbone (198.18.0.0/24) and two LANs, each
// behind its own NAT router:
//
//	ann 198.18.1.1 ── [nat1] 198.18.0.254 ─┐
//	                                       ├── backbone ── server 198.18.0.N
//	bob 198.18.2.1 ── [nat2] 198.18.0.253 ─┘
//
// Each router masquerades on its outside interface (eth0) and drops new inbound traffic
// from the outside, like a real gateway (PRODUCT.md, "Test lab"). The server has no route
// to either LAN: the NATs hide them.
type natTopology struct {
	backbone, lan1, lan2 *netlab.Lab
	server, ann, bob     *netlab.Host
	nat1, nat2           *netlab.Host
	out1, out2           net.IP // the routers' outside addresses on the backbone
}

// natRouterRules are stun/lab_linux_test.go's working rules with the router's outside
// interface named eth0 (netlab's AddRouter puts eth0 on the lab it is called on).
const natRouterRules = `
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "eth0" ct state new drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "eth0" ct state new drop
	}
}
`

// needNATTools skips loudly without nft (or fails in CI, which must run these tests).
// netlab itself checks for root and iproute2.
func needNATTools(t *testing.T) {
	t.Helper()
	testenv.Tool(t, "the NAT tests need nftables", "nft")
}

func newNATTopology(t *testing.T) *natTopology {
	t.Helper()
	n := &natTopology{backbone: netlab.New(t)}
	needNATTools(t)
	n.lan1, n.lan2 = netlab.NewSubnet(t, 1), netlab.NewSubnet(t, 2)
	n.nat1 = n.backbone.AddRouter("nat1", n.lan1)
	n.nat2 = n.backbone.AddRouter("nat2", n.lan2)
	// AddRouter numbers every router .254 on the lab it is called on; two routers on one
	// backbone need distinct outside addresses.
	n.out1 = n.nat1.IP
	n.out2 = net.IPv4(198, 18, 0, 253).To4()
	renumber(t, n.nat2, "eth0", n.out1, n.out2)
	n.nat2.IP = n.out2
	for _, r := range []*netlab.Host{n.nat1, n.nat2} {
		applyNAT(t, r)
	}
	n.server = n.backbone.AddHost("server")
	n.ann, n.bob = n.lan1.AddHost("ann"), n.lan2.AddHost("bob")
	for _, h := range []struct {
		host *netlab.Host
		lan  *netlab.Lab
	}{{n.ann, n.lan1}, {n.bob, n.lan2}} {
		if err := h.host.AddRoute("default", h.lan.RouterIP()); err != nil {
			t.Fatalf("default route for %s: %v", h.host, err)
		}
	}
	return n
}

// renumber replaces address from with to (both /24) on dev in h's namespace. The old one
// goes first: deleting a primary address also deletes the secondaries of its subnet.
func renumber(t *testing.T, h *netlab.Host, dev string, from, to net.IP) {
	t.Helper()
	for _, s := range [][]string{
		{"-n", h.NS, "addr", "del", from.String() + "/24", "dev", dev},
		{"-n", h.NS, "addr", "add", to.String() + "/24", "dev", dev},
	} {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
}

// applyNAT loads natRouterRules into router r's namespace; they go with the namespace.
func applyNAT(t *testing.T, r *netlab.Host) {
	t.Helper()
	cmd := r.Command(t.Context(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(natRouterRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: nft -f: %v: %s", r.Name, err, out)
	}
}

// natServer is `parley rendezvous serve` with its STUN responder on UDP 3478 and,
// if asked, its circuit relay; its log is kept for failure messages.
type natServer struct {
	addr string // the full /p2p/ address on the server host's IP
	stun string // host:port of the STUN responder
	cmd  *exec.Cmd
	log  *syncBuffer
}

func startNATServer(t *testing.T, h *netlab.Host, relay bool) *natServer {
	t.Helper()
	bin := testnode.Build(t)
	args := []string{"--home", t.TempDir(), "rendezvous", "serve", "--json", "--log-level", "debug",
		"--listen", "/ip4/0.0.0.0/tcp/4001", "--listen", "/ip4/0.0.0.0/udp/4001/quic-v1",
		"--stun", ":3478", "--metrics", "off"}
	if relay {
		args = append(args, "--relay")
	}
	s := &natServer{cmd: h.Command(context.Background(), bin, args...), log: &syncBuffer{}}
	s.cmd.Stderr = s.log
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
	var info struct {
		Addrs []string `json:"addrs"`
		STUN  string   `json:"stun"`
		Relay bool     `json:"relay"`
	}
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		t.Fatalf("rendezvous serve printed no address: %v\n%s", err, s.log)
	}
	go io.Copy(io.Discard, out) // keep stdout drained
	for _, a := range info.Addrs {
		if s.addr == "" && strings.Contains(a, "/"+h.IP.String()+"/tcp/") {
			s.addr = a
		}
	}
	if s.addr == "" {
		t.Fatalf("no TCP address on %s among %v", h.IP, info.Addrs)
	}
	if info.STUN == "" || info.Relay != relay {
		t.Fatalf("rendezvous serve: STUN %q, relay %v; want STUN on and relay %v", info.STUN, info.Relay, relay)
	}
	s.stun = net.JoinHostPort(h.IP.String(), "3478")
	t.Logf("rendezvous server %s (STUN %s, relay %v)", s.addr, s.stun, info.Relay)
	return s
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestNATMappingProbe: `parley nat` run behind a NAT reports the router's outside address,
// as the rendezvous server's STUN responder sees it.
func TestNATMappingProbe(t *testing.T) {
	n := newNATTopology(t)
	srv := startNATServer(t, n.server, false)

	var rep struct {
		Local   string         `json:"local"`
		Mapped  netip.AddrPort `json:"mapped"`
		Mapping string         `json:"mapping"`
	}
	var out []byte
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for { // the responder may still be binding
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		out, err = n.ann.Command(ctx, testnode.Build(t), "nat", "--json", "--stun", srv.stun).Output()
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("parley nat --json --stun %s in %s: %v\n%s", srv.stun, n.ann, err, out)
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("parley nat printed %q: %v", out, err)
	}
	t.Logf("behind nat1: local %s, mapped %s, mapping %s", rep.Local, rep.Mapped, rep.Mapping)
	if want := netip.MustParseAddr(n.out1.String()); rep.Mapped.Addr() != want || rep.Mapped.Port() == 0 {
		t.Fatalf("mapped %v, want nat1's outside address %v:<port>\n%s", rep.Mapped, want, out)
	}
}

// TestNATProbeDefaultsToTheNodesServer: with no --stun, `parley nat` asks the STUN
// servers of the running node, here the default: its rendezvous server on port 3478.
func TestNATProbeDefaultsToTheNodesServer(t *testing.T) {
	n := newNATTopology(t)
	srv := startNATServer(t, n.server, false)
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: n.ann, Args: []string{"--rendezvous", srv.addr, "--no-mdns"}})
	if st := ann.Status(); len(st.STUN) != 1 || st.STUN[0] != net.JoinHostPort(n.server.IP.String(), "3478") {
		t.Fatalf("ann's node uses STUN %q, want the rendezvous server on port 3478", st.STUN)
	}
	var rep struct {
		Mapped  netip.AddrPort `json:"mapped"`
		Results []struct {
			Server string `json:"server"`
		} `json:"results"`
	}
	ann.JSON(&rep, "nat")
	if want := netip.MustParseAddr(n.out1.String()); rep.Mapped.Addr() != want || len(rep.Results) != 1 {
		t.Fatalf("parley nat without --stun: %+v, want nat1's outside address %v from one server", rep, want)
	}
	t.Logf("parley nat asked %s: mapped %s", rep.Results[0].Server, rep.Mapped)
}

// TestHolePunchThroughTwoNATs: Ann and Bob, each behind its own NAT, find each other only
// through the rendezvous server, first reach each other through its relay, and end up on a
// direct, hole-punched connection (QUIC or TCP, at the other NAT's outside address), over
// which messages go both ways and a file arrives byte-identical. It fails if the path
// stays relayed.
func TestHolePunchThroughTwoNATs(t *testing.T) {
	n := newNATTopology(t)
	srv := startNATServer(t, n.server, true)
	downloads := t.TempDir()
	withServer := []string{"--rendezvous", srv.addr}
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: n.ann, Args: withServer})
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Host: n.bob,
		Args: append([]string{"--accept-files", "any", "--downloads", downloads}, withServer...)})
	bobID := bob.Status().PeerID
	annID := ann.Status().PeerID
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("punch-related log lines:\nAnn:\n%s\nBob:\n%s\nserver:\n%s",
				natLines(ann.Log()), natLines(bob.Log()), natLines(srv.log.String()))
			t.Logf("Ann's log:\n%s\nBob's log:\n%s\nserver log:\n%s", tail(ann.Log()), tail(bob.Log()), tail(srv.log.String()))
		}
	})

	waitOnlineVia(t, ann, "Bob", "rendezvous")
	waitOnlineVia(t, bob, "Ann", "rendezvous")

	annSeen := waitDirect(t, ann, bobID, "Bob", n.out2)
	bobSeen := waitDirect(t, bob, annID, "Ann", n.out1)
	t.Logf("Ann sees Bob connected directly at %v", annSeen.Addrs)
	t.Logf("Bob sees Ann connected directly at %v", bobSeen.Addrs)
	t.Logf("how they got there:\nAnn:\n%s\nBob:\n%s",
		logLines(ann.Log(), "behind a nat", "punch"), logLines(bob.Log(), "behind a nat", "punch"))

	sendDelivered(t, ann, "Bob", "hello from behind nat1")
	sendDelivered(t, bob, "Ann", "hello from behind nat2")

	src := filepath.Join(t.TempDir(), "punched.bin")
	writeRandom(t, src, 2<<20, 4)
	tr, err := ann.SendFile(sendTimeout, bobID, src)
	if err != nil {
		t.Fatalf("send-file over the punched path: %v", err)
	}
	if tr.State != api.TransferCompleted {
		t.Fatalf("send-file ended %q (%s), want completed", tr.State, tr.Error)
	}
	assertSameFile(t, src, filepath.Join(downloads, "punched.bin"))
	assertNoPartials(t, downloads)

	if p, ok := ann.Peer(bobID); !ok || !p.Connected || p.Relayed {
		t.Errorf("after the transfer Ann sees Bob %+v, want still connected directly", p)
	}
}

// waitDirect waits (at most 60 s) until n has a direct, not relayed, connection to the
// peer, and returns the peer entry. The connection must go to the peer's NAT's outside
// address: nothing else of the peer is reachable.
func waitDirect(t *testing.T, n *testnode.Node, id, name string, natOutside net.IP) api.Peer {
	t.Helper()
	const limit = 60 * time.Second
	var last api.Peer
	var history []string
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		p, ok := n.Peer(id)
		if ok {
			if s := fmt.Sprintf("connected %v relayed %v addrs %v", p.Connected, p.Relayed, p.Addrs); len(history) == 0 || history[len(history)-1] != s {
				history = append(history, s)
			}
			last = p
			if p.Connected && !p.Relayed {
				for _, a := range p.Addrs {
					if strings.HasPrefix(a, "/ip4/"+natOutside.String()+"/") && !strings.Contains(a, "p2p-circuit") {
						return p
					}
				}
				t.Fatalf("%s is connected to %s directly, but not at its NAT's outside address %s: %v",
					name, id, natOutside, p.Addrs)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no direct connection to %s within %v (the path stayed relayed or down): last %+v\nseen:\n  %s",
		name, limit, last, strings.Join(history, "\n  "))
	return last
}

// natLines picks the log lines about STUN, relaying and hole punching.
func natLines(log string) string {
	return logLines(log, "stun", "punch", "relay", "reflexive", "behind a nat", "circuit", "direct", "dcutr")
}

// logLines picks the (last 80) log lines holding any of words, ignoring case.
func logLines(log string, words ...string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		low := strings.ToLower(l)
		for _, w := range words {
			if strings.Contains(low, w) {
				out = append(out, l)
				break
			}
		}
	}
	const max = 80
	if len(out) > max {
		out = append([]string{fmt.Sprintf("… %d earlier lines", len(out)-max)}, out[len(out)-max:]...)
	}
	return strings.Join(out, "\n")
}
