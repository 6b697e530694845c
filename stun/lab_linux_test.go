//go:build linux

package stun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testenv"
	"golang.org/x/sys/unix"
)

// needLab skips the test loudly unless it can build namespaces and find tools, or fails it when
// CI is set, since CI must run these tests (scripts/install-deps.sh installs the tools).
func needLab(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if err := netlab.Available(); err != nil {
		missing = append(missing, err.Error())
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, "`"+tool+"` not found in PATH")
		}
	}
	if len(missing) == 0 {
		return
	}
	testenv.Need(t, fmt.Sprintf("the stun lab tests need root, iproute2 and %v", tools), errors.New(strings.Join(missing, "; ")))
}

// listenIn opens a UDP socket inside network namespace ns (a name under /run/netns). The socket
// stays in that namespace for its whole life, so the test process can use it directly. It is
// closed when the test ends.
func listenIn(t *testing.T, ns, addr string) net.PacketConn {
	t.Helper()
	type result struct {
		pc  net.PacketConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread's namespace changes and is never changed back: the thread stays locked
		// and the runtime discards it when this goroutine ends.
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		pc, err := net.ListenPacket("udp4", addr)
		ch <- result{pc, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen %s in netns %s: %v", addr, ns, r.err)
	}
	t.Cleanup(func() { r.pc.Close() })
	return r.pc
}

// TestInteropCoturnClient: coturn's turnutils_stunclient on one host asks our responder on
// another and prints the client host's address.
func TestInteropCoturnClient(t *testing.T) {
	needLab(t, "turnutils_stunclient")
	checkLeaks(t)
	lab := netlab.New(t)
	srv, cli := lab.AddHost("server"), lab.AddHost("client")
	r := &Responder{}
	pc := listenIn(t, srv.NS, srv.IP.String()+":0")
	serve(t, r, pc)
	port := pc.LocalAddr().(*net.UDPAddr).Port

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	out, err := cli.Command(ctx, "turnutils_stunclient", "-p", fmt.Sprint(port), srv.IP.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("turnutils_stunclient: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`UDP reflexive addr: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("turnutils_stunclient printed no reflexive address:\n%s", out)
	}
	got, err := netip.ParseAddrPort(string(m[1]))
	if err != nil || got.Addr().String() != cli.IP.String() || got.Port() == 0 {
		t.Fatalf("turnutils_stunclient saw %q, want %s:<port>\n%s", m[1], cli.IP, out)
	}
	waitFor(t, "the responder to count its answers", func() bool {
		s := r.Stats()
		return s.Answered > 0 && s.Answered == s.Received
	})
}

// TestInteropCoturnServer: our client reads its address from coturn's turnserver (STUN only)
// running on another host.
func TestInteropCoturnServer(t *testing.T) {
	needLab(t, "turnserver")
	checkLeaks(t)
	lab := netlab.New(t)
	srv, cli := lab.AddHost("turnserver"), lab.AddHost("client")
	startTurnserver(t, srv)

	conn := listenIn(t, cli.NS, cli.IP.String()+":0")
	server := srv.IP.String() + ":3478" // turnserver's own namespace: no port can clash
	var got netip.AddrPort
	var err error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) { // until turnserver listens
		got, err = Client{Interval: 300 * time.Millisecond}.Mapped(ctxT(t, 5*time.Second), conn, server)
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Mapped from coturn: %v", err)
	}
	if want := local(conn); got != want {
		t.Fatalf("coturn says %v, want the client socket's %v", got, want)
	}
}

// startTurnserver runs coturn as a STUN-only server on h's address, port 3478, with no config
// file, TLS, CLI or relay use, logging into the test's temp dir. It is killed when the test
// ends, and its log is shown if the test failed.
func startTurnserver(t *testing.T, h *netlab.Host) {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "turnserver.log")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, "turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-ip", h.IP.String(), "--listening-port", "3478",
		"--relay-ip", h.IP.String(), "--userdb", filepath.Join(dir, "turndb"),
		"--pidfile", filepath.Join(dir, "turnserver.pid"),
		"--log-file", logFile, "--simple-log", "--no-stdout-log")
	out, err := os.Create(filepath.Join(dir, "turnserver.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start turnserver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			for _, f := range []string{out.Name(), logFile} {
				b, _ := os.ReadFile(f)
				t.Logf("%s:\n%s", filepath.Base(f), b)
			}
		}
	})
}

