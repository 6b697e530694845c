package integration

import (
	"bufio"
	"os/exec"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testenv"
	"github.com/parley-im/parley/internal/testnode"
)

// TestMDNSGoodbyeOnStop: python-zeroconf (Debian's python3-zeroconf) browsing on another host
// sees a `parley up` node, and drops it once the node stops: parley sends goodbye records
// (TTL 0) as it exits. Without them python-zeroconf keeps the node for the records' TTL
// (120 s). The delay is printed, not asserted.
func TestMDNSGoodbyeOnStop(t *testing.T) {
	t.Parallel()
	py := testenv.Tool(t, "needs python3-zeroconf", "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import zeroconf").Run(); err != nil {
		testenv.Need(t, "needs python3-zeroconf", err)
	}
	lab := netlab.New(t)
	hn, hz := lab.AddHost("node"), lab.AddHost("zc")
	cmd := hz.Command(t.Context(), py, "../discovery/testdata/zc.py", "browse", "QM")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	wait := func(line string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("python-zeroconf exited waiting for %q", line)
				}
				if l == line {
					return
				}
			case <-timeout:
				t.Fatalf("python-zeroconf: no %q", line)
			}
		}
	}
	wait("ready")
	n := testnode.Start(t, testnode.Options{Name: "Goodbye", Host: hn})
	name := n.Status().PeerID + "._parley._udp.local."
	wait("added " + name)
	stopped := time.Now()
	n.Stop()
	wait("removed " + name)
	t.Logf("TIME parley stop (SIGTERM) -> python-zeroconf removed the node: %v (records' TTL: 120 s)", time.Since(stopped).Round(time.Millisecond))
}
