package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPolicyAsk: an offer waits, pending, until Accept; nothing is written before.
func TestPolicyAsk(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "hello", 0644)
	info := a.send(b, src)
	if info.State != StateWaiting {
		t.Fatalf("sender after Send: %s, want waiting", info.State)
	}
	if in := mustGet(t, b, info.ID); in.State != StatePending || in.Direction != DirIn || in.Peer != a.h.ID() {
		t.Fatalf("receiver: %+v, want pending from the sender", in)
	}
	if tree := listTree(t, b.cfg.Downloads); len(tree) != 0 {
		t.Fatalf("a pending transfer wrote %v", tree)
	}
	if err := b.m.Accept("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Accept(unknown) = %v", err)
	}
	if err := a.m.Accept(info.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the sender accepted its own transfer: %v", err)
	}
	if err := b.m.Accept(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.wait(info.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.m.Accept(info.ID); !errors.Is(err, ErrNotPending) {
		t.Errorf("second Accept = %v, want ErrNotPending", err)
	}
	if got, err := a.wait(info.ID); err != nil || got.State != StateCompleted {
		t.Errorf("sender: %s %v", got.State, err)
	}
}

// TestPolicyContacts: contacts' offers start at once, others wait.
func TestPolicyContacts(t *testing.T) {
	friend, stranger, b := newHost(t, nil), newHost(t, nil), newHost(t, nil)
	connect(t, friend, b)
	connect(t, stranger, b)
	rb := newSide(t, b, func(c *Config) {
		c.Policy = AcceptContacts
		c.IsContact = func(p peer.ID) bool { return p == friend.ID() }
	})
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "hi", 0644)
	fromFriend := newSide(t, friend, nil).send(rb, src)
	fromStranger := newSide(t, stranger, nil).send(rb, src)
	if fromFriend.State != StateTransferring || fromStranger.State != StateWaiting {
		t.Errorf("friend's offer %s, stranger's %s; want transferring, waiting", fromFriend.State, fromStranger.State)
	}
	if _, err := rb.wait(fromFriend.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, rb, fromStranger.ID); got.State != StatePending {
		t.Errorf("stranger's offer: %s", got.State)
	}
}

// TestCancelByReceiver: the receiver cancels mid-transfer: its partial data is removed
// and the sender learns it.
func TestCancelByReceiver(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.OpenSource = openSlow(25 * time.Millisecond); c.ChunkSize = MinChunkSize }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 4<<20)
	info := a.send(b, src)
	waitFor(t, "some data to arrive", func() bool { return mustGet(t, b, info.ID).DoneBytes > 0 })
	if err := b.m.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, b, info.ID); got.State != StateCanceled {
		t.Errorf("receiver after Cancel: %s", got.State)
	}
	if tree := listTree(t, b.cfg.Downloads); len(tree) != 0 {
		t.Errorf("partial data left after Cancel: %v", tree)
	}
	if got, err := a.wait(info.ID); !errors.Is(err, ErrCanceled) {
		t.Errorf("sender: %s %q %v, want canceled", got.State, got.Error, err)
	}
	if err := b.m.Cancel(info.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("second Cancel = %v, want ErrFinished", err)
	}
}

// TestCancelBySender: the sender cancels mid-transfer; the receiver stops, removes its
// partial data and says canceled.
func TestCancelBySender(t *testing.T) {
	a, b := pair(t, func(c *Config) { c.OpenSource = openSlow(25 * time.Millisecond); c.ChunkSize = MinChunkSize }, nil)
	src := filepath.Join(t.TempDir(), "f.bin")
	writeRandom(t, src, 4<<20)
	info := a.send(b, src)
	waitFor(t, "some data to arrive", func() bool { return mustGet(t, b, info.ID).DoneBytes > 0 })
	if err := a.m.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := b.wait(info.ID); !errors.Is(err, ErrCanceled) {
		t.Fatalf("receiver: %s %q %v, want canceled", got.State, got.Error, err)
	}
	waitFor(t, "partial data to go", func() bool { return len(listTree(t, b.cfg.Downloads)) == 0 })
	if err := a.m.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel(unknown) = %v", err)
	}
}

