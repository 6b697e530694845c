package dm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/internal/ratelimit"
)

// memInbox stores messages in memory, by ID.
type memInbox struct {
	mu   sync.Mutex
	msgs map[string]peer.ID
}

func (b *memInbox) Deliver(_ context.Context, from peer.ID, m Message) (AckStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.msgs[m.ID]; dup {
		return AckDuplicate, nil
	}
	b.msgs[m.ID] = from
	return AckStored, nil
}

func (b *memInbox) MarkRead(context.Context, peer.ID, []string) error { return nil }

func (b *memInbox) count(from peer.ID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.msgs {
		if p == from {
			n++
		}
	}
	return n
}

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t *testing.T, from, to host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// TestLimiterRefusesAFlooderOnly: the receiver allows 3 frames at once and calls a peer
// abusive after 2 refusals. The flooder's 4th message is rejected (not stored),
// its 5th closes its connection; an honest peer's messages are all stored meanwhile.
func TestLimiterRefusesAFlooderOnly(t *testing.T) {
	recvHost, flooder, honest := loopbackHost(t), loopbackHost(t), loopbackHost(t)
	inbox := &memInbox{msgs: map[string]peer.ID{}}
	lim := ratelimit.New[peer.ID](ratelimit.Config{Rate: 0.001, Burst: 3, CloseAfter: 2})
	recv := New(recvHost, inbox, slog.New(slog.DiscardHandler), WithLimiter(lim))
	defer recv.Close()
	connect(t, flooder, recvHost)
	connect(t, honest, recvHost)
	fs := New(flooder, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler))
	hs := New(honest, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler))

	ctx := context.Background()
	send := func(s *Service, i int) (Ack, error) {
		return s.Send(ctx, recvHost.ID(), Message{ID: fmt.Sprint(s.host.ID().ShortString(), i), SentAt: time.Now(), Text: "hi"})
	}
	for i := range 3 {
		if _, err := send(fs, i); err != nil {
			t.Fatalf("flooder message %d within the burst: %v", i, err)
		}
	}
	ack, err := send(fs, 3)
	if err == nil || ack.Status != AckRejected {
		t.Fatalf("flooder message over the limit: %+v, %v; want AckRejected", ack, err)
	}
	if _, err := send(fs, 4); err == nil {
		t.Fatalf("flooder message past CloseAfter was answered")
	}
	if got := inbox.count(flooder.ID()); got != 3 {
		t.Fatalf("stored %d of the flooder's messages, want the 3 allowed", got)
	}
	waitDisconnected(t, recvHost, flooder.ID())

	for i := range 3 {
		if _, err := send(hs, i); err != nil {
			t.Fatalf("honest message %d: %v", i, err)
		}
	}
	if got := inbox.count(honest.ID()); got != 3 {
		t.Fatalf("stored %d of the honest peer's messages, want 3", got)
	}
	if lim.Refused() != 2 {
		t.Fatalf("limiter refused %d frames, want 2", lim.Refused())
	}
}

// waitDisconnected waits on the network's notifications until id has no connection.
func waitDisconnected(t *testing.T, h host.Host, id peer.ID) {
	t.Helper()
	gone := make(chan struct{}, 1)
	nb := &network.NotifyBundle{DisconnectedF: func(network.Network, network.Conn) {
		select {
		case gone <- struct{}{}:
		default:
		}
	}}
	h.Network().Notify(nb)
	defer h.Network().StopNotify(nb)
	timeout := time.After(10 * time.Second)
	for h.Network().Connectedness(id) == network.Connected {
		select {
		case <-gone:
		case <-timeout:
			t.Fatal("the abusive peer is still connected")
		}
	}
}

// TestGarbageResetsOnlyThatStream: bytes that are not a frame reset the stream; the
// service goes on answering.
func TestGarbageResetsOnlyThatStream(t *testing.T) {
	recvHost, other := loopbackHost(t), loopbackHost(t)
	inbox := &memInbox{msgs: map[string]peer.ID{}}
	recv := New(recvHost, inbox, slog.New(slog.DiscardHandler))
	defer recv.Close()
	connect(t, other, recvHost)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := other.NewStream(ctx, recvHost.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3}) // a length far over MaxFrame
	if _, err := io.ReadAll(st); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("garbage stream ended with %v, want a reset", err)
	}
	s := New(other, &memInbox{msgs: map[string]peer.ID{}}, slog.New(slog.DiscardHandler))
	if _, err := s.Send(ctx, recvHost.ID(), Message{ID: "after", SentAt: time.Now(), Text: "ok"}); err != nil {
		t.Fatalf("message after the garbage: %v", err)
	}
}
