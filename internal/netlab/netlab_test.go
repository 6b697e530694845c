package netlab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// childEnv selects a helper role when the test binary is re-executed inside a host.
const childEnv = "NETLAB_TEST_CHILD"

// TestMain lets the test binary act as a tiny TCP server or client inside a namespace, so the
// reachability test needs nothing beyond `ip` (iputils-ping is often missing).
func TestMain(m *testing.M) {
	switch role := os.Getenv(childEnv); {
	case role == "":
		os.Exit(m.Run())
	case role == "listen":
		os.Exit(childListen(os.Getenv("NETLAB_TEST_ADDR")))
	case role == "dial":
		os.Exit(childDial(os.Getenv("NETLAB_TEST_ADDR")))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, role)
		os.Exit(2)
	}
}

// childListen prints the address it listens on, answers one connection with "hello" and exits.
func childListen(addr string) int {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	fmt.Println(ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	_, err = io.WriteString(c, "hello from "+c.LocalAddr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childDial connects to addr and prints what the server says.
func childDial(addr string) int {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(string(b))
	return 0
}

func TestHostsReachEachOther(t *testing.T) {
	lab := New(t)
	a, b := lab.AddHost("a"), lab.AddHost("b")
	if !a.IP.Equal(net.IPv4(198, 18, 0, 1)) || !b.IP.Equal(net.IPv4(198, 18, 0, 2)) {
		t.Fatalf("addresses: a=%s b=%s, want 198.18.0.1 and 198.18.0.2", a.IP, b.IP)
	}
	for _, h := range []*Host{a, b} {
		if out := h.Run(t, "ip", "route", "show", "224.0.0.0/4"); !strings.Contains(out, "dev eth0") {
			t.Errorf("%s: no multicast route: %q", h, out)
		}
	}
	assertReach(t, a, b)
	assertReach(t, b, a)
}

// assertReach runs a TCP server in to and a client in from, and checks the greeting.
func assertReach(t *testing.T, from, to *Host) {
	t.Helper()
	srv := to.Command(t.Context(), os.Args[0], "-test.run=^$")
	srv.Env = append(os.Environ(), childEnv+"=listen", "NETLAB_TEST_ADDR="+to.IP.String()+":0")
	srv.Stderr = os.Stderr
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: server did not start: %v", to, err)
	}
	addr := strings.TrimSpace(line)

	cli := from.Command(t.Context(), os.Args[0], "-test.run=^$")
	cli.Env = append(os.Environ(), childEnv+"=dial", "NETLAB_TEST_ADDR="+addr)
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot reach %s at %s: %v\n%s", from, to, addr, err, out)
	}
	if want := "hello from " + addr; string(out) != want {
		t.Fatalf("%s -> %s: got %q, want %q", from, to, out, want)
	}
}

func TestCloseDeletesEverything(t *testing.T) {
	lab := New(t)
	h := lab.AddHost("x")
	names := []string{lab.switchNS, h.NS}
	for _, ns := range names {
		if !nsExists(ns) {
			t.Fatalf("namespace %s missing after AddHost", ns)
		}
	}
	// A process left running in a host must not keep the lab alive.
	sleeper := h.Command(t.Context(), "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()

	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := lab.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, ns := range names {
		if nsExists(ns) {
			t.Errorf("namespace %s still exists after Close", ns)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("process in the host survived Close")
	}
	if !strings.HasPrefix(h.NS, "pl") || len(h.NS) > 32 {
		t.Errorf("namespace name %q: want short and starting with pl", h.NS)
	}
}

func TestNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := nextNS()
		if seen[n] {
			t.Fatalf("duplicate namespace name %s", n)
		}
		seen[n] = true
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"1gbit": 1e9, "200mbit": 200e6, "1.5Mbit": 1.5e6, "64kbit": 64e3, "1000bit": 1000} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "10", "-1mbit", "mbit", "1MB"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestLimitRate(t *testing.T) {
	lab := New(t)
	h := lab.AddHost("shaped")
	h.LimitRate(t, "200mbit")
	if out := h.Run(t, "tc", "qdisc", "show", "dev", "eth0"); !strings.Contains(out, "tbf") || !strings.Contains(out, "200Mbit") {
		t.Fatalf("after LimitRate: %q", out)
	}
	h.ClearRate(t)
	if out := h.Run(t, "tc", "qdisc", "show", "dev", "eth0"); strings.Contains(out, "tbf") {
		t.Fatalf("after ClearRate: %q", out)
	}
}
