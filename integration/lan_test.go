package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// TestThreeNodesOnALAN: three nodes in three namespaces on one bridge find each other by
// mDNS alone (no --peer, no rendezvous), exchange messages every way by name, archive
// them, and see a node that was killed go offline.
func TestThreeNodesOnALAN(t *testing.T) {
	lab := netlab.New(t)
	names := []string{"Ann", "Bob", "Cat"}
	nodes := make(map[string]*testnode.Node)
	for _, name := range names {
		nodes[name] = testnode.Start(t, testnode.Options{Name: name, Host: lab.AddHost(name)})
	}
	for _, name := range names {
		waitOnline(t, nodes[name], others(names, name)...)
	}
	sent := exchangeAllWays(t, nodes, names)
	for _, to := range names {
		assertReceived(t, nodes[to], sent[to])
	}
	assertOfflineAfterKill(t, nodes["Cat"], nodes["Ann"], nodes["Bob"])
}

func others(all []string, self string) []string {
	var out []string
	for _, n := range all {
		if n != self {
			out = append(out, n)
		}
	}
	return out
}

// waitOnline waits until n lists every one of names as an online peer.
func waitOnline(t *testing.T, n *testnode.Node, names ...string) {
	t.Helper()
	testnode.WaitFor(t, 60*time.Second, fmt.Sprintf("%v online", names), func() bool {
		online := onlineNames(n.Peers())
		for _, want := range names {
			if !slices.Contains(online, want) {
				return false
			}
		}
		return true
	})
}

func onlineNames(peers []api.Peer) []string {
	var out []string
	for _, p := range peers {
		if p.Presence == api.PresenceOnline && p.Via == "mdns" {
			out = append(out, p.Name)
		}
	}
	return out
}

// exchangeAllWays sends one message from every node to every other by name and returns
// the texts each recipient must have.
func exchangeAllWays(t *testing.T, nodes map[string]*testnode.Node, names []string) map[string][]string {
	t.Helper()
	want := make(map[string][]string)
	for _, from := range names {
		for _, to := range others(names, from) {
			text := fmt.Sprintf("hello %s, this is %s", to, from)
			var res api.SendResult
			nodes[from].JSON(&res, "send", to, text)
			if res.Message.State != api.StateDelivered || res.Error != "" {
				t.Fatalf("%s -> %s: state %q error %q", from, to, res.Message.State, res.Error)
			}
			want[to] = append(want[to], text)
		}
	}
	return want
}

func assertReceived(t *testing.T, n *testnode.Node, texts []string) {
	t.Helper()
	got := map[string]bool{}
	for _, m := range n.History() {
		if m.Direction == "in" && m.State == api.StateReceived {
			got[m.Text] = true
		}
	}
	for _, text := range texts {
		if !got[text] {
			t.Errorf("%s did not archive %q; history has %v", n.Home, text, got)
		}
	}
}

// assertOfflineAfterKill kills victim with SIGKILL (no goodbye on any connection) and
// waits for the watchers to show it offline. It logs how long that took; the bound is
// only there so a broken build does not hang.
func assertOfflineAfterKill(t *testing.T, victim *testnode.Node, watchers ...*testnode.Node) {
	t.Helper()
	id := victim.Status().PeerID
	victim.Kill()
	killed := time.Now()
	for _, w := range watchers {
		testnode.WaitFor(t, 60*time.Second, "the killed node to show offline", func() bool {
			for _, p := range w.Peers() {
				if p.PeerID == id {
					return p.Presence == api.PresenceOffline
				}
			}
			return false
		})
		t.Logf("%s shows the killed node offline after %v", w.Home, time.Since(killed).Round(100*time.Millisecond))
	}
}

// TestTwoHomesOnOneMachine: two people on one machine (one namespace) each run a node
// with its own home. The second finds the default port taken and falls back to a free
// one; they find each other by mDNS and talk.
func TestTwoHomesOnOneMachine(t *testing.T) {
	lab := netlab.New(t)
	desk := lab.AddHost("desk")
	ann := testnode.Start(t, testnode.Options{Name: "Ann", Host: desk})
	bob := testnode.Start(t, testnode.Options{Name: "Bob", Host: desk})
	if ports(ann.Status().Addrs) == ports(bob.Status().Addrs) {
		t.Fatalf("both nodes listen on the same ports: %v", ann.Status().Addrs)
	}
	waitOnline(t, ann, "Bob")
	waitOnline(t, bob, "Ann")
	var res api.SendResult
	bob.JSON(&res, "send", "Ann", "same desk, different homes")
	if res.Message.State != api.StateDelivered {
		t.Fatalf("send: %+v", res)
	}
	assertReceived(t, ann, []string{"same desk, different homes"})
}

// ports is the set of TCP/UDP port components of addrs, as one comparable string.
func ports(addrs []string) string {
	var out []string
	for _, a := range addrs {
		parts := strings.Split(a, "/")
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == "tcp" || parts[i] == "udp" {
				out = append(out, parts[i]+"/"+parts[i+1])
			}
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ",")
}
