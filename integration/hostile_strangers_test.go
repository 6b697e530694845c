package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/node/dm"
)

// The strangers' share of a node (node/strangers.go): all peers that are neither
// contacts nor written to share 200 direct messages and 1 MiB an hour, refilling
// evenly over the hour.
const (
	strangerMessages = 200
	strangerBytes    = 1 << 20
)

// TestStrangersCrowdSharesOneBudget runs a victim (a real `parley up`, loopback, no
// mDNS) with a contact, Hal, a peer it wrote to, Kim, and an honest node it does not
// know, Sam. Thirty fresh identities (libp2p hosts in the test) then send ten 3 KiB
// messages each at once: the victim's archive grows by at most the strangers' share,
// every message past it is refused with the strangers' reason, and Hal's and Kim's
// messages still arrive. Sam, writing right after the crowd, has its message refused,
// keeps it queued, and it arrives once the victim writes to Sam. (The byte side of the
// share is TestStrangersShareBytes in node/.)
func TestStrangersCrowdSharesOneBudget(t *testing.T) {
	const crowd, each, size = 30, 10, 3 << 10
	victim := testnode.Start(t, testnode.Options{Name: "Vic", Args: loopbackArgs()})
	vicAddr, vicID := tcpAddr(t, victim.Status().Addrs), victim.Status().PeerID
	hal := testnode.Start(t, testnode.Options{Name: "Hal", Args: append(loopbackArgs(), "--peer", vicAddr)})
	kim := testnode.Start(t, testnode.Options{Name: "Kim", Args: append(loopbackArgs(), "--peer", vicAddr)})
	sam := testnode.Start(t, testnode.Options{Name: "Sam", Args: append(loopbackArgs(), "--peer", vicAddr)})
	halID, kimID, samID := hal.Status().PeerID, kim.Status().PeerID, sam.Status().PeerID
	testnode.WaitFor(t, 30*time.Second, "Hal, Kim and Sam online at Vic", func() bool {
		p := victim.Peers()
		return isOnline(p, halID) && isOnline(p, kimID) && isOnline(p, samID)
	})
	victim.CLI("contacts", "add", halID)
	mustDeliver(t, victim, kimID, "hello Kim") // Kim is written to: known, not a contact

	attackers := make([]*attacker, crowd)
	for i := range attackers {
		attackers[i] = newAttacker(t, vicAddr, "")
	}
	text := strings.Repeat("s", size)
	var mu sync.Mutex
	var stored, refused, other int
	sent := crowd * each
	var wg sync.WaitGroup
	start := time.Now()
	for i, a := range attackers {
		wg.Go(func() {
			for j := range each {
				ack, err := a.sendFrame(message(fmt.Sprintf("crowd-%s-%d", idTag(a.h.ID()), j), text, ""))
				mu.Lock()
				switch {
				case err == nil && ack.Status == dm.AckStored:
					stored++
				case err == nil && ack.Status == dm.AckRejected && ack.Reason == dm.ReasonStrangers:
					refused++
				default:
					other++
					t.Errorf("stranger %d, message %d: %+v, %v; want stored or refused for the strangers' share", i, j, ack, err)
				}
				mu.Unlock()
			}
		})
	}
	mustDeliver(t, hal, vicID, "Hal during the crowd")
	wg.Wait()
	elapsed := time.Since(start)
	// The share earns a message every 18 s; on a slow machine the flood may outlast that.
	// So one stranger writes until it is refused, and Sam writes right after.
	for j := 0; ; j++ {
		ack, err := attackers[0].sendFrame(message(fmt.Sprintf("crowd-drain-%d", j), text, ""))
		if err != nil || j == 20 {
			t.Fatalf("draining the strangers' share: %+v, %v after %d messages", ack, err, j)
		}
		sent++
		if ack.Status == dm.AckRejected && ack.Reason == dm.ReasonStrangers {
			refused++
			break
		}
		stored++
	}
	var samRes api.SendResult
	sam.JSON(&samRes, "send", vicID, "hello from Sam")

	rows, bytes := 0, 0
	for _, m := range victim.History() {
		if strings.HasPrefix(m.ID, "crowd-") {
			rows++
			bytes += len(m.Text)
		}
	}
	t.Logf("crowd of %d fresh identities: sent %d messages (%d KiB); archive took %d rows (%d KiB), %d refused for the strangers' share, %d otherwise, in %v; share %d messages / %d KiB an hour",
		crowd, sent, sent*size>>10, rows, bytes>>10, refused, other, elapsed.Round(time.Millisecond), strangerMessages, strangerBytes>>10)
	refill := elapsed.Hours() // the share's fraction that refilled during the flood
	if float64(rows) > strangerMessages*(1+refill)+1 || float64(bytes) > strangerBytes*(1+refill)+size {
		t.Errorf("the archive took %d rows, %d bytes from strangers; the share is %d messages, %d bytes", rows, bytes, strangerMessages, strangerBytes)
	}
	if rows != stored || refused != sent-stored {
		t.Errorf("%d rows archived, %d ACKed stored, %d refused of %d", rows, stored, refused, sent)
	}
	if !strings.Contains(victim.Log(), "strangers' share is used up") {
		t.Errorf("the victim's log does not say the strangers' share is used up:\n%s", tail(victim.Log()))
	}
	mustDeliver(t, hal, vicID, "Hal after the crowd")
	mustDeliver(t, kim, vicID, "Kim after the crowd")
	mustDeliver(t, victim, halID, "Vic to Hal after the crowd")
	assertQueuedUntilKnown(t, victim, sam, samRes)
}

// assertQueuedUntilKnown: Sam, an honest node the victim does not know, wrote while the
// strangers' share was used up. Its node was told why, kept the message queued, and
// delivers it once the victim writes to Sam (Sam is then known).
func assertQueuedUntilKnown(t *testing.T, victim, sam *testnode.Node, res api.SendResult) {
	t.Helper()
	samID := sam.Status().PeerID
	if res.Message.State != api.StateQueued {
		t.Fatalf("Sam's message while the strangers' share is used up: %s, want queued", res.Message.State)
	}
	if !strings.Contains(sam.Log(), "not its contacts") {
		t.Errorf("Sam's node does not say why its message was refused:\n%s", tail(sam.Log()))
	}
	mustDeliver(t, victim, samID, "hello Sam")
	testnode.WaitFor(t, 40*time.Second, "Sam's queued message at Vic once Vic wrote to Sam", func() bool {
		for _, m := range victim.History() {
			if m.From == samID && m.Text == "hello from Sam" {
				return true
			}
		}
		return false
	})
}

// mustDeliver sends text from n to `to` and fails unless it was delivered at once.
func mustDeliver(t *testing.T, n *testnode.Node, to, text string) {
	t.Helper()
	var res api.SendResult
	n.JSON(&res, "send", to, text)
	if res.Message.State != api.StateDelivered {
		t.Fatalf("%q to %s: %s, want delivered\nsender log:\n%s", text, to, res.Message.State, tail(n.Log()))
	}
}
