package integration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
)

// blockWatch is how long the test watches a blocked peer keep trying: more than one
// round of mDNS answers (every 5 s), each of which makes it dial again.
const blockWatch = 7 * time.Second

// TestBlockedPeerIsRefused: three nodes on one LAN. Ann blocks Bob: their connection
// is closed and every new one is refused, so neither lists the other as connected
// (Bob's event stream never shows Ann connected, though his node keeps finding her by
// mDNS and dialling), Bob does not see Ann's status, and his message to her ends
// queued. Cat, on the same LAN, still talks to Ann both ways. When Ann unblocks Bob,
// they reconnect by themselves and Bob's queued message reaches her.
func TestBlockedPeerIsRefused(t *testing.T) {
	begin := time.Now()
	p := startPair(t)
	cat := testnode.Start(t, testnode.Options{Name: "Cat", Host: p.lab.AddHost("cat")})
	waitOnline(t, cat, "Ann")
	waitOnline(t, p.ann, "Cat")

	t.Logf("three nodes up and connected after %v", time.Since(begin).Round(time.Millisecond))
	if c := blockJSON(t, p.ann, "block", "Bob"); !c.Blocked {
		t.Fatalf("contacts block answered %+v", c)
	}
	bobSeesAnn := p.bob.WatchPeer(p.annID)
	testnode.WaitFor(t, 30*time.Second, "Ann and Bob to be disconnected", func() bool {
		return !connected(p.ann, p.bobID) && !connected(p.bob, p.annID)
	})
	p.ann.SetPresence(api.PresenceBusy, "not for Bob")
	for _, e := range bobSeesAnn.Collect(blockWatch) {
		if e.Peer.Connected || e.Peer.Status != "" {
			t.Errorf("%v: Bob saw blocked-by Ann as connected=%v %q %q", e.At.Format(time.StampMilli), e.Peer.Connected, e.Peer.Presence, e.Peer.Status)
		}
	}
	if peer, ok := p.bob.Peer(p.annID); !ok || peer.Connected || peer.Presence != api.PresenceOffline || peer.Status != "" {
		t.Errorf("Bob's peers shows Ann as %+v, want known, offline, not connected, no status", peer)
	}
	if connected(p.ann, p.bobID) {
		t.Error("Ann's peers shows blocked Bob connected")
	}
	start := time.Now()
	if res := sendJSON(t, p.bob, "Ann", "why can't I reach you?"); res.Message.State != api.StateQueued {
		t.Fatalf("Bob -> Ann while blocked: %+v, want queued", res)
	}
	t.Logf("Bob's send to Ann, who blocks him, ended queued after %v", time.Since(start).Round(time.Millisecond))

	if res := sendJSON(t, cat, "Ann", "Cat here"); res.Message.State != api.StateDelivered {
		t.Fatalf("Cat -> Ann: %+v, want delivered", res)
	}
	if res := sendJSON(t, p.ann, "Cat", "hi Cat"); res.Message.State != api.StateDelivered {
		t.Fatalf("Ann -> Cat: %+v, want delivered", res)
	}
	if got := messagesWith(p.ann.History(), p.bobID, "in"); len(got) != 0 {
		t.Fatalf("Ann received from blocked Bob: %+v", got)
	}

	if c := blockJSON(t, p.ann, "unblock", "Bob"); c.Blocked {
		t.Fatalf("contacts unblock answered %+v", c)
	}
	unblocked := time.Now()
	testnode.WaitFor(t, 60*time.Second, "Bob's queued message to reach Ann after the unblock", func() bool {
		return len(messagesWith(p.ann.History(), p.bobID, "in")) == 1
	})
	t.Logf("Bob's queued message reached Ann %v after the unblock", time.Since(unblocked).Round(time.Millisecond))
	testnode.WaitFor(t, 30*time.Second, "Bob's history to show it delivered", func() bool {
		return allInState(messagesWith(p.bob.History(), p.annID, "out"), 1, api.StateDelivered)
	})
	if !connected(p.bob, p.annID) {
		t.Error("Bob does not list Ann as connected after the unblock")
	}
}

// connected reports whether n lists peer id as connected.
func connected(n *testnode.Node, id string) bool {
	p, ok := n.Peer(id)
	return ok && p.Connected
}

// blockJSON is `parley contacts block|unblock --json PEER`.
func blockJSON(t *testing.T, n *testnode.Node, action, who string) api.Contact {
	t.Helper()
	out := n.CLI("contacts", action, "--json", who)
	var c api.Contact
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("contacts %s: decode %q: %v", action, out, err)
	}
	return c
}
