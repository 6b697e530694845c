package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/testnode"
)

// TestKillDuringBurst kills the receiving node, and then the sending node, with SIGKILL
// in the middle of a burst of messages. Every message the sender saw acknowledged must be
// in the receiver's archive after a restart, and neither archive may be corrupt. The nodes
// run in this namespace on loopback with mDNS off.
func TestKillDuringBurst(t *testing.T) {
	// The receiver dials the sender (--peer), so that after each restart of the
	// receiver, on fresh ports, the two find each other again.
	sender := testnode.Start(t, testnode.Options{Name: "Sam", Args: loopbackArgs()})
	receiver := testnode.Start(t, testnode.Options{
		// --message-rate 0: the burst is far faster than a peer may send by default.
		Name: "Rita", Args: append(loopbackArgs(), "--peer", sender.Status().Addrs[0], "--message-rate", "0"),
	})
	receiverID, senderID := receiver.Status().PeerID, sender.Status().PeerID
	testnode.WaitFor(t, 30*time.Second, "Sam connected to Rita", func() bool { return isOnline(sender.Peers(), receiverID) })

	var acked []string
	for round := range 3 {
		acked = append(acked, burstUntilKilled(t, sender, receiverID, receiver, 40+round*60)...)
		receiver.Restart()
		testnode.WaitFor(t, 30*time.Second, "Sam reconnected to Rita", func() bool { return isOnline(sender.Peers(), receiverID) })
	}
	receiver.Stop()
	assertArchived(t, receiver.Home, senderID, receiverID, acked, archive.StateReceived)

	receiver.Restart()
	senderAcked := burstUntilKilled(t, sender, receiverID, sender, 50)
	sender.Restart() // no stale lock or damaged archive keeps it from starting
	sender.Stop()
	assertArchived(t, sender.Home, senderID, receiverID, senderAcked, archive.StateDelivered)
}

func loopbackArgs() []string {
	return []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1"}
}

func isOnline(peers []api.Peer, id string) bool {
	for _, p := range peers {
		if p.PeerID == id {
			return p.Presence == api.PresenceOnline
		}
	}
	return false
}

// burstUntilKilled sends from sender to `to` on 4 concurrent streams, kills victim once
// killAfter messages were acknowledged, and returns the IDs of every acknowledged message.
func burstUntilKilled(t *testing.T, sender *testnode.Node, to string, victim *testnode.Node, killAfter int) []string {
	t.Helper()
	cl, err := client.New(sender.Home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var acked []string
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				res, err := cl.Send(ctx, to, fmt.Sprintf("burst message %d from worker %d", i, w))
				if err != nil || res.Message.State != api.StateDelivered {
					select {
					case <-killed:
						return // the victim is gone; sends are expected to fail now
					default:
						continue
					}
				}
				mu.Lock()
				acked = append(acked, res.Message.ID)
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() { victim.Kill(); close(killed) })
				}
			}
		})
	}
	wg.Wait()
	if len(acked) < killAfter {
		t.Fatalf("only %d of %d messages were acknowledged before the deadline", len(acked), killAfter)
	}
	t.Logf("%d messages acknowledged before the kill took effect", len(acked))
	return acked
}

// assertArchived opens the archive of a stopped node directly, checks its integrity and
// that every id, a message from `from` to `to`, is there in state want (or a later state).
func assertArchived(t *testing.T, home, from, to string, ids []string, want archive.State) {
	t.Helper()
	store, err := archive.Open(filepath.Join(home, "archive.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Check(ctx); err != nil {
		t.Fatalf("archive of %s after kill -9: %v", home, err)
	}
	for _, id := range ids {
		m, err := store.Get(ctx, archive.Key{ID: id, From: from, To: to})
		if err != nil {
			t.Errorf("acknowledged message %s lost from %s: %v", id, home, err)
			continue
		}
		if m.State != want {
			t.Errorf("message %s is %q in %s, want %q", id, m.State, home, want)
		}
	}
	t.Logf("%d acknowledged messages all present in %s; integrity check ok", len(ids), home)
}
