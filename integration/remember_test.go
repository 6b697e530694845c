package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"

	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// TestRememberedPeerAcrossSubnets: two subnets joined by a router, no multicast between
// them, no rendezvous server. Ann meets Bob once because she was started with --peer; after
// a restart without --peer she finds him again from the addresses she remembered
// (HOME/known-addrs.json), and they talk.
func TestRememberedPeerAcrossSubnets(t *testing.T) {
	t.Parallel()
	office, field := netlab.NewSubnet(t, 50), netlab.NewSubnet(t, 51)
	office.AddRouter("router", field)
	annHost, bobHost := office.AddHost("ann"), field.AddHost("bob")
	addRoute(t, annHost, field, office)
	addRoute(t, bobHost, office, field)

	bob := testnode.Start(t, testnode.Options{Name: "Bob", Host: bobHost})
	var bobAddr string
	for _, a := range bob.Status().Addrs {
		if strings.HasPrefix(a, "/ip4/"+bobHost.IP.String()+"/tcp/") {
			bobAddr = a
		}
	}
	if bobAddr == "" {
		t.Fatalf("Bob has no TCP address on %s: %v", bobHost.IP, bob.Status().Addrs)
	}
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: annHost, Args: []string{"--peer", bobAddr}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Bob at %s; Ann's log:\n%s", bobAddr, ann.Log())
		}
	})
	waitPresent(t, ann, "Bob")
	waitPresent(t, bob, "Ann")
	ann.Stop()

	b, err := os.ReadFile(filepath.Join(ann.Home, "known-addrs.json"))
	if err != nil {
		t.Errorf("Ann remembered nothing: %v", err)
	}
	t.Logf("Ann's known-addrs.json:\n%s", b)
	if strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "/ip6/::1/") {
		t.Error("a loopback address was remembered")
	}

	again := testnode.Start(t, testnode.Options{Name: "Ann", Home: ann.Home, Host: annHost})
	waitPresent(t, again, "Bob")
	waitPresent(t, bob, "Ann")
	sendDelivered(t, again, "Bob", "found you without a server")
}

// waitPresent waits until n lists name as online, however it was found.
func waitPresent(t *testing.T, n *testnode.Node, name string) {
	t.Helper()
	testnode.WaitFor(t, 60*time.Second, name+" online", func() bool {
		for _, p := range n.Peers() {
			if p.Name == name && p.Presence == api.PresenceOnline {
				return true
			}
		}
		return false
	})
}
