package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
)

const (
	roomMembers  = 30
	roomMessages = 1000
	roomPace     = 20 * time.Millisecond // between publishes: 50 messages a second
	roomDrain    = 90 * time.Second      // after the last publish, at most
)

// roomRun is what one setting measured: per message, the time from publish to the last
// member's receipt, and every single receipt's latency.
type roomRun struct {
	label     string
	last      []time.Duration
	each      []time.Duration
	delivered int // receipts, out of messages × (members-1)
	expected  int
}

// BenchmarkRoom30Members: 30 `parley up` processes on loopback (--no-mdns; each keeps a
// connection to the first and to the one before it) in one room; 1,000 messages, each
// from a random member, one every 20 ms through the API. A message's latency is from its
// author's clock at publishing to a member's archive receipt (ReceivedAt; one machine,
// one clock), read from every member's event stream. Baseline, same run: bare gossipsub
// (flood publish, same topology) between 30 libp2p hosts in this process, publish to
// receipt. Target (issue 6): 100 % delivered, p99 < 250 ms to the last member.
func BenchmarkRoom30Members(b *testing.B) {
	parley := measureParleyRoom(b)
	bare := measureBareGossip(b)
	b.StopTimer()
	printRoomRuns(parley, bare)
	p, q := Summarize(parley.last), Summarize(bare.last)
	b.ReportMetric(100*float64(parley.delivered)/float64(parley.expected), "delivered-%")
	b.ReportMetric(MsValue(p.P50), "last-p50-ms")
	b.ReportMetric(MsValue(p.P99), "last-p99-ms")
	b.ReportMetric(Ratio(p.P99, q.P99), "parley/bare-p99")
}

func measureParleyRoom(b *testing.B) roomRun {
	b.Helper()
	nodes, ids := startRoomMembers(b)
	var mu sync.Mutex
	receipts := map[string][]time.Duration{} // message ID → receipt latencies
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		cl := newClient(b, n.Home)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.Events(ctx, func(e api.Event) error {
				if e.Type == api.EventMessage && e.Message != nil && e.Message.Room != "" && e.Message.Direction == "in" {
					mu.Lock()
					receipts[e.Message.ID] = append(receipts[e.Message.ID], e.Message.ReceivedAt.Sub(e.Message.SentAt))
					mu.Unlock()
				}
				return nil
			})
		}()
	}
	time.Sleep(time.Second) // the event streams are open
	b.ResetTimer()
	sent := publishRoomMessages(b, nodes)
	testnode.WaitFor(b, roomDrain, "every member's receipt of every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return countReceipts(receipts, sent) == len(sent)*(len(ids)-1)
	})
	b.StopTimer()
	cancel()
	wg.Wait()
	return summarizeReceipts("parley, 30 node processes", receipts, sent, len(ids)-1)
}

