package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/testnode"
)

// BenchmarkMailboxToArchive: three parley processes on loopback: a mailbox host (`up
// --mailbox`), Ann and Bob (`--mailbox-peer` it). Ann sends 1,000 messages while Bob is
// down (each sealed and deposited: held) and stops; Bob starts, and the time until all
// 1,000 are in his archive is taken from his process start and from his API being up.
// Target: < 1 s after he connects.
func BenchmarkMailboxToArchive(b *testing.B) {
	const count = 1000
	ctx := context.Background()
	max := testnode.Start(b, testnode.Options{Name: "bench-max", Args: loopbackArgs("--mailbox", "--mailbox-per-stranger", "5000")})
	maxAddr := max.Status().Addrs[0]
	ann := testnode.Start(b, testnode.Options{Name: "bench-ann", Args: loopbackArgs("--mailbox-peer", maxAddr)})
	annSt := ann.Status()
	bob := testnode.Start(b, testnode.Options{Name: "bench-bob", Args: loopbackArgs("--mailbox-peer", maxAddr, "--peer", annSt.Addrs[0])})
	annCl, bobCl := newClient(b, ann.Home), newClient(b, bob.Home)
	bobID := bob.Status().PeerID
	waitOnline(b, bobCl, annSt.PeerID)
	mustDo(b, func() error { _, err := annCl.AddContact(ctx, api.ContactRequest{Peer: bobID}); return err })
	mustDo(b, func() error { _, err := bobCl.AddContact(ctx, api.ContactRequest{Peer: annSt.PeerID}); return err })
	testnode.WaitFor(b, 30*time.Second, "Bob to find the mailbox", func() bool {
		st, err := bobCl.MailboxStatus(ctx)
		return err == nil && len(st.Mine) == 1 && st.Mine[0].Error == ""
	})
	mustDo(b, func() error { _, err := bobCl.SetPresence(ctx, api.PresenceOnline, "bench"); return err })
	testnode.WaitFor(b, 30*time.Second, "Ann to have Bob's profile with his mailbox", func() bool {
		peers, err := annCl.Peers(ctx)
		for _, p := range peers {
			if p.PeerID == bobID && p.Status == "bench" {
				return err == nil
			}
		}
		return false
	})
	bob.Stop()
	testnode.WaitFor(b, 30*time.Second, "Ann to see Bob gone", func() bool { return !hasOnline(mustPeers(b, annCl), bobID) })
	start := time.Now()
	for i := range count {
		mustDo(b, func() error { _, err := annCl.Send(ctx, bobID, fmt.Sprintf("held message %04d", i)); return err })
	}
	testnode.WaitFor(b, 240*time.Second, "all held", func() bool { return countState(b, annCl, bobID, api.StateHeld) == count })
	held := time.Since(start)
	ann.Stop()

	start = time.Now()
	bob.Restart()
	up := time.Now()
	bobCl = newClient(b, bob.Home) // its API moved
	testnode.WaitFor(b, 60*time.Second, "Bob to have all", func() bool { return countState(b, bobCl, annSt.PeerID, api.StateReceived) == count })
	done := time.Now()
	fmt.Printf("\nBenchmarkMailboxToArchive (three processes on loopback; %d messages)\n", count)
	fmt.Printf("  %-58s %14s   %s\n", "", "measured", "target")
	fmt.Printf("  %-58s %14s   %s\n", "Ann: 1,000 sends until all held (sealed, deposited)", held.Round(time.Millisecond), "(none; printed)")
	fmt.Printf("  %-58s %14s   %s\n", "Bob: process start to all 1,000 in his archive", done.Sub(start).Round(time.Millisecond), "(none; printed)")
	fmt.Printf("  %-58s %14s   %s\n", "Bob: API up to all 1,000 in his archive", done.Sub(up).Round(time.Millisecond), "< 1 s")
}

func mustDo(b *testing.B, f func() error) {
	b.Helper()
	if err := f(); err != nil {
		b.Fatal(err)
	}
}

func mustPeers(b *testing.B, cl *client.Client) []api.Peer {
	b.Helper()
	peers, err := cl.Peers(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return peers
}

// countState counts the messages exchanged with peer in state st.
func countState(b *testing.B, cl *client.Client, peer, st string) int {
	b.Helper()
	msgs, err := cl.History(context.Background(), api.HistoryQuery{Peer: peer, Limit: 5000})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.State == st {
			n++
		}
	}
	return n
}
