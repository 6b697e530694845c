package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/netlab"
	"github.com/parley-im/parley/internal/testnode"
)

// loopbackArgs keep a node in this namespace off the LAN: no mDNS, loopback only.
// --message-rate 0: benchmarks send far faster than a peer may by default.
func loopbackArgs(extra ...string) []string {
	return append([]string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--message-rate", "0"}, extra...)
}

// loopbackPair starts two nodes on loopback, B dialling A with --peer, and waits until
// B sees A online. It returns both and A's peer ID.
func loopbackPair(b *testing.B) (a, bn *testnode.Node, aID string) {
	b.Helper()
	a = testnode.Start(b, testnode.Options{Name: "bench-a", Args: loopbackArgs()})
	st := a.Status()
	bn = testnode.Start(b, testnode.Options{Name: "bench-b", Args: loopbackArgs("--peer", st.Addrs[0])})
	waitOnline(b, newClient(b, bn.Home), st.PeerID)
	return a, bn, st.PeerID
}

// newClient is the API client of the node in this namespace whose home is home.
func newClient(b *testing.B, home string) *client.Client {
	b.Helper()
	cl, err := client.New(home)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// waitOnline waits (30 s at most) until the client's node lists peer id as online.
func waitOnline(b *testing.B, cl *client.Client, id string) {
	b.Helper()
	testnode.WaitFor(b, 30*time.Second, "peer "+id+" online", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		peers, err := cl.Peers(ctx)
		return err == nil && hasOnline(peers, id)
	})
}

func hasOnline(peers []api.Peer, id string) bool {
	for _, p := range peers {
		if p.PeerID == id && p.Presence == api.PresenceOnline {
			return true
		}
	}
	return false
}

// labOrSkipReason builds a netlab lab, or returns why it cannot be built here. Under CI
// netlab.New fails the benchmark instead, as CI must run namespace tests.
func labOrSkipReason(b *testing.B) (*netlab.Lab, string) {
	b.Helper()
	if err := netlab.Available(); err != nil && os.Getenv("CI") == "" {
		return nil, "SKIPPED (needs root and iproute2): " + err.Error()
	}
	return netlab.New(b), ""
}
