package discovery

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/internal/netlab"
)

// The namespace tests run the test binary itself inside netlab hosts: TestMDNSChild, selected
// by these environment variables, is one Parley node's discovery. It prints JSON events on
// stdout and takes commands on stdin (see childEvent and runChild).
const (
	envChild  = "PARLEY_MDNS_CHILD" // "1" in a child
	envSeed   = "PARLEY_MDNS_SEED"  // identity seed
	envName   = "PARLEY_MDNS_NAME"  // display name
	envIP     = "PARLEY_MDNS_IP"    // address to listen on
	envHidden = "PARLEY_MDNS_HIDDEN"
	// envHidden=1: the Interfaces hook reports no interface until the "show" command, as if
	// the network came up after Start.

	findTimeout = 20 * time.Second // generous: this bounds a hang, it does not measure speed
)

// childEvent is one line of a child's output.
type childEvent struct {
	Event   string   `json:"event"` // started | found | closed
	Self    string   `json:"self"`
	ID      string   `json:"id,omitempty"`   // found: the peer
	Name    string   `json:"name,omitempty"` // found
	Addrs   []string `json:"addrs,omitempty"`
	Via     string   `json:"via,omitempty"`
	Ms      float64  `json:"ms"`               // since Start
	Leaked  int      `json:"leaked,omitempty"` // closed: goroutines left after Close
	CloseMs float64  `json:"close_ms,omitempty"`
}

