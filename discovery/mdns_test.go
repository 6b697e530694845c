package discovery

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestNewMDNSChecksConfig(t *testing.T) {
	id := testID(t, "config")
	addrs := func() []ma.Multiaddr { return nil }
	bad := map[string]MDNSConfig{
		"no Self":           {Addrs: addrs},
		"no Addrs":          {Self: id},
		"negative Interval": {Self: id, Addrs: addrs, Interval: -time.Second},
		"ID too long":       {Self: peer.ID(strings.Repeat("x", 64)), Addrs: addrs},
	}
	for name, cfg := range bad {
		if _, err := NewMDNS(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m, err := NewMDNS(MDNSConfig{Self: id, Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Interval != DefaultMDNSInterval || m.cfg.Interfaces == nil {
		t.Errorf("defaults not applied: %+v", m.cfg)
	}
}

func TestAdvertPort(t *testing.T) {
	cases := map[int][]string{
		4001: {"/ip4/198.18.0.1/udp/5000/quic-v1", "/ip4/198.18.0.1/tcp/4001", "/ip4/198.18.0.1/tcp/4002"},
		5000: {"/ip4/198.18.0.1/udp/5000/quic-v1"},
		0:    {"/p2p-circuit"},
	}
	for want, ss := range cases {
		if got := advertPort(maddrs(t, ss...)); got != want {
			t.Errorf("advertPort(%v) = %d, want %d", ss, got, want)
		}
	}
}

// TestMDNSLifecycle runs the browse loop with no interfaces at all, so no mDNS packet is ever
// sent from this (possibly the machine's own) namespace; the namespace tests cover the rest.
func TestMDNSLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	calls := make(chan struct{}, 100)
	m, err := NewMDNS(MDNSConfig{
		Self:  testID(t, "lifecycle"),
		Addrs: func() []ma.Multiaddr { return maddrs(t, "/ip4/198.18.0.1/tcp/4001") },
		Interfaces: func() ([]net.Interface, error) {
			calls <- struct{}{}
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	for range 2 { // the round at Start and the one 0.3 s later
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatal("browse loop did not run")
		}
	}
	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if leaked := goroutinesAbove(before, 2*time.Second); leaked > 0 {
		t.Errorf("%d goroutines leaked:\n%s", leaked, allStacks())
	}
}

// goroutinesAbove waits up to settle for the goroutine count to drop to base and returns how
// many remain above it.
func goroutinesAbove(base int, settle time.Duration) int {
	deadline := time.Now().Add(settle)
	for {
		n := runtime.NumGoroutine() - base
		if n <= 0 || time.Now().After(deadline) {
			return max(n, 0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