// TestCancelPending: declining an offer that waits for Accept tells the sender.
func TestCancelPending(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "x", 0644)
	info := a.send(b, src)
	if err := b.m.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := a.wait(info.ID); !errors.Is(err, ErrCanceled) {
		t.Errorf("sender: %s %v", got.State, err)
	}
	// The same Send again is a new start: the receiver asks again.
	again := a.send(b, src)
	if again.ID != info.ID || again.State != StateWaiting {
		t.Errorf("Send after a cancel: %s %s, want the same transfer waiting again", again.ID, again.State)
	}
	if got := mustGet(t, b, info.ID); got.State != StatePending {
		t.Errorf("receiver after the new offer: %s", got.State)
	}
}

// TestUnreachableThenOnline: a Send to a peer that is not running is kept and goes
// through by itself once the peer is up.
func TestUnreachableThenOnline(t *testing.T) {
	key := newKey(t)
	b1 := newHost(t, key)
	a := newSide(t, newHost(t, nil), nil)
	connect(t, a.h, b1)
	addrs := b1.Addrs()
	b1.Close()
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "queued", 0644)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	info, err := a.m.Send(ctx, b1.ID(), []string{src})
	if !errors.Is(err, ErrUnreachable) || info.State != StatePaused || info.ID == "" {
		t.Fatalf("Send to an absent peer = %s %v; want paused, ErrUnreachable", info.State, err)
	}
	b2 := newHost(t, key)
	b := newSide(t, b2, nil)
	connect(t, a.h, b2)
	_ = addrs
	if got, err := a.wait(info.ID); err != nil {
		t.Fatalf("sender: %s %v", got.State, err)
	}
	sameFile(t, src, filepath.Join(b.cfg.Downloads, "f.txt"))
}

func TestSendErrors(t *testing.T) {
	a := newSide(t, newHost(t, nil), nil)
	if _, err := a.m.Send(context.Background(), a.h.ID(), []string{"x"}); err == nil {
		t.Error("Send to ourselves worked")
	}
	other := newHost(t, nil).ID()
	if _, err := a.m.Send(context.Background(), other, nil); err == nil {
		t.Error("Send of nothing worked")
	}
	if _, err := a.m.Send(context.Background(), other, []string{filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Send of a missing file: %v", err)
	}
	d1, d2 := filepath.Join(t.TempDir(), "same"), filepath.Join(t.TempDir(), "same")
	writeFile(t, d1, "1", 0644)
	writeFile(t, d2, "2", 0644)
	if _, err := a.m.Send(context.Background(), other, []string{d1, d2}); err == nil {
		t.Error("two items of the same name went into one offer")
	}
	if len(a.m.List()) != 0 {
		t.Errorf("failed Sends left %d transfers", len(a.m.List()))
	}
}

// TestSendingUntilFinished: a file being offered counts as sending until its transfer
// ends, so the node does not remove it; the receiver's side never counts.
func TestSendingUntilFinished(t *testing.T) {
	a, b := pair(t, nil, func(c *Config) { c.Policy = AcceptAsk })
	src := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, src, "x", 0644)
	info := a.send(b, src)
	if got := a.m.Sending(); !got[src] || len(got) != 1 {
		t.Fatalf("sender's Sending while waiting = %v, want only %s", got, src)
	}
	if got := b.m.Sending(); len(got) != 0 {
		t.Errorf("receiver's Sending = %v, want none", got)
	}
	if err := b.m.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.wait(info.ID); !errors.Is(err, ErrCanceled) {
		t.Fatalf("sender: %v, want canceled", err)
	}
	if got := a.m.Sending(); len(got) != 0 {
		t.Errorf("sender's Sending after the receiver declined = %v, want none", got)
	}
}