// startRoomMembers starts the members, makes the first one's room and lets it invite
// everyone (as a contact of everyone, so they join at once).
func startRoomMembers(b *testing.B) ([]*testnode.Node, []string) {
	b.Helper()
	var nodes []*testnode.Node
	var ids, addrs []string
	for i := range roomMembers {
		args := loopbackArgs()
		if i > 0 {
			args = append(args, "--peer", addrs[0])
		}
		if i > 1 {
			args = append(args, "--peer", addrs[i-1])
		}
		n := testnode.Start(b, testnode.Options{Name: fmt.Sprintf("room-%02d", i), Args: args})
		st := n.Status()
		nodes, ids, addrs = append(nodes, n), append(ids, st.PeerID), append(addrs, st.Addrs[0])
		if i > 0 {
			waitOnline(b, newClient(b, n.Home), ids[0])
			n.AddContact("owner", ids[0])
		}
	}
	owner := newClient(b, nodes[0].Home)
	ctx := context.Background()
	if _, err := owner.CreateRoom(ctx, "bench", false); err != nil {
		b.Fatal(err)
	}
	for _, id := range ids[1:] {
		if _, err := owner.InviteToRoom(ctx, "bench", id); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range nodes {
		cl := newClient(b, n.Home)
		testnode.WaitFor(b, 60*time.Second, "every member in the room", func() bool {
			l, err := cl.Rooms(ctx)
			return err == nil && len(l.Rooms) == 1 && len(l.Rooms[0].Members) == roomMembers
		})
	}
	time.Sleep(3 * time.Second) // a few gossipsub heartbeats: the mesh has formed
	return nodes, ids
}

// publishRoomMessages sends the messages from random members at a steady pace and
// returns their IDs.
func publishRoomMessages(b *testing.B, nodes []*testnode.Node) []string {
	b.Helper()
	clients := make([]interface {
		Send(context.Context, string, string) (api.SendResult, error)
	}, len(nodes))
	for i, n := range nodes {
		clients[i] = newClient(b, n.Home)
	}
	var sent []string
	next := time.Now()
	for i := range roomMessages {
		time.Sleep(time.Until(next))
		next = next.Add(roomPace)
		res, err := clients[rand.IntN(len(clients))].Send(context.Background(), "#bench", fmt.Sprintf("bench message %d", i))
		if err != nil {
			b.Fatalf("message %d: %v", i, err)
		}
		sent = append(sent, res.Message.ID)
	}
	return sent
}

func countReceipts(receipts map[string][]time.Duration, sent []string) int {
	n := 0
	for _, id := range sent {
		n += len(receipts[id])
	}
	return n
}

func summarizeReceipts(label string, receipts map[string][]time.Duration, sent []string, others int) roomRun {
	run := roomRun{label: label, expected: len(sent) * others}
	for _, id := range sent {
		rs := receipts[id]
		run.delivered += len(rs)
		run.each = append(run.each, rs...)
		if len(rs) == others {
			run.last = append(run.last, maxDuration(rs))
		}
	}
	return run
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// measureBareGossip is the baseline: the same topology and pace with plain gossipsub
// between in-process hosts; the payload carries its publish time.
func measureBareGossip(b *testing.B) roomRun {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hosts, topics := startBareGossip(b, ctx)
	var mu sync.Mutex
	receipts := map[string][]time.Duration{}
	var wg sync.WaitGroup
	for i, t := range topics {
		sub, err := t.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		self := hosts[i].ID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Cancel()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				if m.GetFrom() == self || len(m.Data) < 16 {
					continue
				}
				at := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data[8:16])))
				mu.Lock()
				id := fmt.Sprint(binary.BigEndian.Uint64(m.Data[:8]))
				receipts[id] = append(receipts[id], time.Since(at))
				mu.Unlock()
			}
		}()
	}
	time.Sleep(3 * time.Second)
	var sent []string
	next := time.Now()
	for i := range roomMessages {
		time.Sleep(time.Until(next))
		next = next.Add(roomPace)
		data := make([]byte, 64)
		binary.BigEndian.PutUint64(data[:8], uint64(i))
		binary.BigEndian.PutUint64(data[8:16], uint64(time.Now().UnixNano()))
		if err := topics[rand.IntN(len(topics))].Publish(ctx, data); err != nil {
			b.Fatal(err)
		}
		sent = append(sent, fmt.Sprint(i))
	}
	testnode.WaitFor(b, roomDrain, "bare gossipsub receipts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return countReceipts(receipts, sent) == len(sent)*(len(hosts)-1)
	})
	cancel()
	wg.Wait()
	return summarizeReceipts("bare gossipsub, 30 hosts in one process", receipts, sent, len(hosts)-1)
}

func startBareGossip(b *testing.B, ctx context.Context) ([]host.Host, []*pubsub.Topic) {
	b.Helper()
	var hosts []host.Host
	var topics []*pubsub.Topic
	for i := range roomMembers {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
		if err != nil {
			b.Fatal(err)
		}
		t, err := ps.Join("bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, j := range []int{0, i - 1} { // like the nodes: the first and the one before
			if i > 0 && j >= 0 && !(j == 0 && i-1 == 0 && j != i-1) {
				if err := h.Connect(ctx, peer.AddrInfo{ID: hosts[j].ID(), Addrs: hosts[j].Addrs()}); err != nil {
					b.Fatal(err)
				}
			}
		}
		hosts, topics = append(hosts, h), append(topics, t)
	}
	return hosts, topics
}

func printRoomRuns(runs ...roomRun) {
	fmt.Printf("\nroom of %d members, %d messages from random members every %v\n", roomMembers, roomMessages, roomPace)
	fmt.Printf("  %-52s %10s %10s %10s %10s %10s   %s\n", "", "delivered", "p50", "p90", "p99", "max", "target")
	for i, r := range runs {
		ratio := 100 * float64(r.delivered) / float64(r.expected)
		last := Summarize(r.last)
		target := ""
		if i == 0 {
			target = "100 %, p99 < 250 ms: " + verdict(r.delivered == r.expected && last.P99 < 250*time.Millisecond)
		}
		fmt.Printf("  %-52s %9.2f%% %10s %10s %10s %10s   %s\n", r.label+": publish → last member", ratio,
			Ms(last.P50), Ms(last.P90), Ms(last.P99), Ms(last.Max), target)
		each := Summarize(r.each)
		fmt.Printf("  %-52s %10s %10s %10s %10s %10s\n", "  publish → each member", "", Ms(each.P50), Ms(each.P90), Ms(each.P99), Ms(each.Max))
	}
	if len(runs) == 2 {
		p, q := Summarize(runs[0].last), Summarize(runs[1].last)
		fmt.Printf("  %-52s %10s %10s %10s %10s\n", "ratio parley / bare gossipsub (last member)", "",
			times(Ratio(p.P50, q.P50)), times(Ratio(p.P90, q.P90)), times(Ratio(p.P99, q.P99)))
	}
}
