package rendezvous

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func fakeReg(p string, ns string, record []byte, expires time.Time) *registration {
	return &registration{peer: peer.ID(p), ns: ns, record: record, ip: "192.0.2.1", expires: expires}
}

func TestStoreRefreshPurgeCompact(t *testing.T) {
	s := newStore()
	now := time.Now()
	for _, p := range []string{"a", "b", "c"} {
		if err := s.add(fakeReg(p, "ns", []byte(p), now.Add(time.Minute)), quota{}); err != nil {
			t.Fatal(err)
		}
	}
	// A refresh moves a to the end, with a new sequence number.
	if err := s.add(fakeReg("a", "ns", []byte("a2"), now.Add(time.Second)), quota{}); err != nil {
		t.Fatal(err)
	}
	regs, cookie, err := s.discover("ns", nil, 10, MaxFrame, now)
	if err != nil || len(regs) != 3 || string(regs[2].SignedPeerRecord) != "a2" {
		t.Fatalf("discover: %v, %v", regs, err)
	}
	if n, _ := s.counts(); n != 3 || s.perPeer["a"] != 1 || s.perIP["192.0.2.1"] != 3 {
		t.Fatalf("counts %d, per peer %v, per ip %v", n, s.perPeer, s.perIP)
	}
	if regs[2].TTL != 1 || regs[0].TTL != 60 {
		t.Errorf("remaining TTLs %d, %d", regs[2].TTL, regs[0].TTL)
	}
	// Nothing new after the cookie; a expires, the purge drops it and compacts.
	if regs, _, _ := s.discover("ns", cookie, 10, MaxFrame, now); len(regs) != 0 {
		t.Errorf("after the cookie: %v", regs)
	}
	if n := s.purge(now.Add(2 * time.Second)); n != 1 {
		t.Errorf("purged %d, want 1", n)
	}
	if ns := s.spaces["ns"]; len(ns.order) != 2 || ns.dead != 0 || len(s.perIP) != 1 || s.perPeer["a"] != 0 {
		t.Errorf("after purge: %d entries, %d dead, per peer %v", len(ns.order), ns.dead, s.perPeer)
	}
	s.remove("ns", "b")
	s.remove("ns", "c")
	if n, spaces := s.counts(); n != 0 || spaces != 0 || len(s.perIP) != 0 || len(s.perPeer) != 0 {
		t.Errorf("after removing all: %d registrations, %d namespaces", n, spaces)
	}
}

// A DISCOVER_RESPONSE of the largest records still fits in a frame; the next page
// carries on where it stopped.
func TestDiscoverResponseFitsFrame(t *testing.T) {
	s := newStore()
	rec := bytes.Repeat([]byte{0xaa}, MaxRecordLen)
	for i := range 20 {
		if err := s.add(fakeReg(string(rune('a'+i)), "ns", rec, time.Now().Add(time.Minute)), quota{}); err != nil {
			t.Fatal(err)
		}
	}
	var cookie []byte
	total := 0
	for page := 0; total < 20; page++ {
		regs, next, err := s.discover("ns", cookie, 200, MaxFrame-64, time.Now())
		if err != nil || len(regs) == 0 || page > 10 {
			t.Fatalf("page %d: %d registrations, %v", page, len(regs), err)
		}
		frame := AppendMessage(nil, Message{Type: TypeDiscoverResponse, DiscoverResponse: DiscoverResponse{Registrations: regs, Cookie: next}})
		if len(frame) > MaxFrame {
			t.Fatalf("page %d is a %d-byte frame", page, len(frame))
		}
		total += len(regs)
		cookie = next
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	now := time.Now()
	for i := range 3 {
		if !l.allow("p", now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow("p", now) || !l.allow("q", now) {
		t.Fatal("bucket not per peer")
	}
	if !l.allow("p", now.Add(500*time.Millisecond)) || l.allow("p", now.Add(500*time.Millisecond)) {
		t.Fatal("refill at 2/s wrong")
	}
	l.purge(now.Add(time.Hour))
	if len(l.buckets) != 0 {
		t.Errorf("%d full buckets kept", len(l.buckets))
	}
}

// Close resets the streams being served and returns; the handlers are done by then.
func TestCloseResetsStreams(t *testing.T) {
	ctx := testCtx(t)
	srv, info := startServer(t, testConfig())
	c := newClient(t, info)
	st, err := c.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	// The handler runs once the protocol is negotiated: send a request to be sure.
	st.Write(AppendMessage(nil, Message{Type: TypeDiscover, Discover: Discover{Namespace: "x"}}))
	if _, err := ReadMessage(bufio.NewReader(st)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on an open stream")
	}
	if stacks := allStacks(); strings.Contains(stacks, "(*Server).purgeLoop") || strings.Contains(stacks, "(*Server).handle") {
		t.Error("server goroutines still running after Close")
	}
	st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(st); err == nil {
		t.Error("stream ended cleanly after Close, want a reset")
	}
	if _, err := c.Register(context.Background(), "parley", 0); err == nil {
		t.Error("closed server still registers")
	}
}
