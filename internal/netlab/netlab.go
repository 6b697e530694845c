// Package netlab builds throwaway network namespaces joined by a bridge so tests can run real
// processes as separate hosts on one machine.
//
// A Lab is one "switch" namespace holding a Linux bridge (br0). Every Host is a namespace of its
// own whose eth0 is one end of a veth pair; the other end lives in the switch namespace and is
// enslaved to the bridge. Nothing is created in the caller's own namespace: the veth pair is
// created inside the host namespace with its peer placed straight into the switch namespace, so
// interface names only need to be unique within their namespace, and the machine's own
// interfaces (whose eth0 may lead outside) are never touched.
//
// Hosts get 198.18.0.N/24 (N = 1, 2, 3, ... per lab; 198.18.0.0/15 is the benchmarking range),
// lo up, and a route for 224.0.0.0/4 via eth0 so multicast (mDNS) works. There is no gateway:
// traffic never leaves the bridge.
//
// Namespace names are "pl" + the process ID + a random tag + a counter, so parallel test binaries
// never collide, even with a namespace leaked by an earlier crashed run of the same PID.
// Everything is deleted by t.Cleanup (or Lab.Close, which is idempotent); a test binary killed by
// -timeout cannot run cleanups, and `ip netns list | grep ^pl` shows what it left behind.
//
// Tests need root and iproute2 (`ip`). Without them New skips the test with a loud reason, or
// fails it when the CI environment variable is set, since CI must run these tests.
package netlab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testenv"
)

// Subnet is the network every lab's hosts are numbered from (198.18.0.N/24).
var Subnet = net.IPNet{IP: net.IPv4(198, 18, 0, 0).To4(), Mask: net.CIDRMask(24, 32)}

// maxHosts is how many hosts fit in a lab's /24 (.1 to .253; .254 is kept for a router).
const maxHosts = 253

// routerHost is the last octet of a router's address on each of its subnets.
const routerHost = 254

var (
	nsCounter atomic.Uint64
	nsPrefix  = "pl" + strconv.Itoa(os.Getpid()) + "-" + randomTag() + "-"
)

// randomTag returns 4 random base-36 characters.
func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b[:])
}

// nextNS returns a namespace name no other lab in any process uses.
func nextNS() string {
	return nsPrefix + strconv.FormatUint(nsCounter.Add(1), 10)
}

// Lab is a set of hosts on one bridge.
type Lab struct {
	t        testing.TB
	switchNS string
	subnet   byte // hosts are 198.18.<subnet>.N

	mu     sync.Mutex
	hosts  []*Host
	closed bool
}

// Host is one namespace on the lab's bridge.
type Host struct {
	Name string // the name given to AddHost, for messages
	NS   string // the network namespace, for `ip netns exec`
	IP   net.IP // eth0's address
	Lab  *Lab
}

// Available reports why labs cannot be built here, or nil if they can.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("`ip` (iproute2) not found in PATH")
	}
	return nil
}

// New makes a lab: one "switch" namespace holding a Linux bridge; nothing is added to the
// caller's own namespace. If the lab cannot be built here (not root, or `ip` missing) it skips
// the test loudly, or fails it if the CI environment variable is set.
func New(t testing.TB) *Lab {
	t.Helper()
	return NewSubnet(t, 0)
}

// NewSubnet is New for a lab whose hosts are numbered 198.18.<subnet>.N/24, so that two
// labs joined by AddRouter form two routed subnets.
func NewSubnet(t testing.TB, subnet byte) *Lab {
	t.Helper()
	testenv.Need(t, "netlab needs root and iproute2", Available())
	l := &Lab{t: t, switchNS: nextNS(), subnet: subnet}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: cleanup: %v", err)
		}
	})
	if err := l.setupSwitch(); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return l
}

// setupSwitch creates the switch namespace and its bridge. A bridge with multicast snooping off
// floods multicast to every port, like a dumb switch.
func (l *Lab) setupSwitch() error {
	steps := [][]string{
		{"netns", "add", l.switchNS},
		{"-n", l.switchNS, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0"},
		{"-n", l.switchNS, "link", "set", "br0", "up"},
	}
	return ipSteps(steps)
}

// AddHost adds a namespace with eth0 on the bridge, numbered 198.18.0.N/24 in order of creation.
// It fails the test if the host cannot be built.
func (l *Lab) AddHost(name string) *Host {
	l.t.Helper()
	h, err := l.addHost(name)
	if err != nil {
		l.t.Fatalf("netlab: add host %q: %v", name, err)
	}
	return h
}

func (l *Lab) addHost(name string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("lab is closed")
	}
	n := len(l.hosts) + 1
	if n > maxHosts {
		return nil, fmt.Errorf("lab is full (%d hosts)", maxHosts)
	}
	h := &Host{Name: name, NS: nextNS(), IP: l.hostIP(n), Lab: l}
	// Registered before creation so a half-built host is still deleted by Close.
	l.hosts = append(l.hosts, h)
	port := "v" + strconv.Itoa(n)
	cidr := h.IP.String() + "/24"
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", l.switchNS},
		{"-n", l.switchNS, "link", "set", port, "master", "br0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", h.NS, "link", "set", "eth0", "multicast", "on", "up"},
		{"-n", h.NS, "addr", "add", cidr, "dev", "eth0"},
		{"-n", h.NS, "route", "add", "224.0.0.0/4", "dev", "eth0"},
	}
	if err := ipSteps(steps); err != nil {
		return nil, err
	}
	return h, nil
}

// hostIP returns 198.18.<subnet>.n.
func (l *Lab) hostIP(n int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, Subnet.IP.To4())
	ip[2], ip[3] = l.subnet, byte(n)
	return ip
}

// Hosts returns the hosts added so far.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Close kills any process still running in the lab's namespaces and deletes them (which also
// deletes their veths and the bridge). It is idempotent; New registers it with t.Cleanup.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	names := []string{l.switchNS}
	for _, h := range l.hosts {
		names = append(names, h.NS)
	}
	l.mu.Unlock()

	var errs []error
	for _, ns := range names {
		if err := deleteNS(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteNS kills the processes left in ns (all started by this test binary, since the name is
// unique to it) and deletes the namespace. A namespace that was never created is not an error.
func deleteNS(ns string) error {
	if !nsExists(ns) {
		return nil
	}
	killNSProcs(ns)
	if out, err := ipCmd("netns", "del", ns); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns, err, out)
	}
	return nil
}

func nsExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// killNSProcs sends SIGKILL to every process in ns and waits briefly for them to go.
func killNSProcs(ns string) {
	for range 50 {
		out, err := ipCmd("netns", "pids", ns)
		if err != nil || strings.TrimSpace(out) == "" {
			return
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill() // SIGKILL
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Command returns a command that runs `name args...` inside the host's namespace
// (`ip netns exec NS name args...`). ip execs the program, so killing the command (or cancelling
// ctx) kills the program itself.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", h.NS, name}, args...)
	return exec.CommandContext(ctx, "ip", full...)
}

// Run runs `name args...` in the host to completion and returns its combined output. It fails
// the test, showing the output, if the command fails or outlives the test's context.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := h.Command(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("netlab: %s: %s %s: %v\n%s", h.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// String returns the host's name and address, for messages.
func (h *Host) String() string {
	return fmt.Sprintf("%s(%s, netns %s)", h.Name, h.IP, h.NS)
}

// ipSteps runs `ip` once per step and stops at the first failure.
func ipSteps(steps [][]string) error {
	for _, s := range steps {
		if out, err := ipCmd(s...); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(out))
		}
	}
	return nil
}

func ipCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}
