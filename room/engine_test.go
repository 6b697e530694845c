package room

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
)

// testPeer is one in-process libp2p host on loopback with a gossipsub router.
type testPeer struct {
	h   host.Host
	ps  *pubsub.PubSub
	eng *Engine // nil until start

	mu    sync.Mutex
	got   []Message
	asked []uint64 // epochs reported to OnNewerEpoch
}

func newPeers(t *testing.T, n int) []*testPeer {
	t.Helper()
	t.Cleanup(func() { // runs last, after every engine's Close
		buf := make([]byte, 1<<20)
		if s := string(buf[:runtime.Stack(buf, true)]); strings.Contains(s, "room.(*Engine).read") {
			t.Error("an engine reader goroutine outlived Close")
		}
	})
	peers := make([]*testPeer, n)
	for i := range peers {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); h.Close() })
		peers[i] = &testPeer{h: h, ps: ps}
	}
	for i, a := range peers {
		for _, b := range peers[i+1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return peers
}

// start gives p an engine that records what it accepts; Close runs at cleanup (before the
// host closes) and must leave none of the engine's goroutines behind.
func (p *testPeer) start(t *testing.T, blocked func(peer.ID) bool) {
	p.startWith(t, Config{Blocked: blocked})
}

// startWith is start with cfg's other settings (Blocked, Now, ClaimHold).
func (p *testPeer) startWith(t *testing.T, cfg Config) {
	cfg.Key = p.key()
	cfg.OnMessage = func(_ ID, m Message) {
		p.mu.Lock()
		p.got = append(p.got, m)
		p.mu.Unlock()
	}
	cfg.OnNewerEpoch = func(_ ID, _ peer.ID, epoch uint64) {
		p.mu.Lock()
		p.asked = append(p.asked, epoch)
		p.mu.Unlock()
	}
	p.eng = NewEngine(p.ps, p.h.ID(), cfg)
	t.Cleanup(func() {
		p.eng.Close()
		p.eng.Close() // idempotent
	})
}

// key is the host's private key, which the engine signs with.
func (p *testPeer) key() libp2pcrypto.PrivKey { return p.h.Peerstore().PrivKey(p.h.ID()) }

func (p *testPeer) messages() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func (p *testPeer) texts() []string {
	var s []string
	for _, m := range p.messages() {
		s = append(s, m.Text)
	}
	return s
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitTopic waits until every peer sees the other n-1 on topic.
func waitTopic(t *testing.T, topic string, peers ...*testPeer) {
	t.Helper()
	for _, p := range peers {
		waitFor(t, "topic peers", func() bool { return len(p.ps.ListPeers(topic)) >= len(peers)-1 })
	}
}

// settle gives messages that should be dropped time to arrive.
func settle() { time.Sleep(400 * time.Millisecond) }

func newTestRoom(t *testing.T, owner *testPeer, announce bool, members ...*testPeer) Room {
	t.Helper()
	r, err := New("test", owner.h.ID(), announce)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		r.Members[m.h.ID()] = struct{}{}
	}
	return r
}

func TestFiveMembersSameOrder(t *testing.T) {
	peers := newPeers(t, 5)
	r := newTestRoom(t, peers[0], false, peers...)
	for _, p := range peers {
		p.start(t, nil)
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
	waitTopic(t, r.Topic(), peers...)

	var mu sync.Mutex
	sent := map[MessageID]bool{}
	byAuthor := map[peer.ID][]MessageID{} // in publish order
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			for k := range 4 {
				m, err := p.eng.Publish(context.Background(), r.ID, strings.Repeat("m", i+1)+string(rune('0'+k)))
				id := m.ID
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent[id] = true
				byAuthor[p.h.ID()] = append(byAuthor[p.h.ID()], id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(sent) != 20 {
		t.Fatalf("%d messages published", len(sent))
	}
	for _, p := range peers {
		waitFor(t, "20 messages", func() bool { return len(p.messages()) >= 20 })
	}
	settle()
	var first []Message
	for i, p := range peers {
		got := p.messages()
		if len(got) != 20 {
			t.Fatalf("peer %d received %d messages, want exactly 20", i, len(got))
		}
		for _, m := range got {
			if !sent[m.ID] {
				t.Fatalf("peer %d received a message nobody sent", i)
			}
		}
		slices.SortFunc(got, Compare)
		if i == 0 {
			first = got
			continue
		}
		if !slices.EqualFunc(got, first, equalMsg) {
			t.Errorf("peer %d orders messages differently from peer 0", i)
		}
	}
	// An author's later message always has a larger Lamport counter.
	lamport := map[MessageID]uint64{}
	for _, m := range first {
		lamport[m.ID] = m.Lamport
	}
	for author, ids := range byAuthor {
		for k := 1; k < len(ids); k++ {
			if lamport[ids[k]] <= lamport[ids[k-1]] {
				t.Errorf("author %s: Lamport %d after %d", author, lamport[ids[k]], lamport[ids[k-1]])
			}
		}
	}
}

// rawSub joins topic without an engine (no validator) and returns its subscription.
func rawSub(t *testing.T, p *testPeer, topic string) (*pubsub.Topic, *pubsub.Subscription) {
	t.Helper()
	tp, err := p.ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return tp, sub
}

func nextData(t *testing.T, sub *pubsub.Subscription) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func TestKeylessSubscriberSeesCiphertextOnly(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, x := peers[0], peers[1], peers[2]
	r := newTestRoom(t, a, false, b)
	a.start(t, nil)
	b.start(t, nil)
	for _, p := range []*testPeer{a, b} {
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
	xt, xsub := rawSub(t, x, r.Topic())
	waitTopic(t, r.Topic(), peers...)

	const secret = "the vault code is 4711"
	if _, err := a.eng.Publish(context.Background(), r.ID, secret); err != nil {
		t.Fatal(err)
	}
	data := nextData(t, xsub)
	if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(a.h.ID())) {
		t.Fatal("the keyless subscriber saw plaintext")
	}
	guess := r.Clone()
	guess.Key = [32]byte{}
	if _, err := guess.Open(data); !errors.Is(err, ErrDecrypt) {
		t.Errorf("opened without the key: %v", err)
	}

	// Its own publishes, garbage or sealed under a key of its choosing, are dropped.
	forger := r.Clone()
	forger.Key = [32]byte{1}
	forged, err := forger.Seal(Message{Author: x.h.ID(), Text: "forged"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range [][]byte{[]byte("garbage"), forged} {
		if err := xt.Publish(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the secret at b", func() bool { return len(b.messages()) >= 1 })
	settle()
	if got := b.texts(); !slices.Equal(got, []string{secret}) {
		t.Errorf("b accepted %q", got)
	}
	if got := a.texts(); !slices.Equal(got, []string{secret}) {
		t.Errorf("a accepted %q", got)
	}
}

func TestNonMemberWithKeyDropped(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, n := peers[0], peers[1], peers[2]
	r := newTestRoom(t, a, false, b)
	for _, p := range peers {
		p.start(t, nil)
	}
	if err := a.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	if err := n.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, r.Topic(), peers...)
	if _, err := n.eng.Publish(context.Background(), r.ID, "x"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("non-member Publish: %v, want ErrNotAllowed", err)
	}
	// n knows the key and lists itself as a member: its sealed message is valid but for
	// its author, and only its own view accepts it.
	forgedView := r.Clone()
	forgedView.Members[n.h.ID()] = struct{}{}
	forgedView.Version++
	if err := n.eng.Update(forgedView); err != nil {
		t.Fatal(err)
	}
	if _, err := n.eng.Publish(context.Background(), r.ID, "from outside"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.Publish(context.Background(), r.ID, "members only"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n's own message and a's", func() bool { return len(n.messages()) >= 2 })
	waitFor(t, "a's message at b", func() bool { return len(b.messages()) >= 1 })
	settle()
	for name, p := range map[string]*testPeer{"a": a, "b": b} {
		if got := p.texts(); !slices.Equal(got, []string{"members only"}) {
			t.Errorf("%s accepted %q", name, got)
		}
	}
}

func TestOversizedAndDuplicateDropped(t *testing.T) {
	peers := newPeers(t, 2)
	a, m := peers[0], peers[1]
	r := newTestRoom(t, a, false, m)
	a.start(t, nil)
	if err := a.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	mt, _ := rawSub(t, m, r.Topic()) // a member publishing without an engine
	waitTopic(t, r.Topic(), peers...)

	if _, err := a.eng.Publish(context.Background(), r.ID, strings.Repeat("x", MaxText+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of %d bytes: %v, want ErrTooLarge", MaxText+1, err)
	}
	fits := Message{Author: m.h.ID(), Clock: time.Now(), Text: "fits"}
	if err := SignMessage(&fits, r.ID, m.key()); err != nil {
		t.Fatal(err)
	}
	ok, err := r.Seal(fits)
	if err != nil {
		t.Fatal(err)
	}
	// A well-sealed envelope padded past the cap with an unknown field.
	big := append(bytes.Clone(ok), 0x22) // field 4, bytes
	big = append(big, 0x80, 0x80, 0x04)  // 65536 bytes
	big = append(big, make([]byte, 1<<16)...)
	// ok twice: a replay gets a new pubsub sequence number, so only the message ID
	// tells the duplicate.
	for _, d := range [][]byte{big, ok, ok} {
		if err := mt.Publish(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the message that fits", func() bool { return len(a.messages()) >= 1 })
	settle()
	if got := a.texts(); !slices.Equal(got, []string{"fits"}) {
		t.Errorf("a accepted %q", got)
	}
}

func TestAnnounceRoomOnlyOwnersPost(t *testing.T) {
	peers := newPeers(t, 3)
	owner, b, c := peers[0], peers[1], peers[2]
	r := newTestRoom(t, owner, true, b, c)
	for _, p := range peers {
		p.start(t, nil)
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
	waitTopic(t, r.Topic(), peers...)
	if _, err := b.eng.Publish(context.Background(), r.ID, "x"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("non-owner Publish: %v, want ErrNotAllowed", err)
	}
	selfPromoted := r.Clone()
	selfPromoted.Owners[b.h.ID()] = struct{}{}
	selfPromoted.Version++
	if err := b.eng.Update(selfPromoted); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.Publish(context.Background(), r.ID, "not an owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.eng.Publish(context.Background(), r.ID, "email is down"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the announcement at c", func() bool { return len(c.messages()) >= 1 })
	settle()
	for name, p := range map[string]*testPeer{"owner": owner, "c": c} {
		if got := p.texts(); !slices.Equal(got, []string{"email is down"}) {
			t.Errorf("%s accepted %q", name, got)
		}
	}
}

// startJoined starts each peer's engine and joins it to r.
func startJoined(t *testing.T, r Room, peers ...*testPeer) {
	t.Helper()
	for _, p := range peers {
		p.start(t, nil)
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotateRemovesMember(t *testing.T) {
	peers := newPeers(t, 4)
	a, b, c, x := peers[0], peers[1], peers[2], peers[3]
	r := newTestRoom(t, a, false, b, c)
	startJoined(t, r, peers[:3]...)
	_, xsub := rawSub(t, x, r.Topic()) // captures the ciphertext c would see
	waitTopic(t, r.Topic(), peers...)

	if _, err := a.eng.Publish(context.Background(), r.ID, "before"); err != nil {
		t.Fatal(err)
	}
	nextData(t, xsub)
	waitFor(t, "before at b", func() bool { return len(b.messages()) >= 1 })
	waitFor(t, "before at c", func() bool { return len(c.messages()) >= 1 })

	next, err := a.eng.Rotate(r.ID, c.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if next.Epoch != r.Epoch+1 || next.Key == r.Key || next.IsMember(c.h.ID()) {
		t.Fatalf("rotation: epoch %d->%d, key changed %v, c member %v", r.Epoch, next.Epoch, next.Key != r.Key, next.IsMember(c.h.ID()))
	}
	if err := b.eng.Update(next); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Update(r); !errors.Is(err, ErrStale) {
		t.Errorf("update back to the old epoch: %v, want ErrStale", err)
	}
	if _, err := c.eng.Publish(context.Background(), r.ID, "removed but posting"); err != nil {
		t.Fatal(err) // c's own, stale view still accepts it: nobody posted under the new key yet
	}
	if _, err := a.eng.Publish(context.Background(), r.ID, "after"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "after at b", func() bool { return len(b.messages()) >= 2 })
	settle()
	if got := b.texts(); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("b accepted %q", got)
	}
	if got := c.texts(); !slices.Equal(got, []string{"before", "removed but posting"}) {
		t.Errorf("c accepted %q", got)
	}
	after := nextData(t, xsub)
	if e, err := ParseEnvelope(after); err != nil || e.Epoch != next.Epoch {
		after = nextData(t, xsub) // c's stale post came first
	}
	waitFor(t, "c to see a post under a newer key", func() bool { return newerSeen(c, r.ID) == next.Epoch })
	if _, err := c.eng.Publish(context.Background(), r.ID, "still posting"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Errorf("c's Publish after a post under the new key: %v, want ErrKeyOutOfDate", err)
	}
	old, _ := c.eng.Room(r.ID)
	if _, err := old.Open(after); !errors.Is(err, ErrEpoch) {
		t.Errorf("old room state opened the new epoch: %v", err)
	}
	old.Epoch = next.Epoch // the old key cannot open it even under the new epoch
	if _, err := old.Open(after); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old key on the new epoch: %v, want ErrDecrypt", err)
	}
}

// newerSeen is the newer epoch p's engine saw posts under in room id (0: none).
func newerSeen(p *testPeer, id ID) uint64 {
	p.eng.mu.Lock()
	defer p.eng.mu.Unlock()
	if j := p.eng.rooms[id]; j != nil {
		return j.newer
	}
	return 0
}

// TestStaleMemberStopsPosting: a member that missed a rotation (offline when someone was
// removed) stops posting under the old key, which the removed member still holds, once
// it sees a member post under a newer one, and posts again when it gets the new state.
// A non-member claiming a newer epoch does not silence it.
func TestStaleMemberStopsPosting(t *testing.T) {
	peers := newPeers(t, 4)
	a, b, c, x := peers[0], peers[1], peers[2], peers[3]
	r := newTestRoom(t, a, false, b, c)
	startJoined(t, r, peers[:3]...)
	xtopic, _ := rawSub(t, x, r.Topic())
	waitTopic(t, r.Topic(), peers...)

	forged := AppendEnvelope(nil, Envelope{Epoch: r.Epoch + 5, Ciphertext: bytes.Repeat([]byte("not sealed"), 8)})
	if err := xtopic.Publish(context.Background(), forged); err != nil {
		t.Fatal(err)
	}
	settle() // b's validator has seen the claim
	// a removes c; b is not told: it was away.
	next, err := a.eng.Rotate(r.ID, c.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.Publish(context.Background(), r.ID, "before anyone posts under the new key"); err != nil {
		t.Fatalf("b before any post under the new key: %v (a non-member's claim of a newer epoch must not count)", err)
	}
	if _, err := a.eng.Publish(context.Background(), r.ID, "c is gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see a post under a newer key", func() bool { return newerSeen(b, r.ID) == next.Epoch })
	if _, err := b.eng.Publish(context.Background(), r.ID, "secret plans"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Fatalf("b posting with an out-of-date key: %v, want ErrKeyOutOfDate", err)
	}
	if err := b.eng.Update(next); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.Publish(context.Background(), r.ID, "secret plans"); err != nil {
		t.Fatalf("b with the new key: %v", err)
	}
	waitFor(t, "b's post at a", func() bool { return slices.Contains(a.texts(), "secret plans") })
	settle()
	if got := c.texts(); slices.Contains(got, "secret plans") || !slices.Contains(got, "before anyone posts under the new key") {
		t.Errorf("the removed member accepted %q: it must miss b's post under the new key (and has the one before)", got)
	}
}

// publishClaim publishes on topic an envelope claiming epoch that nobody can open.
func publishClaim(t *testing.T, topic *pubsub.Topic, epoch uint64) {
	t.Helper()
	env := AppendEnvelope(nil, Envelope{Epoch: epoch, Ciphertext: bytes.Repeat([]byte("not sealed"), 8)})
	if err := topic.Publish(context.Background(), env); err != nil {
		t.Fatal(err)
	}
}

// TestEpochClaimsCannotSilence: a member claiming a far newer epoch (2^62, held+2^40)
// silences nobody, and the creator ignores every claim; a claim of the next epoch stops
// another member posting only until the creator's state arrives, and the same author's
// claim, refuted by that state, does not stop it again.
func TestEpochClaimsCannotSilence(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, c := peers[0], peers[1], peers[2] // c is a member with a client of its own
	r := newTestRoom(t, a, false, b, c)
	startJoined(t, r, a, b)
	ctopic, csub := rawSub(t, c, r.Topic())
	waitTopic(t, r.Topic(), peers...)

	publishClaim(t, ctopic, 1<<62)
	publishClaim(t, ctopic, r.Epoch+1<<40)
	settle()
	for name, p := range map[string]*testPeer{"creator": a, "member": b} {
		if _, err := p.eng.Publish(context.Background(), r.ID, "after a huge claim from "+name); err != nil {
			t.Errorf("%s after a member claimed epoch 2^62: %v", name, err)
		}
	}
	for range 4 { // c's two claims, then the two posts
		nextData(t, csub)
	}

	publishClaim(t, ctopic, r.Epoch+1)
	waitFor(t, "b to see the next-epoch claim", func() bool { return newerSeen(b, r.ID) == r.Epoch+1 })
	if _, err := b.eng.Publish(context.Background(), r.ID, "held back"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Fatalf("b after a next-epoch claim: %v, want ErrKeyOutOfDate", err)
	}
	if _, err := a.eng.Publish(context.Background(), r.ID, "the creator posts"); err != nil {
		t.Fatalf("the creator after a next-epoch claim: %v", err)
	}
	if err := b.eng.Update(r); err != nil { // the creator's answer: its state, unchanged
		t.Fatal(err)
	}
	if _, err := b.eng.Publish(context.Background(), r.ID, "after the creator's state"); err != nil {
		t.Fatalf("b after the creator's state: %v", err)
	}
	publishClaim(t, ctopic, r.Epoch+2)
	waitFor(t, "b to report the refuted author's claim", func() bool { return slices.Contains(b.askedEpochs(), r.Epoch+2) })
	if _, err := b.eng.Publish(context.Background(), r.ID, "a refuted claim again"); err != nil {
		t.Fatalf("b after a refuted author's claim: %v", err)
	}
	if got := a.askedEpochs(); len(got) != 0 || newerSeen(a, r.ID) != 0 {
		t.Errorf("the creator noted claims %v (mark %d); its own state is the room's", got, newerSeen(a, r.ID))
	}
	if got := b.askedEpochs(); !slices.Contains(got, 1<<62) || !slices.Contains(got, r.Epoch+1) {
		t.Errorf("b reported %v; every claim should make it ask the creator", got)
	}
}

// fakeClock is a clock tests move by hand, so a wait of minutes takes none.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestEpochClaimHoldExpires: a member's claim of the next epoch, with the creator never
// answering, stops another member posting for the claim window only (DefaultClaimHold
// by the member's clock), not for as long as the creator stays away; the same author
// claiming the same epoch, or the next one, again does not stop it a second time. The
// creator's own claim (signed by it, so true) holds until its state arrives.
func TestEpochClaimHoldExpires(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, c := peers[0], peers[1], peers[2] // a, the creator, never answers b's ask
	r := newTestRoom(t, a, false, b, c)
	clock := &fakeClock{now: time.Now()}
	b.startWith(t, Config{Now: clock.Now})
	if err := b.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	ctopic, _ := rawSub(t, c, r.Topic())
	waitTopic(t, r.Topic(), b, c)

	publishClaim(t, ctopic, r.Epoch+1)
	waitFor(t, "b to see the next-epoch claim", func() bool { return len(b.askedEpochs()) == 1 })
	if _, err := b.eng.Publish(context.Background(), r.ID, "held back"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Fatalf("b just after a next-epoch claim: %v, want ErrKeyOutOfDate", err)
	}
	clock.Add(time.Minute)
	if _, err := b.eng.Publish(context.Background(), r.ID, "held back"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Fatalf("b a minute after a next-epoch claim: %v, want ErrKeyOutOfDate", err)
	}
	clock.Add(time.Minute + time.Second)
	if _, err := b.eng.Publish(context.Background(), r.ID, "the creator is away"); err != nil {
		t.Fatalf("b past the claim window, the creator silent: %v, want it to post", err)
	}
	for i, epoch := range []uint64{r.Epoch + 1, r.Epoch + 2} {
		publishClaim(t, ctopic, epoch)
		waitFor(t, "b to see the claim again", func() bool { return len(b.askedEpochs()) == i+2 })
		if _, err := b.eng.Publish(context.Background(), r.ID, "claimed again"); err != nil {
			t.Fatalf("b after the same author claimed epoch %d again: %v (one hold per author)", epoch, err)
		}
	}

	atopic, _ := rawSub(t, a, r.Topic()) // the creator's claim is signed by it: true
	waitTopic(t, r.Topic(), a, b)
	publishClaim(t, atopic, r.Epoch+1)
	waitFor(t, "b to see the creator's claim", func() bool { return len(b.askedEpochs()) == 4 })
	clock.Add(time.Hour)
	if _, err := b.eng.Publish(context.Background(), r.ID, "the creator rotated"); !errors.Is(err, ErrKeyOutOfDate) {
		t.Fatalf("b long after the creator posted under a newer epoch: %v, want ErrKeyOutOfDate until its state", err)
	}
	next := r.Clone()
	next.Epoch++
	next.Key[0] ^= 1
	if err := b.eng.Update(next); err != nil {
		t.Fatal(err)
	}
	if _, err := b.eng.Publish(context.Background(), r.ID, "with the new key"); err != nil {
		t.Fatalf("b with the creator's state: %v", err)
	}
}

func (p *testPeer) askedEpochs() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.asked)
}

func TestBlockedAuthorDropped(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, c := peers[0], peers[1], peers[2]
	r := newTestRoom(t, a, false, b, c)
	a.start(t, nil)
	b.start(t, func(p peer.ID) bool { return p == c.h.ID() })
	c.start(t, nil)
	for _, p := range peers {
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
	waitTopic(t, r.Topic(), peers...)
	for _, p := range []*testPeer{c, a} {
		if _, err := p.eng.Publish(context.Background(), r.ID, "from "+p.h.ID().String()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both at a", func() bool { return len(a.messages()) >= 2 })
	waitFor(t, "a's at b", func() bool { return len(b.messages()) >= 1 })
	settle()
	if got := b.texts(); !slices.Equal(got, []string{"from " + a.h.ID().String()}) {
		t.Errorf("b accepted %q", got)
	}
}

// testKey is a fresh Ed25519 identity: its key and the peer ID that embeds it.
func testKey(t testing.TB) (libp2pcrypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// signed is a message from author with text, signed for room by key (which need not be
// the author's, to forge).
func signed(t testing.TB, room ID, author peer.ID, key libp2pcrypto.PrivKey, text string) Message {
	t.Helper()
	m := Message{Author: author, Clock: time.Now(), Lamport: 1, Text: text}
	if _, err := rand.Read(m.ID[:]); err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(m.SigningBytes(room))
	if err != nil {
		t.Fatal(err)
	}
	m.Sig = sig
	return m
}

// TestValidator checks each drop rule on its own, without a network.
func TestValidator(t *testing.T) {
	peers := newPeers(t, 1)
	p := peers[0]
	self, selfKey := p.h.ID(), p.key()
	memberKey, member := testKey(t)
	outsiderKey, outsider := testKey(t)
	blockedKey, blocked := testKey(t)
	keys := map[peer.ID]libp2pcrypto.PrivKey{self: selfKey, member: memberKey, outsider: outsiderKey, blocked: blockedKey}
	r, err := New("v", self, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Members[member] = struct{}{}
	r.Members[blocked] = struct{}{}
	e := NewEngine(p.ps, self, Config{Key: selfKey, Blocked: func(q peer.ID) bool { return q == blocked }})
	defer e.Close()
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	sealMsg := func(r Room, m Message) []byte {
		env, err := r.Seal(m)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	seal := func(r Room, author peer.ID) []byte {
		return sealMsg(r, signed(t, r.ID, author, keys[author], "t"))
	}
	wrongKey := r.Clone()
	wrongKey.Key[0] ^= 1
	rotated, _ := r.Rotate()
	announce := r.Clone()
	announce.Announce = true
	unsigned := signed(t, r.ID, member, memberKey, "t")
	unsigned.Sig = nil
	tampered := signed(t, r.ID, member, memberKey, "t")
	tampered.Text = "T"

	cases := []struct {
		name string
		from peer.ID
		data []byte
		want pubsub.ValidationResult
	}{
		{"member", member, seal(r, member), pubsub.ValidationAccept},
		{"oversized", member, make([]byte, MaxEnvelope+1), pubsub.ValidationReject},
		{"garbage", member, []byte("garbage"), pubsub.ValidationReject},
		{"wrong key", member, seal(wrongKey, member), pubsub.ValidationReject},
		{"other epoch", member, seal(rotated, member), pubsub.ValidationIgnore},
		{"non-member", outsider, seal(r, outsider), pubsub.ValidationReject},
		{"author is not signer", member, seal(r, self), pubsub.ValidationReject},
		{"blocked", blocked, seal(r, blocked), pubsub.ValidationIgnore},
		{"no signer", "", seal(r, member), pubsub.ValidationReject},
		{"no inner signature", member, sealMsg(r, unsigned), pubsub.ValidationReject},
		{"inner signature by another key", member, sealMsg(r, signed(t, r.ID, member, outsiderKey, "t")), pubsub.ValidationReject},
		{"inner signature for another room", member, sealMsg(r, signed(t, ID{1}, member, memberKey, "t")), pubsub.ValidationReject},
		{"tampered after signing", member, sealMsg(r, tampered), pubsub.ValidationReject},
	}
	v := e.validator(r.ID)
	for _, c := range cases {
		msg := &pubsub.Message{Message: &pb.Message{From: []byte(c.from), Data: c.data}}
		if got := v(context.Background(), "", msg); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if err := e.Update(announce); err != nil {
		t.Fatal(err)
	}
	msg := &pubsub.Message{Message: &pb.Message{From: []byte(member), Data: seal(r, member)}}
	if got := v(context.Background(), "", msg); got != pubsub.ValidationReject {
		t.Errorf("announce room, member not owner: %v, want reject", got)
	}
	msg = &pubsub.Message{Message: &pb.Message{From: []byte(self), Data: seal(r, self)}}
	if got := v(context.Background(), "", msg); got != pubsub.ValidationAccept {
		t.Errorf("announce room, owner: %v, want accept", got)
	}

	// After a rotation that removes member, the previous epoch still opens for the others.
	if err := e.Update(r); err != nil {
		t.Fatal(err)
	}
	next, err := e.Rotate(r.ID, member)
	if err != nil {
		t.Fatal(err)
	}
	next2, _ := next.Rotate()
	for _, c := range []struct {
		name string
		from peer.ID
		data []byte
		want pubsub.ValidationResult
	}{
		{"new epoch, owner", self, seal(next, self), pubsub.ValidationAccept},
		{"previous epoch in flight", self, seal(r, self), pubsub.ValidationAccept},
		{"previous epoch, removed member", member, seal(r, member), pubsub.ValidationReject},
		{"future epoch", self, seal(next2, self), pubsub.ValidationIgnore},
	} {
		msg := &pubsub.Message{Message: &pb.Message{From: []byte(c.from), Data: c.data}}
		if got := v(context.Background(), "", msg); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestForgedInnerSignatureDropped: a member publishing through its own pubsub key (so the
// author is the signer) but with an inner signature made by a second real key is dropped,
// and its correctly signed message is accepted.
func TestForgedInnerSignatureDropped(t *testing.T) {
	peers := newPeers(t, 2)
	a, m := peers[0], peers[1]
	r := newTestRoom(t, a, false, m)
	a.start(t, nil)
	if err := a.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	mt, _ := rawSub(t, m, r.Topic())
	waitTopic(t, r.Topic(), peers...)
	otherKey, _ := testKey(t)
	for _, msg := range []Message{
		signed(t, r.ID, m.h.ID(), otherKey, "forged"),
		signed(t, r.ID, m.h.ID(), m.key(), "genuine"),
	} {
		env, err := r.Seal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := mt.Publish(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the genuine message", func() bool { return len(a.messages()) >= 1 })
	settle()
	if got := a.texts(); !slices.Equal(got, []string{"genuine"}) {
		t.Errorf("a accepted %q", got)
	}
}

// TestDeliver: synced messages are verified, deduplicated against pubsub arrivals (both
// ways), advance the Lamport counter, and are refused from authors who are not members.
func TestDeliver(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, c := peers[0], peers[1], peers[2]
	r := newTestRoom(t, a, false, b, c)
	blockedKey, blocked := testKey(t)
	for _, p := range peers[:2] {
		p.start(t, func(q peer.ID) bool { return q == blocked })
		if err := p.eng.Join(r); err != nil {
			t.Fatal(err)
		}
	}
	ct, _ := rawSub(t, c, r.Topic()) // a member publishing without an engine
	waitTopic(t, r.Topic(), peers...)

	// Pubsub first, then the same message by sync: a duplicate.
	if _, err := a.eng.Publish(context.Background(), r.ID, "live"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "live at b", func() bool { return len(b.messages()) >= 1 })
	live := b.messages()[0]
	if b.eng.Deliver(r.ID, live) {
		t.Error("Deliver accepted a message pubsub already delivered")
	}

	// A current member's history, with a high Lamport counter.
	old := signed(t, r.ID, c.h.ID(), c.key(), "history")
	old.Lamport = 1000
	if err := SignMessage(&old, r.ID, c.key()); err != nil {
		t.Fatal(err)
	}
	if !b.eng.Deliver(r.ID, old) {
		t.Fatal("Deliver refused a signed message from a member")
	}
	if b.eng.Deliver(r.ID, old) {
		t.Error("Deliver accepted the same message twice")
	}
	// A former member's message, signed while a member: sync carries only the history
	// of current members.
	formerKey, former := testKey(t)
	if b.eng.Deliver(r.ID, signed(t, r.ID, former, formerKey, "former")) {
		t.Error("Deliver accepted a message from a non-member")
	}

	// Sync first, then the same message on the topic: pubsub's copy is the duplicate.
	early := signed(t, r.ID, c.h.ID(), c.key(), "synced first")
	if !b.eng.Deliver(r.ID, early) {
		t.Fatal("Deliver refused c's message")
	}
	for _, m := range []Message{early, signed(t, r.ID, c.h.ID(), c.key(), "marker")} {
		env, err := r.Seal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := ct.Publish(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "c's marker at b", func() bool { return slices.Contains(b.texts(), "marker") })

	tampered := signed(t, r.ID, a.h.ID(), a.key(), "x")
	tampered.Text = "y"
	otherRoom := signed(t, ID{9}, a.h.ID(), a.key(), "elsewhere")
	unsigned := signed(t, r.ID, a.h.ID(), a.key(), "unsigned")
	unsigned.Sig = nil
	for name, m := range map[string]Message{
		"tampered":         tampered,
		"other room":       otherRoom,
		"unsigned":         unsigned,
		"blocked author":   signed(t, r.ID, blocked, blockedKey, "blocked"),
		"other author key": signed(t, r.ID, a.h.ID(), formerKey, "forged"),
	} {
		if b.eng.Deliver(r.ID, m) {
			t.Errorf("Deliver accepted %s", name)
		}
	}
	if b.eng.Deliver(ID{9}, otherRoom) {
		t.Error("Deliver accepted a message for a room not joined")
	}

	// The synced Lamport counter carries into b's next message.
	if _, err := b.eng.Publish(context.Background(), r.ID, "after sync"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's message at a", func() bool { return slices.Contains(a.texts(), "after sync") })
	for _, m := range a.messages() {
		if m.Text == "after sync" && m.Lamport <= old.Lamport {
			t.Errorf("b's Lamport %d after delivering %d", m.Lamport, old.Lamport)
		}
	}
	settle()
	if got := b.texts(); !slices.Equal(got, []string{"live", "history", "synced first", "marker", "after sync"}) {
		t.Errorf("b accepted %q", got)
	}
}

func TestJoinLeave(t *testing.T) {
	p := newPeers(t, 1)[0]
	p.start(t, nil)
	r := newTestRoom(t, p, false)
	if err := p.eng.Join(r); err != nil {
		t.Fatal(err)
	}
	if err := p.eng.Join(r); !errors.Is(err, ErrJoined) {
		t.Errorf("second Join: %v", err)
	}
	if err := p.eng.Leave(r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.eng.Publish(context.Background(), r.ID, "x"); !errors.Is(err, ErrNotJoined) {
		t.Errorf("Publish after Leave: %v", err)
	}
	if err := p.eng.Join(r); err != nil {
		t.Fatalf("Join after Leave: %v", err)
	}
	p.eng.Close()
	if err := p.eng.Join(r); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v", err)
	}
}

// TestCloseAfterRouterStopped: the router may stop first; Close must still return.
func TestCloseAfterRouterStopped(t *testing.T) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New("r", h.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(ps, h.ID(), Config{}) // no Key: reads, but cannot post
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(context.Background(), r.ID, "x"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Publish without a key: %v, want ErrNoKey", err)
	}
	cancel()
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung after the router stopped")
	}
}

// signedAt is signed with a chosen clock and Lamport counter, for the bounds.
func signedAt(t testing.TB, room ID, author peer.ID, key libp2pcrypto.PrivKey, clock time.Time, lamport uint64) Message {
	t.Helper()
	m := Message{Author: author, Clock: clock, Lamport: lamport, Text: "bounds"}
	if _, err := rand.Read(m.ID[:]); err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(m.SigningBytes(room))
	if err != nil {
		t.Fatal(err)
	}
	m.Sig = sig
	return m
}

// sealUnchecked seals m's encoding without Message.Validate, as a hostile member would.
func sealUnchecked(t testing.TB, r Room, m Message) []byte {
	t.Helper()
	aead, err := chacha20poly1305.NewX(r.Key[:])
	if err != nil {
		t.Fatal(err)
	}
	e := Envelope{Epoch: r.Epoch, Nonce: [NonceSize]byte{1}}
	e.Ciphertext = aead.Seal(nil, e.Nonce[:], AppendMessage(nil, m), r.ad(r.Epoch))
	return AppendEnvelope(nil, e)
}

// TestBounds: the validator and Deliver drop a Lamport counter above MaxLamport and an
// author clock more than MaxClockSkew ahead of Config.Now, and take those at the bounds.
func TestBounds(t *testing.T) {
	p := newPeers(t, 1)[0]
	self := p.h.ID()
	memberKey, member := testKey(t)
	r, err := New("b", self, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Members[member] = struct{}{}
	now := time.Unix(1_800_000_000, 0)
	e := NewEngine(p.ps, self, Config{Key: p.key(), Now: func() time.Time { return now }})
	defer e.Close()
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	v := e.validator(r.ID)
	for _, c := range []struct {
		name    string
		clock   time.Time
		lamport uint64
		ok      bool
	}{
		{"now", now, 1, true},
		{"in the past", now.Add(-365 * 24 * time.Hour), 1, true},
		{"at the skew", now.Add(MaxClockSkew), 1, true},
		{"past the skew", now.Add(MaxClockSkew + time.Nanosecond), 1, false},
		{"far future", now.Add(100 * 365 * 24 * time.Hour), 1, false},
		{"MaxLamport", now, MaxLamport, true},
		{"MaxLamport+1", now, MaxLamport + 1, false},
		{"2^63", now, 1 << 63, false},
		{"max uint64", now, ^uint64(0), false},
	} {
		m := signedAt(t, r.ID, member, memberKey, c.clock, c.lamport)
		msg := &pubsub.Message{Message: &pb.Message{From: []byte(member), Data: sealUnchecked(t, r, m)}}
		want := pubsub.ValidationReject
		if c.ok {
			want = pubsub.ValidationAccept
		}
		if got := v(context.Background(), "", msg); got != want {
			t.Errorf("validator, %s: %v, want %v", c.name, got, want)
		}
		if got := e.Deliver(r.ID, m); got != c.ok {
			t.Errorf("Deliver, %s: %v, want %v", c.name, got, c.ok)
		}
	}
	if _, err := ParseMessage(AppendMessage(nil, signedAt(t, r.ID, member, memberKey, now, MaxLamport+1))); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "Lamport") {
		t.Errorf("ParseMessage of Lamport MaxLamport+1: %v, want ErrMalformed naming the Lamport counter", err)
	}
	// Having seen MaxLamport, the counter stays there: Publish still works.
	m, err := e.Publish(context.Background(), r.ID, "at the top")
	if err != nil || m.Lamport != MaxLamport {
		t.Errorf("Publish after MaxLamport: Lamport %d, %v; want %d", m.Lamport, err, uint64(MaxLamport))
	}
}

// TestDeliverMembership: Deliver checks the author against the room's current state.
func TestDeliverMembership(t *testing.T) {
	p := newPeers(t, 1)[0]
	self := p.h.ID()
	memberKey, member := testKey(t)
	outsiderKey, outsider := testKey(t)
	r, err := New("d", self, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Members[member] = struct{}{}
	e := NewEngine(p.ps, self, Config{Key: p.key()})
	defer e.Close()
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	if e.Deliver(r.ID, signed(t, r.ID, outsider, outsiderKey, "outsider")) {
		t.Error("Deliver accepted a non-member's message")
	}
	if !e.Deliver(r.ID, signed(t, r.ID, member, memberKey, "member")) {
		t.Error("Deliver refused a member's message")
	}
	announce := r.Clone()
	announce.Announce = true
	announce.Version++
	if err := e.Update(announce); err != nil {
		t.Fatal(err)
	}
	if e.Deliver(r.ID, signed(t, r.ID, member, memberKey, "member, not owner")) {
		t.Error("Deliver accepted a non-owner's message in an announcement room")
	}
	if !e.Deliver(r.ID, signed(t, r.ID, self, p.key(), "owner")) {
		t.Error("Deliver refused an owner's message in an announcement room")
	}
	// A refused message is not remembered as seen: once its author may post, it is taken.
	late := signed(t, r.ID, outsider, outsiderKey, "late")
	if e.Deliver(r.ID, late) {
		t.Fatal("Deliver accepted a non-member's message")
	}
	joinedLate := announce.Clone()
	joinedLate.Members[outsider] = struct{}{}
	joinedLate.Owners[outsider] = struct{}{}
	joinedLate.Version++
	if err := e.Update(joinedLate); err != nil {
		t.Fatal(err)
	}
	if !e.Deliver(r.ID, late) {
		t.Error("Deliver refused the message of an author who became an owner")
	}
}

// TestUpdateOrder: which states Update takes over the one held.
func TestUpdateOrder(t *testing.T) {
	p := newPeers(t, 1)[0]
	self := p.h.ID()
	r, err := New("u", self, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Version = 5
	e := NewEngine(p.ps, self, Config{})
	defer e.Close()
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	_, stranger := testKey(t)
	with := func(f func(*Room)) Room {
		held, ok := e.Room(r.ID)
		if !ok {
			t.Fatal("room not joined")
		}
		f(&held)
		return held
	}
	for _, c := range []struct {
		name string
		next Room
		want error // nil: taken
	}{
		{"same version", with(func(n *Room) {}), nil},
		{"lower version", with(func(n *Room) { n.Version-- }), ErrStale},
		{"higher version", with(func(n *Room) { n.Version++; n.Members[stranger] = struct{}{} }), nil},
		{"the version before", with(func(n *Room) { n.Version--; delete(n.Members, stranger) }), ErrStale},
		{"same epoch, other key", with(func(n *Room) { n.Version += 10; n.Key[0] ^= 1 }), ErrStale},
		{"lower epoch", with(func(n *Room) { n.Version += 10; n.Epoch-- }), ErrStale},
		{"other creator", with(func(n *Room) {
			n.Version += 10
			n.Members[stranger] = struct{}{}
			n.Owners[stranger] = struct{}{}
			n.Creator = stranger
		}), ErrNotSameRoom},
		{"other nonce", with(func(n *Room) { n.Version += 10; n.Nonce[0] ^= 1 }), ErrNotSameRoom},
		{"higher epoch", with(func(n *Room) { n.Epoch++; n.Version++; n.Key[0] ^= 1 }), nil},
	} {
		before, _ := e.Room(r.ID)
		err := e.Update(c.next)
		after, _ := e.Room(r.ID)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v, want it taken", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		case c.want != nil && !equalState(after, before):
			t.Errorf("%s: refused, yet the held state changed", c.name)
		case c.want == nil && !equalState(after, c.next):
			t.Errorf("%s: taken, yet the held state is not it", c.name)
		}
	}
	// Rotate bumps both epoch and version, and the engine takes it.
	held, _ := e.Room(r.ID)
	next, err := e.Rotate(r.ID)
	if err != nil || next.Epoch != held.Epoch+1 || next.Version != held.Version+1 {
		t.Errorf("Rotate: epoch %d->%d, version %d->%d, %v", held.Epoch, next.Epoch, held.Version, next.Version, err)
	}
}

// TestSeedLamport: a seeded counter carries into the next message; seeding never lowers
// it, stops at MaxLamport, and does nothing for a room not joined.
func TestSeedLamport(t *testing.T) {
	p := newPeers(t, 1)[0]
	r := newTestRoom(t, p, false)
	e := NewEngine(p.ps, p.h.ID(), Config{Key: p.key()})
	defer e.Close()
	e.SeedLamport(r.ID, 99) // not joined yet: nothing to seed
	if err := e.Join(r); err != nil {
		t.Fatal(err)
	}
	publish := func() uint64 {
		t.Helper()
		m, err := e.Publish(context.Background(), r.ID, "x")
		if err != nil {
			t.Fatal(err)
		}
		return m.Lamport
	}
	if l := publish(); l != 1 {
		t.Errorf("first message of a fresh room: Lamport %d, want 1 (SeedLamport before Join must not count)", l)
	}
	e.SeedLamport(r.ID, 500)
	if l := publish(); l != 501 {
		t.Errorf("after SeedLamport(500): Lamport %d, want 501", l)
	}
	e.SeedLamport(r.ID, 3)
	if l := publish(); l != 502 {
		t.Errorf("after SeedLamport(3): Lamport %d, want 502", l)
	}
	e.SeedLamport(r.ID, ^uint64(0))
	if l := publish(); l != MaxLamport {
		t.Errorf("after SeedLamport(max uint64): Lamport %d, want MaxLamport", l)
	}
	e.SeedLamport(ID{7}, 10) // not joined: no-op, no panic
}

// TestDuplicatesByAuthorAndID: a message ID is its author's choice, so one member reusing
// another's ID (here first, by sync) does not make the real message a duplicate; the same
// author's message again is one.
func TestDuplicatesByAuthorAndID(t *testing.T) {
	peers := newPeers(t, 3)
	a, b, c := peers[0], peers[1], peers[2]
	r := newTestRoom(t, a, false, b, c)
	startJoined(t, r, b)
	real := signed(t, r.ID, a.h.ID(), a.key(), "the real message")
	taken := Message{ID: real.ID, Author: c.h.ID(), Clock: time.Now(), Lamport: 1, Text: "c took a's ID first"}
	if err := SignMessage(&taken, r.ID, c.key()); err != nil {
		t.Fatal(err)
	}
	if !b.eng.Deliver(r.ID, taken) {
		t.Fatal("Deliver refused c's message")
	}
	if !b.eng.Deliver(r.ID, real) {
		t.Error("the real message was dropped as a duplicate of c's, which took its ID first")
	}
	if b.eng.Deliver(r.ID, real) || b.eng.Deliver(r.ID, taken) {
		t.Error("the same author's message again was accepted")
	}
}
