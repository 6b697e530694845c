package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/room"
)

// roomSpy is a libp2p host of the test's own, with gossipsub: it subscribes to a room's
// topic without the key, then — invited for real — publishes hostile messages.
type roomSpy struct {
	t      *testing.T
	h      host.Host
	ps     *pubsub.PubSub
	invite chan room.Invite
}

func newRoomSpy(t *testing.T, connectTo string) *roomSpy {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); h.Close() })
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	s := &roomSpy{t: t, h: h, ps: ps, invite: make(chan room.Invite, 4)}
	h.SetStreamHandler(room.InviteProtocol, s.serveInvite)
	ai, err := peer.AddrInfoFromString(connectTo)
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if err := h.Connect(cctx, *ai); err != nil {
		t.Fatalf("spy: connect: %v", err)
	}
	return s
}

// serveInvite takes a room's state like a member would.
func (s *roomSpy) serveInvite(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	p, err := room.ReadFrame(bufio.NewReader(st), room.MaxInvite)
	if err != nil {
		st.Reset()
		return
	}
	inv, err := room.ParseInvite(p)
	if err != nil {
		st.Reset()
		return
	}
	st.Write([]byte{room.InviteOK})
	select {
	case s.invite <- inv:
	default:
	}
}

// publish seals m under r (signing it with the spy's key unless it has a Sig) and
// publishes the envelope, or publishes raw when it is not nil.
func (s *roomSpy) publish(topic *pubsub.Topic, r room.Room, m room.Message, raw []byte) {
	s.t.Helper()
	env := raw
	if env == nil {
		if m.Sig == nil {
			if err := room.SignMessage(&m, r.ID, s.h.Peerstore().PrivKey(s.h.ID())); err != nil {
				s.t.Fatal(err)
			}
		}
		var err error
		if env, err = r.Seal(m); err != nil {
			s.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := topic.Publish(ctx, env); err != nil {
		s.t.Fatalf("spy publish: %v", err)
	}
}

func spyMessage(author peer.ID, lamport uint64, text string) room.Message {
	m := room.Message{Author: author, Clock: time.Now(), Lamport: lamport, Text: text}
	rand.Read(m.ID[:])
	return m
}

// TestRoomHostileSubscriberAndForgeries: a peer on the room's topic without the key
// sees only ciphertext; once it is a member, its forged (another author inside, or a
// signature that does not match), oversized and garbage messages are dropped by every
// member, while its honest message arrives; the members keep talking.
func TestRoomHostileSubscriberAndForgeries(t *testing.T) {
	nodes, ids := loopbackRoom(t, "lab", 2)
	owner, member := nodes[0], nodes[1]
	created := roomCLI[api.RoomList](t, owner, "ls").Rooms[0]
	rid, err := room.ParseID(created.ID)
	if err != nil {
		t.Fatal(err)
	}
	spy := newRoomSpy(t, owner.Status().Addrs[0])
	topic, err := spy.ps.Join(rid.Topic())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()

	// 1. Without the key: the spy's copy of the topic holds ciphertext only.
	const secret = "the quarterly numbers are in"
	testnode.WaitFor(t, 30*time.Second, "the owner to see the spy on the topic", func() bool {
		return slices.Contains(spy.ps.ListPeers(rid.Topic()), peer.ID(mustDecode(t, ids[0])))
	})
	owner.CLI("send", "#lab", secret)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	msg, err := sub.Next(ctx)
	cancel()
	if err != nil {
		t.Fatalf("the spy got nothing on the topic: %v", err)
	}
	if bytes.Contains(msg.Data, []byte(secret)) || bytes.Contains(msg.Data, []byte("quarterly")) {
		t.Fatal("the topic carries the text in the clear")
	}
	var guess room.Room = room.Room{ID: rid, Epoch: 1}
	rand.Read(guess.Key[:])
	if _, err := guess.Open(msg.Data); err == nil {
		t.Fatal("a message opened with a key that is not the room's")
	}

	// 2. Invited for real, the spy holds the key and tries its forgeries.
	roomCLI[api.Room](t, owner, "invite", "lab", spy.h.ID().String())
	var inv room.Invite
	select {
	case inv = <-spy.invite:
	case <-time.After(30 * time.Second):
		t.Fatal("the spy's invitation never came")
	}
	r := inv.State
	if _, err := r.Open(msg.Data); err != nil {
		t.Fatalf("with the room's key the spy cannot open the message it saw: %v", err)
	}
	waitRoomMembers(t, member, "lab", 3, "member")
	ownerID := mustDecode(t, ids[0])
	forged := spyMessage(ownerID, 100, "forged: the owner did not write this")
	if forged.Sig, err = spy.h.Peerstore().PrivKey(spy.h.ID()).Sign(forged.SigningBytes(r.ID)); err != nil {
		t.Fatal(err)
	}
	spy.publish(topic, r, forged, nil)
	badSig := spyMessage(spy.h.ID(), 101, "signature of another message")
	badSig.Sig = bytes.Repeat([]byte{7}, 64)
	spy.publish(topic, r, badSig, nil)
	spy.publish(topic, r, room.Message{}, bytes.Repeat([]byte{1}, room.MaxEnvelope+1))
	spy.publish(topic, r, room.Message{}, []byte("garbage, not an envelope"))
	spy.publish(topic, r, spyMessage(spy.h.ID(), 102, "an honest line from the spy"), nil)

	for _, n := range []*testnode.Node{owner, member} {
		got := waitRoomTexts(t, n, "lab", []string{secret, "an honest line from the spy"})
		for _, text := range got {
			if text != secret && text != "an honest line from the spy" {
				t.Errorf("a member accepted %q", text)
			}
		}
	}
	member.CLI("send", "#lab", "still talking")
	waitRoomTexts(t, owner, "lab", []string{"still talking"})
}

func mustDecode(t *testing.T, id string) peer.ID {
	t.Helper()
	p, err := peer.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoomProtocolsUnderAttack: a stranger's host sends garbage and oversized frames on
// the invite and sync protocols, asks for a room's history without being a member,
// and floods invitations; the node stays up, keeps at most 20 of its invitations
// waiting, refuses the rest once over its rate, and the members still talk.
func TestRoomProtocolsUnderAttack(t *testing.T) {
	nodes, _ := loopbackRoom(t, "den", 2)
	target, member := nodes[0], nodes[1]
	pid := target.PID()
	rid, err := room.ParseID(roomCLI[api.RoomList](t, target, "ls").Rooms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	spy := newRoomSpy(t, target.Status().Addrs[0])
	to := mustDecode(t, target.Status().PeerID)

	for _, proto := range []protocol.ID{room.InviteProtocol, room.SyncProtocol} {
		for _, junk := range [][]byte{[]byte("garbage after the handshake"), {0xff, 0xff, 0xff, 0xff, 0x0f}} {
			spy.rawExchange(t, to, proto, junk)
		}
	}
	// A non-member asks for the room's history: the stream is reset, no page comes.
	req := room.AppendSyncRequest(nil, room.SyncRequest{Room: rid, Limit: room.MaxSyncPage})
	if reply := spy.rawExchange(t, to, room.SyncProtocol, frame(req)); len(reply) != 0 {
		t.Fatalf("a non-member got %d bytes of a room's history", len(reply))
	}
	// Hijacks: the real room's ID with the spy as creator (the ID no longer derives from
	// it), and the real creator with a nonce of the spy's (nor does that derive).
	held := roomCLI[api.RoomList](t, target, "ls").Rooms[0]
	fake, err := room.New("den", spy.h.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	fake.Members[to] = struct{}{}
	fake.ID = rid
	if reply := spy.rawExchange(t, to, room.InviteProtocol, frame(room.AppendInvite(nil, room.Invite{Kind: room.KindUpdate, State: fake}))); len(reply) == 1 && reply[0] == room.InviteOK {
		t.Error("a state for a known room ID from another creator was accepted")
	}
	fake.Creator, fake.Epoch, fake.Version = to, 9, 9
	fake.Owners[to] = struct{}{}
	if reply := spy.rawExchange(t, to, room.InviteProtocol, frame(room.AppendInvite(nil, room.Invite{Kind: room.KindUpdate, State: fake}))); len(reply) == 1 && reply[0] == room.InviteOK {
		t.Error("a state sent by someone other than the room's creator was accepted")
	}
	if now := roomCLI[api.RoomList](t, target, "ls").Rooms[0]; now.Epoch != held.Epoch || len(now.Members) != len(held.Members) {
		t.Fatalf("the room changed under a hijack: epoch %d -> %d, %d -> %d members", held.Epoch, now.Epoch, len(held.Members), len(now.Members))
	}
	// An invitation flood: each a fresh room naming the spy as owner and the target as member.
	accepted, refused := 0, 0
	start := time.Now()
	for i := range 100 {
		r, err := room.New(fmt.Sprintf("spam %d", i), spy.h.ID(), false)
		if err != nil {
			t.Fatal(err)
		}
		r.Members[to] = struct{}{}
		switch reply := spy.rawExchange(t, to, room.InviteProtocol, frame(room.AppendInvite(nil, room.Invite{Kind: room.KindInvite, State: r}))); {
		case len(reply) == 1 && reply[0] == room.InviteOK:
			accepted++
		default:
			refused++
		}
	}
	elapsed := time.Since(start)
	waiting := len(roomCLI[api.RoomList](t, target, "ls").Invites)
	t.Logf("invitation flood: %d accepted, %d refused in %v; %d waiting", accepted, refused, elapsed, waiting)
	if waiting > 20 {
		t.Errorf("%d invitations from one stranger wait for `room join`; at most 20 should", waiting)
	}
	if maxOK := 30 + int(elapsed.Seconds()) + 1; accepted > maxOK {
		t.Errorf("%d invitations answered OK; the rate limit allows at most %d", accepted, maxOK)
	}
	if target.PID() != pid {
		t.Fatal("the node restarted")
	}
	member.CLI("send", "#den", "still here")
	waitRoomTexts(t, target, "den", []string{"still here"})
}

// rawExchange opens a stream of proto to p, writes payload, half-closes, and returns
// what comes back before the stream ends (nothing when it is reset).
func (s *roomSpy) rawExchange(t *testing.T, p peer.ID, proto protocol.ID, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.h.NewStream(ctx, p, proto)
	if err != nil {
		return nil // refused before a stream: also a refusal
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write(payload)
	st.CloseWrite()
	reply, _ := io.ReadAll(st)
	return reply
}

// frame is payload with its uvarint length in front, as both room protocols send it.
func frame(payload []byte) []byte {
	var b bytes.Buffer
	if err := room.WriteFrame(&b, payload); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// epochClaim is an envelope claiming epoch that no key opens: the epoch is cleartext.
func epochClaim(epoch uint64) []byte {
	env := room.Envelope{Epoch: epoch, Ciphertext: bytes.Repeat([]byte("no key opens this"), 4)}
	rand.Read(env.Nonce[:])
	return room.AppendEnvelope(nil, env)
}

// TestRoomEpochClaimsCannotSilence: a member, and then the same peer once removed,
// publishes envelopes claiming epoch 2^62, the held epoch + 2^40 and the next epoch; every
// member, the creator included, still posts and receives (a member held back by the
// next-epoch claim asks the creator and posts again once it answers).
func TestRoomEpochClaimsCannotSilence(t *testing.T) {
	nodes, _ := loopbackRoom(t, "lab", 3)
	owner := nodes[0]
	rid, err := room.ParseID(roomCLI[api.RoomList](t, owner, "ls").Rooms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	spy := newRoomSpy(t, owner.Status().Addrs[0])
	topic, err := spy.ps.Join(rid.Topic())
	if err != nil {
		t.Fatal(err)
	}
	roomCLI[api.Room](t, owner, "invite", "lab", spy.h.ID().String())
	var r room.Room
	select {
	case inv := <-spy.invite:
		r = inv.State
	case <-time.After(30 * time.Second):
		t.Fatal("the spy's invitation never came")
	}
	for i, n := range nodes {
		waitRoomMembers(t, n, "lab", 4, fmt.Sprintf("n%d", i))
	}
	testnode.WaitFor(t, 30*time.Second, "the spy on the topic", func() bool { return len(spy.ps.ListPeers(rid.Topic())) > 0 })

	claim := func(who string) {
		for _, e := range []uint64{1 << 62, r.Epoch + 1<<40, r.Epoch + 1, 1<<64 - 1} {
			spy.publish(topic, r, room.Message{}, epochClaim(e))
		}
		spy.publish(topic, r, spyMessage(spy.h.ID(), 1, "claims sent by the "+who), nil)
	}
	everyonePosts := func(round string) {
		t.Helper()
		var texts []string
		for i, n := range nodes {
			text := fmt.Sprintf("n%d posts %s", i, round)
			testnode.WaitFor(t, 30*time.Second, text, func() bool {
				_, err := n.TryCLI("send", "#lab", text)
				return err == nil
			})
			texts = append(texts, text)
		}
		for _, n := range nodes {
			waitRoomTexts(t, n, "lab", texts)
		}
	}

	claim("member")
	waitRoomTexts(t, nodes[1], "lab", []string{"claims sent by the member"})
	everyonePosts("after a member's claims")

	roomCLI[api.Room](t, owner, "remove", "lab", spy.h.ID().String())
	for i, n := range nodes {
		waitRoomMembers(t, n, "lab", 3, fmt.Sprintf("n%d", i))
	}
	claim("removed member")
	everyonePosts("after a removed member's claims")
}