// nat is a client host behind a NAT router and a server host outside it, without a bridge:
//
//	client 198.18.1.2/24 eth0 ── in0 198.18.1.1/24 [router] out0 198.18.2.1/24 ── eth0 server
//	                                                                   198.18.2.2/24, 198.18.2.3/24
//
// The router masquerades on out0 and drops new connections coming in from out0 (input and
// forward), like a real gateway (PRODUCT.md, "Test lab"). Namespaces are deleted when the test
// ends.
type nat struct {
	client, router, server string // namespace names
}

var (
	natOutside = netip.MustParseAddr("198.18.2.1")
	natServers = []netip.Addr{netip.MustParseAddr("198.18.2.2"), netip.MustParseAddr("198.18.2.3")}
)

const natRules = `
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "out0" masquerade
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "out0" ct state new drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "out0" ct state new drop
	}
}
`

func newNAT(t *testing.T) *nat {
	t.Helper()
	tag := make([]byte, 3)
	_, _ = rand.Read(tag)
	prefix := fmt.Sprintf("plstun%d-%s-", os.Getpid(), hex.EncodeToString(tag))
	n := &nat{client: prefix + "c", router: prefix + "r", server: prefix + "s"}
	t.Cleanup(func() {
		for _, ns := range []string{n.client, n.router, n.server} {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
				continue
			}
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	steps := [][]string{
		{"ip", "netns", "add", n.client},
		{"ip", "netns", "add", n.router},
		{"ip", "netns", "add", n.server},
		{"ip", "-n", n.client, "link", "add", "eth0", "type", "veth", "peer", "name", "in0", "netns", n.router},
		{"ip", "-n", n.server, "link", "add", "eth0", "type", "veth", "peer", "name", "out0", "netns", n.router},
		{"ip", "-n", n.client, "addr", "add", "198.18.1.2/24", "dev", "eth0"},
		{"ip", "-n", n.router, "addr", "add", "198.18.1.1/24", "dev", "in0"},
		{"ip", "-n", n.router, "addr", "add", natOutside.String() + "/24", "dev", "out0"},
		{"ip", "-n", n.server, "addr", "add", natServers[0].String() + "/24", "dev", "eth0"},
		{"ip", "-n", n.server, "addr", "add", natServers[1].String() + "/24", "dev", "eth0"},
	}
	for _, ns := range []string{n.client, n.router, n.server} {
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"ip", "-n", n.client, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", n.router, "link", "set", "in0", "up"},
		[]string{"ip", "-n", n.router, "link", "set", "out0", "up"},
		[]string{"ip", "-n", n.server, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", n.client, "route", "add", "default", "via", "198.18.1.1"},
		[]string{"ip", "netns", "exec", n.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	)
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("nat: %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", n.router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(natRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nat: nft -f: %v: %s", err, out)
	}
	return n
}

// TestProbeBehindNAT: from behind a masquerading router, Probe against two responders outside
// sees the router's outside address and an endpoint-independent mapping, and a datagram from an
// endpoint the client never sent to does not get in.
func TestProbeBehindNAT(t *testing.T) {
	needLab(t, "nft", "sysctl")
	checkLeaks(t)
	n := newNAT(t)
	var servers []string
	for _, ip := range natServers {
		pc := listenIn(t, n.server, ip.String()+":0")
		serve(t, &Responder{}, pc)
		servers = append(servers, pc.LocalAddr().String())
	}
	conn := listenIn(t, n.client, "0.0.0.0:0")
	rep, err := Client{}.ProbeConn(ctxT(t, 10*time.Second), conn, servers)
	if err != nil {
		t.Fatalf("Probe behind NAT: %v", err)
	}
	t.Logf("behind NAT: local %s, mapped %s, %s", rep.Local, rep.Mapped, rep.Mapping)
	if rep.Mapped.Addr() != natOutside {
		t.Fatalf("mapped %v, want the router's outside address %v: %+v", rep.Mapped, natOutside, rep)
	}
	if !rep.EndpointIndependent || rep.Mapping != MappingEndpointIndependent {
		t.Fatalf("mapping %q, want endpoint-independent (masquerade keeps one mapping per socket): %+v", rep.Mapping, rep)
	}

	// Unsolicited: a socket outside that the client never sent to sends to the mapped address.
	outsider := listenIn(t, n.server, natServers[0].String()+":0")
	if _, err := outsider.WriteTo([]byte("unsolicited"), net.UDPAddrFromAddrPort(rep.Mapped)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1500)
	if k, from, err := conn.ReadFrom(buf); err == nil {
		t.Fatalf("the NAT let in an unsolicited datagram from %v: %q", from, buf[:k])
	}
}
