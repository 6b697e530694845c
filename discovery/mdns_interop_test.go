package discovery

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testenv"
)

// These tests check Parley's mDNS against standard tools, each in its own network namespace:
// python-zeroconf (browsing and publishing), dig (legacy unicast) and mdns-scan.

// pyZeroconf returns the Debian python3 that has the zeroconf module (python3-zeroconf).
func pyZeroconf(t *testing.T) string {
	t.Helper()
	py := testenv.Tool(t, "needs python3-zeroconf", "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import zeroconf").Run(); err != nil {
		testenv.Need(t, "needs python3-zeroconf", err)
	}
	return py
}

// tool is an external program in a namespace that prints lines.
type tool struct {
	t     *testing.T
	name  string
	stdin io.WriteCloser
	lines chan string
	cmd   *exec.Cmd
}

func startTool(t *testing.T, h *netlab.Host, name string, args ...string) *tool {
	t.Helper()
	cmd := h.Command(t.Context(), name, args...)
	tl := &tool{t: t, name: filepath.Base(name) + " " + strings.Join(args, " "), lines: make(chan string, 256), cmd: cmd}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	var err error
	if tl.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tl.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			tl.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = tl.stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", tl.name, stderr.tail())
		}
	})
	return tl
}

// waitLine returns the first line with prefix that contains all of want.
func (tl *tool) waitLine(prefix string, want ...string) string {
	tl.t.Helper()
	timeout := time.After(findTimeout)
	for {
		select {
		case l, ok := <-tl.lines:
			if !ok {
				tl.t.Fatalf("%s exited while waiting for %q %q", tl.name, prefix, want)
			}
			if !strings.HasPrefix(l, prefix) {
				continue
			}
			all := true
			for _, w := range want {
				all = all && strings.Contains(l, w)
			}
			if all {
				return l
			}
		case <-timeout:
			tl.t.Fatalf("%s: no line %q %q within %v", tl.name, prefix, want, findTimeout)
		}
	}
}

// TestMDNSZeroconfBrowses: python-zeroconf on another host finds a node with QM and with QU
// questions, reads its TXT, and drops it soon after the node stops (its goodbye); without a
// goodbye it would keep it for the records' 120 s TTL.
func TestMDNSZeroconfBrowses(t *testing.T) {
	py := pyZeroconf(t)
	for _, qt := range []string{"QM", "QU"} {
		t.Run(qt, func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t)
			hn, hz := lab.AddHost("node"), lab.AddHost("zc")
			zc := startTool(t, hz, py, "testdata/zc.py", "browse", qt)
			zc.waitLine("ready")
			n := startNode(t, hn, "zc-"+qt)
			name := n.id.String() + "._parley._udp.local."
			zc.waitLine("added " + name)
			zc.waitLine("txt "+name, "id="+n.id.String(), "name="+n.name, "dnsaddr=/ip4/"+hn.IP.String())
			stopped := time.Now()
			n.stop()
			zc.waitLine("removed " + name)
			t.Logf("TIME node Close -> python-zeroconf removed it (%s): %.0f ms", qt, msSince(stopped))
		})
	}
}

// TestMDNSLegacyUnicast: a one-shot (legacy unicast) query from an ephemeral port to the
// group gets an answer back at that port with the same ID and the question echoed
// (RFC 6762 §6.7).
func TestMDNSLegacyUnicast(t *testing.T) {
	t.Parallel()
	py := pyZeroconf(t)
	lab := netlab.New(t)
	hn, hq := lab.AddHost("node"), lab.AddHost("q")
	n := startNode(t, hn, "legacy")
	q := startTool(t, hq, py, "testdata/zc.py", "legacy", "4660")
	l := q.waitLine("reply ")
	t.Logf("legacy query: %s", l)
	if want := fmt.Sprintf("reply %s:5353 4660 _parley._udp.local.", hn.IP); l != want {
		t.Errorf("got %q, want %q", l, want)
	}
	n.stop()
}

// TestMDNSLegacyUnicastDig: `dig -p 5353 @NODE` asks the node's address directly from an
// ephemeral port and gets an answer with its ID. (`dig @224.0.0.251` cannot work with any
// responder since BIND 9.16: dig connect()s its socket to the group address, so the kernel
// drops every answer, which comes from a unicast address; TestMDNSLegacyUnicast covers the
// group.)
func TestMDNSLegacyUnicastDig(t *testing.T) {
	t.Parallel()
	dig := testenv.Tool(t, "needs dig (dnsutils)", "dig")
	lab := netlab.New(t)
	hn, hd := lab.AddHost("node"), lab.AddHost("dig")
	n := startNode(t, hn, "dig")
	out, _ := hd.Command(t.Context(), dig, "-p", "5353", "@"+hn.IP.String(), "+time=3", "+tries=1",
		"_parley._udp.local.", "PTR").CombinedOutput()
	t.Logf("dig:\n%s", out)
	s := string(out)
	for _, bad := range []string{"timed out", "ID mismatch", "no servers could be reached"} {
		if strings.Contains(s, bad) {
			t.Errorf("dig: %q", bad)
		}
	}
	if !strings.Contains(s, "status: NOERROR") || !strings.Contains(s, n.id.String()+"._parley._udp.local.") {
		t.Errorf("dig got no answer naming %s", n.id)
	}
	if !strings.Contains(s, ";_parley._udp.local.\t") {
		t.Errorf("dig: the answer does not echo the question")
	}
	n.stop()
}

// TestMDNSScan: mdns-scan, which drops answers whose IP TTL is not 255, lists the node.
func TestMDNSScan(t *testing.T) {
	t.Parallel()
	scan := testenv.Tool(t, "needs mdns-scan", "mdns-scan")
	lab := netlab.New(t)
	hn, hs := lab.AddHost("node"), lab.AddHost("scan")
	n := startNode(t, hn, "scan")
	out, _ := hs.Command(t.Context(), "timeout", "4", scan).CombinedOutput()
	t.Logf("mdns-scan:\n%s", out)
	if !strings.Contains(string(out), n.id.String()) {
		t.Errorf("mdns-scan did not list %s", n.id)
	}
	n.stop()
}

// TestMDNSFindsZeroconfPublisher: a Parley advert published by python-zeroconf (whose answers
// carry NSEC records that miekg/dns rejects) is found.
func TestMDNSFindsZeroconfPublisher(t *testing.T) {
	t.Parallel()
	py := pyZeroconf(t)
	lab := netlab.New(t)
	hn, hz := lab.AddHost("node"), lab.AddHost("zc")
	id := testID(t, "published-by-zeroconf")
	addr := ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/4747", hz.IP))
	args := append([]string{"testdata/zc.py", "publish", hz.IP.String(), id.String()}, EncodeTXT(id, "Zed", []ma.Multiaddr{addr})...)
	zc := startTool(t, hz, py, args...)
	zc.waitLine("ready")
	n := startNode(t, hn, "finder")
	e := n.wait("found", id.String())
	if e.Name != "Zed" || !containsString(e.Addrs, addr.String()) {
		t.Errorf("found %+v", e)
	}
	n.stop()
}
