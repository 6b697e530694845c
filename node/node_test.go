package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/node/dm"
)

// startNode runs a node on loopback with mDNS off (tests never multicast from this
// namespace) and closes it at cleanup.
func startNode(t *testing.T, name string, peers ...string) *Node {
	t.Helper()
	home := t.TempDir()
	id, err := crypto.Create(home, name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Home: home, Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StaticPeers: peers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func fullAddr(n *Node) string { return n.Status().Addrs[0] }

// pair starts two nodes, b dialing a, and waits until each knows the other by name.
func pair(t *testing.T) (a, b *Node) {
	a = startNode(t, "Ann")
	b = startNode(t, "Bob", fullAddr(a))
	waitUntil(t, "both peers named and online", func() bool {
		return hasOnline(a.Peers(), "Bob") && hasOnline(b.Peers(), "Ann")
	})
	return a, b
}

func hasOnline(peers []api.Peer, name string) bool {
	for _, p := range peers {
		if p.Name == name && p.Presence == api.PresenceOnline {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSendDeliversArchivesAndEmits(t *testing.T) {
	a, b := pair(t)
	events, stop := a.Subscribe(16)
	defer stop()
	ctx := context.Background()
	res, err := b.Send(ctx, "ann", "hello Ann") // names match without regard to case
	if err != nil || res.Error != "" || res.Message.State != api.StateDelivered {
		t.Fatalf("send: %+v, %v", res, err)
	}
	if res.RoundTrip <= 0 {
		t.Errorf("round trip %v not measured", res.RoundTrip)
	}
	got := waitForMessage(t, events)
	if got.Text != "hello Ann" || got.FromName != "Bob" || got.Direction != "in" {
		t.Errorf("event message = %+v", got)
	}
	hist, err := a.History(ctx, api.HistoryQuery{Peer: "Bob"})
	if err != nil || len(hist) != 1 || hist[0].ID != res.Message.ID || hist[0].State != api.StateReceived {
		t.Fatalf("receiver history = %+v, %v", hist, err)
	}
	hist, _ = b.History(ctx, api.HistoryQuery{Search: "hello"})
	if len(hist) != 1 || hist[0].State != api.StateDelivered {
		t.Fatalf("sender history = %+v", hist)
	}
}

func waitForMessage(t *testing.T, events <-chan api.Event) api.Message {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == api.EventMessage && e.Message != nil {
				return *e.Message
			}
		case <-timeout:
			t.Fatal("no message event")
		}
	}
}

func TestDuplicateIDStoredOnce(t *testing.T) {
	a, b := pair(t)
	m := dm.Message{ID: "fixed-id-1", SentAt: time.Now(), Text: "once", FromName: "Bob"}
	ctx := context.Background()
	first, err := b.dm.Send(ctx, a.ID(), m)
	if err != nil || first.Status != dm.AckStored {
		t.Fatalf("first: %+v, %v", first, err)
	}
	second, err := b.dm.Send(ctx, a.ID(), m)
	if err != nil || second.Status != dm.AckDuplicate {
		t.Fatalf("second: %+v, %v", second, err)
	}
	hist, _ := a.History(ctx, api.HistoryQuery{})
	if len(hist) != 1 {
		t.Fatalf("archive holds %d copies, want 1", len(hist))
	}
}

func TestSendErrors(t *testing.T) {
	a, _ := pair(t)
	ctx := context.Background()
	if _, err := a.Send(ctx, "Nobody", "hi"); !errors.Is(err, api.ErrUnknownPeer) {
		t.Errorf("unknown name: %v", err)
	}
	stranger, _ := peer.Decode("12D3KooWNk4a3X38SxicX45ncy7KUE4yT7LdLXZ9DstCSp5tJZ9w")
	if _, err := a.Send(ctx, stranger.String(), "hi"); !errors.Is(err, api.ErrUnknownPeer) {
		t.Errorf("unknown peer ID: %v", err)
	}
	if _, err := a.Send(ctx, "Bob", "   "); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("empty text: %v", err)
	}
	if _, err := a.Send(ctx, "Bob", string(make([]byte, dm.MaxText+1))); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("oversized text: %v", err)
	}
	if _, err := a.Send(ctx, a.ID().String(), "me"); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("send to self: %v", err)
	}
}

// TestHostileFramesResetStream: a peer writing garbage, an oversized length or the wrong
// frame type gets its stream reset; nothing is stored and honest messages still arrive.
func TestHostileFramesResetStream(t *testing.T) {
	a, b := pair(t)
	attacker := newRawHost(t, a)
	cases := map[string][]byte{
		"oversized length": binary.AppendUvarint(nil, 1<<30),
		"garbage payload":  {0x05, 0x01, 0xff, 0xff, 0xff, 0xff},
		"ack instead":      dm.AppendAck(nil, dm.Ack{ID: "x"}),
	}
	for name, frame := range cases {
		s, err := attacker.NewStream(context.Background(), a.ID(), dm.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(10 * time.Second))
		s.Write(frame)
		if _, err := bufio.NewReader(s).ReadByte(); err == nil || err == io.EOF {
			t.Errorf("%s: stream not reset (read err %v)", name, err)
		}
		s.Reset()
	}
	if hist, _ := a.History(context.Background(), api.HistoryQuery{}); len(hist) != 0 {
		t.Errorf("hostile frames stored %d messages", len(hist))
	}
	if res, err := b.Send(context.Background(), "Ann", "still here"); err != nil || res.Error != "" {
		t.Errorf("honest send after attack: %+v, %v", res, err)
	}
}

func newRawHost(t *testing.T, target *Node) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ai, _ := peer.AddrInfoFromString(fullAddr(target))
	if err := h.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	a := startNode(t, "Ann")
	b := startNode(t, "Bob", fullAddr(a))
	waitUntil(t, "connected", func() bool { return hasOnline(b.Peers(), "Ann") })
	events, _ := a.Subscribe(4)
	b.Close()
	a.Close()
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for range events { // events queued before Close drain, then the channel closes
	}
	// libp2p keeps a few process-wide goroutines (metrics, timers) after its first host;
	// what must not grow is our own per-node goroutines.
	waitUntil(t, "goroutines to settle", func() bool { return runtime.NumGoroutine() <= before+8 })
}
