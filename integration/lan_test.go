package integration

import (
	"fmt"
	"slices"
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