// TestMDNSChild is the child side; it does nothing in a normal run.
func TestMDNSChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("helper for the namespace tests")
	}
	if err := runChild(os.Stdin, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// runChild runs one node until stdin closes. Commands, one per line: "addr <multiaddr>" adds
// a listen address (to test advert refresh), "show" ends envHidden.
func runChild(stdin io.Reader, stdout, stderr io.Writer) error {
	id, err := seedID(os.Getenv(envSeed))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(os.Getenv(envIP), "0"))
	if err != nil {
		return err
	}
	defer ln.Close()
	var mu sync.Mutex // guards addrs, hidden and stdout
	addrs := []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%d", os.Getenv(envIP), ln.Addr().(*net.TCPAddr).Port))}
	hidden := os.Getenv(envHidden) == "1"
	enc := json.NewEncoder(stdout)
	emit := func(e childEvent) {
		mu.Lock()
		defer mu.Unlock()
		e.Self = id.String()
		_ = enc.Encode(e)
	}

	lines := make(chan string)
	go func() { // ends at EOF, before the leak check below
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	base := runtime.NumGoroutine()
	var start time.Time
	m, err := NewMDNS(MDNSConfig{
		Self: id,
		Name: os.Getenv(envName),
		Addrs: func() []ma.Multiaddr {
			mu.Lock()
			defer mu.Unlock()
			return append([]ma.Multiaddr(nil), addrs...)
		},
		Found: func(p Peer) {
			e := childEvent{Event: "found", ID: p.ID.String(), Name: p.Name, Via: p.Via, Ms: msSince(start)}
			for _, a := range p.Addrs {
				e.Addrs = append(e.Addrs, a.String())
			}
			emit(e)
		},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Interfaces: func() ([]net.Interface, error) {
			mu.Lock()
			defer mu.Unlock()
			if hidden {
				return nil, nil
			}
			return net.Interfaces()
		},
	})
	if err != nil {
		return err
	}
	start = time.Now()
	if err := m.Start(); err != nil {
		return err
	}
	emit(childEvent{Event: "started"})

	for line := range lines {
		cmd, arg, _ := strings.Cut(line, " ")
		mu.Lock()
		switch cmd {
		case "addr":
			addrs = append(addrs, ma.StringCast(arg))
		case "show":
			hidden = false
		}
		mu.Unlock()
	}

	closeStart := time.Now()
	if err := m.Close(); err != nil {
		return err
	}
	closeMs := msSince(closeStart)
	leaked := goroutinesAbove(base, 3*time.Second)
	if leaked > 0 {
		fmt.Fprintf(stderr, "goroutines after Close:\n%s", allStacks())
	}
	emit(childEvent{Event: "closed", Leaked: leaked, CloseMs: closeMs})
	return nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// node is a running child as seen by the parent test.
type node struct {
	t      *testing.T
	host   *netlab.Host
	id     peer.ID
	name   string
	stdin  io.WriteCloser
	events chan childEvent // closed at the child's EOF
	stderr *lockedBuffer
	done   chan error
}

// startNode runs a child node in h with identity seed.
func startNode(t *testing.T, h *netlab.Host, seed string, env ...string) *node {
	t.Helper()
	n := &node{t: t, host: h, id: testID(t, seed), name: "node " + seed, events: make(chan childEvent, 1024),
		stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd := h.Command(t.Context(), os.Args[0], "-test.run=^TestMDNSChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envChild+"=1", envSeed+"="+seed, envName+"="+n.name, envIP+"="+h.IP.String())
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = n.stderr
	var err error
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go n.read(stdout)
	go func() { n.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("%s (%s) stderr:\n%s", n.name, h, n.stderr.String())
		}
	})
	n.wait("started", "")
	return n
}

func (n *node) read(r io.Reader) {
	defer close(n.events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e childEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event != "" {
			n.events <- e
		}
	}
}

// wait returns the next event of kind (and peer id, if given), failing the test on a found
// event for the node itself or after findTimeout.
func (n *node) wait(kind, id string) childEvent {
	n.t.Helper()
	timeout := time.After(findTimeout)
	for {
		select {
		case e, ok := <-n.events:
			if !ok {
				n.t.Fatalf("%s exited while waiting for %s %s: %v", n.name, kind, id, n.stderr.tail())
			}
			if e.Event == "found" && e.ID == n.id.String() {
				n.t.Errorf("%s found itself", n.name)
			}
			if e.Event == kind && (id == "" || e.ID == id) {
				return e
			}
		case <-timeout:
			n.t.Fatalf("%s: no %s %s within %v", n.name, kind, id, findTimeout)
		}
	}
}

// waitFound waits until n has found every peer in others, and returns the first event for each.
func (n *node) waitFound(others ...*node) map[peer.ID]childEvent {
	n.t.Helper()
	want := map[string]*node{}
	for _, o := range others {
		want[o.id.String()] = o
	}
	got := map[peer.ID]childEvent{}
	timeout := time.After(findTimeout)
	for len(got) < len(want) {
		select {
		case e, ok := <-n.events:
			if !ok {
				n.t.Fatalf("%s exited: %s", n.name, n.stderr.tail())
			}
			if e.Event != "found" {
				continue
			}
			if e.ID == n.id.String() {
				n.t.Fatalf("%s found itself", n.name)
			}
			o, ok := want[e.ID]
			if !ok {
				continue // a peer found earlier, reported again every round
			}
			if _, seen := got[o.id]; !seen {
				checkFound(n.t, e, o)
				got[o.id] = e
			}
		case <-timeout:
			n.t.Fatalf("%s found %d of %d peers within %v", n.name, len(got), len(want), findTimeout)
		}
	}
	return got
}

// checkFound checks that a found event describes o correctly.
func checkFound(t *testing.T, e childEvent, o *node) {
	t.Helper()
	if e.Name != o.name || e.Via != "mdns" || len(e.Addrs) == 0 {
		t.Errorf("found %s as %+v", o.name, e)
	}
	for _, a := range e.Addrs {
		if !strings.HasPrefix(a, "/ip4/"+o.host.IP.String()+"/tcp/") {
			t.Errorf("%s advertised as %s", o.name, a)
		}
	}
}

// stop closes n's stdin and checks that Close ran cleanly.
func (n *node) stop() {
	n.t.Helper()
	_ = n.stdin.Close()
	e := n.wait("closed", "")
	if e.Leaked != 0 {
		n.t.Errorf("%s: %d goroutines leaked after Close: %s", n.name, e.Leaked, n.stderr.tail())
	}
	n.t.Logf("%s: Close took %.0f ms", n.name, e.CloseMs)
	select {
	case err := <-n.done:
		n.done <- err // for the cleanup
		if err != nil {
			n.t.Errorf("%s exited with %v: %s", n.name, err, n.stderr.tail())
		}
	case <-time.After(findTimeout):
		n.t.Errorf("%s did not exit after Close", n.name)
	}
}

func TestMDNSThreeHosts(t *testing.T) {
	lab := netlab.New(t)
	h1, h2, h3 := lab.AddHost("h1"), lab.AddHost("h2"), lab.AddHost("h3")
	n1 := startNode(t, h1, "one")
	n2 := startNode(t, h2, "two")
	n1.waitFound(n2)
	n2.waitFound(n1)
	// n1 and n2 are up and advertising: how long does a newcomer take to find them?
	n3 := startNode(t, h3, "three")
	for id, e := range n3.waitFound(n1, n2) {
		t.Logf("TIME Start -> first Found of an already-running peer (other namespace): %s found %s after %.0f ms", n3.name, id.ShortString(), e.Ms)
	}
	n1.waitFound(n3)
	n2.waitFound(n3)

	// A new listen address reaches the others without a restart.
	extra := "/ip4/" + h1.IP.String() + "/udp/4242/quic-v1"
	fmt.Fprintf(n1.stdin, "addr %s\n", extra)
	for _, n := range []*node{n2, n3} {
		n.waitAddr(n1, extra)
	}
	for _, n := range []*node{n1, n2, n3} {
		n.stop()
	}
}

// waitAddr waits until n reports o with address a.
func (n *node) waitAddr(o *node, a string) {
	n.t.Helper()
	timeout := time.After(findTimeout)
	for {
		select {
		case e, ok := <-n.events:
			if !ok {
				n.t.Fatalf("%s exited: %s", n.name, n.stderr.tail())
			}
			if e.Event == "found" && e.ID == o.id.String() && containsString(e.Addrs, a) {
				return
			}
		case <-timeout:
			n.t.Fatalf("%s never saw %s with %s", n.name, o.name, a)
		}
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestMDNSSameNamespace runs three nodes in one namespace, as three Parley homes on one
// machine: queries are looped back to the other nodes' servers and answered by unicast.
func TestMDNSSameNamespace(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("shared")
	a, b := startNode(t, h, "home-a"), startNode(t, h, "home-b")
	a.waitFound(b)
	b.waitFound(a)
	c := startNode(t, h, "home-c")
	for id, e := range c.waitFound(a, b) {
		t.Logf("TIME Start -> first Found of an already-running peer (same namespace): %s found %s after %.0f ms", c.name, id.ShortString(), e.Ms)
	}
	a.waitFound(c)
	b.waitFound(c)
	for _, n := range []*node{a, b, c} {
		n.stop()
	}
}

// TestMDNSLateInterface starts a node whose interfaces appear only after Start: the next round
// must start a server and query on them.
func TestMDNSLateInterface(t *testing.T) {
	lab := netlab.New(t)
	h1, h2 := lab.AddHost("early"), lab.AddHost("late")
	early := startNode(t, h1, "early")
	late := startNode(t, h2, "late", envHidden+"=1")
	time.Sleep(1500 * time.Millisecond) // a few quick rounds with no interface
	for _, n := range []*node{early, late} {
		select {
		case e := <-n.events:
			t.Fatalf("%s: event before the interface appeared: %+v", n.name, e)
		default:
		}
	}
	fmt.Fprintln(late.stdin, "show")
	early.waitFound(late)
	late.waitFound(early)
	early.stop()
	late.stop()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last lines of the buffer, for failure messages.
func (b *lockedBuffer) tail() string {
	s := b.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}
