package integration

import (
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
)

// presenceWait bounds how long a test waits for a presence change to show. It only
// keeps a broken run from hanging: the latency itself is logged and measured by
// bench's BenchmarkPresencePropagation against the target (< 1 s).
const presenceWait = 30 * time.Second

// TestPresencePropagation: Bob changes his presence and status text with `parley
// status`; Ann, his contact in another namespace, sees each change on her event stream
// and in `peers` and `contacts ls`. The time from just before Bob's command starts to
// the event reaching a probe on Ann's side is logged. When Ann's node restarts, it
// learns Bob's current presence from him again (the profile is pulled on connect).
func TestPresencePropagation(t *testing.T) {
	p := startPair(t)
	watch := p.ann.WatchPeer(p.bobID)
	changes := []api.Presence{
		{Presence: api.PresenceAway, Status: "at lunch"},
		{Presence: api.PresenceBusy, Status: "in a meeting"},
		{Presence: api.PresenceOnline},
		{Presence: api.PresenceAway, Status: "back at 2"},
	}
	for _, want := range changes {
		start := time.Now()
		got := p.bob.SetPresence(want.Presence, want.Status)
		cli := time.Since(start)
		if got.Presence != want.Presence || got.Status != want.Status {
			t.Fatalf("Bob's status command answered %+v, want %+v", got, want)
		}
		seen := watch.WaitFor(presenceWait, "Ann to see Bob "+want.Presence, shows(want))
		t.Logf("Bob %s %q: on Ann's event stream %v after Bob's `parley status` started (the command itself took %v)",
			want.Presence, want.Status, seen.At.Sub(start).Round(time.Millisecond), cli.Round(time.Millisecond))
		assertSees(t, p.ann, p.bobID, want)
	}
	p.ann.Stop()
	p.ann.Restart()
	testnode.WaitFor(t, 60*time.Second, "Ann, restarted, to see Bob away again", func() bool {
		peer, ok := p.ann.Peer(p.bobID)
		return ok && peer.Presence == api.PresenceAway && peer.Status == "back at 2"
	})
}

// TestInvisibleStillReceives: Bob goes invisible with a status text. Ann sees him
// offline (without the text), yet a message she sends him is delivered and he can
// answer; when he is online again she sees him online.
func TestInvisibleStillReceives(t *testing.T) {
	p := startPair(t)
	watch := p.ann.WatchPeer(p.bobID)
	if got := p.bob.SetPresence(api.PresenceInvisible, "nobody sees this"); got.Presence != api.PresenceInvisible {
		t.Fatalf("Bob's status: %+v", got)
	}
	offline := api.Presence{Presence: api.PresenceOffline}
	watch.WaitFor(presenceWait, "Ann to see Bob offline", shows(offline))
	assertSees(t, p.ann, p.bobID, offline)

	if res := sendJSON(t, p.ann, "Bob", "are you there?"); res.Message.State != api.StateDelivered {
		t.Fatalf("Ann -> invisible Bob: %+v, want delivered", res)
	}
	assertReceived(t, p.bob, []string{"are you there?"})
	if res := sendJSON(t, p.bob, "Ann", "yes, quietly"); res.Message.State != api.StateDelivered {
		t.Fatalf("invisible Bob -> Ann: %+v, want delivered", res)
	}
	assertSees(t, p.ann, p.bobID, offline) // answering does not reveal him

	p.bob.SetPresence(api.PresenceOnline, "")
	online := api.Presence{Presence: api.PresenceOnline}
	watch.WaitFor(presenceWait, "Ann to see Bob online again", shows(online))
	assertSees(t, p.ann, p.bobID, online)
}

// TestAutoAway: Bob's node runs with --away-after 2s. With no activity it turns away
// by itself, which Ann sees; Bob's next action (a send) brings him back online.
func TestAutoAway(t *testing.T) {
	p := startPair(t, "--away-after", "2s")
	testnode.WaitFor(t, presenceWait, "Ann to see idle Bob away", func() bool {
		peer, ok := p.ann.Peer(p.bobID)
		return ok && peer.Presence == api.PresenceAway
	})
	watch := p.ann.WatchPeer(p.bobID)
	if got := p.bob.Presence(); got.Presence != api.PresenceAway || !got.Auto {
		t.Fatalf("Bob's own status after idling: %+v, want away (auto)", got)
	}
	sendJSON(t, p.bob, "Ann", "sorry, I was away")
	watch.WaitFor(presenceWait, "Ann to see Bob online after he sent", shows(api.Presence{Presence: api.PresenceOnline}))
}

// shows matches a peer showing presence p (and its status text, empty included).
func shows(p api.Presence) func(api.Peer) bool {
	return func(peer api.Peer) bool { return peer.Presence == p.Presence && peer.Status == p.Status }
}

// assertSees checks n's `peers` and `contacts ls` both show peer id with presence p.
func assertSees(t *testing.T, n *testnode.Node, id string, p api.Presence) {
	t.Helper()
	peer, ok := n.Peer(id)
	if !ok || !shows(p)(peer) {
		t.Errorf("peers: %s shows %s as %q %q, want %q %q", n.Home, id, peer.Presence, peer.Status, p.Presence, p.Status)
	}
	c, ok := n.Contact(id)
	if !ok || c.Presence != p.Presence || c.Status != p.Status {
		t.Errorf("contacts ls: %s shows %s as %q %q, want %q %q", n.Home, id, c.Presence, c.Status, p.Presence, p.Status)
	}
}
