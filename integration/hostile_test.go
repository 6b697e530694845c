package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testnode"
	"github.com/parley-im/parley/node"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/transfer"
)

// The victim's message rate in the hostile suite: a burst of 10 s' worth (50), then 5/s.
const (
	victimRate  = 5
	victimBurst = victimRate * 10
)

// ioLimit bounds every read and write of the attackers: a safety net, never a measure.
const ioLimit = 60 * time.Second

// attacker is a bare libp2p host in the test process, with its own key, connected to
// the victim. It speaks Parley's protocols with whatever bytes a test chooses.
type attacker struct {
	t      *testing.T
	h      host.Host
	victim peer.ID
}

// newAttacker connects a new attacker to the victim. With a name, it also looks like a
// Parley node (it answers the DM protocol, so the victim adds it to its peers) and
// announces that name on the profile protocol.
func newAttacker(t *testing.T, victimAddr, name string) *attacker {
	t.Helper()
	ai, err := peer.AddrInfoFromString(victimAddr)
	if err != nil {
		t.Fatal(err)
	}
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
	if name != "" {
		h.SetStreamHandler(dm.ProtocolID, func(s network.Stream) { s.Reset() })
		h.SetStreamHandler(node.ProfileProtocol, func(s network.Stream) {
			s.SetDeadline(time.Now().Add(ioLimit))
			s.Write(profileFrame(name))
			s.Close()
		})
	}
	a := &attacker{t: t, h: h, victim: ai.ID}
	ctx, cancel := context.WithTimeout(context.Background(), ioLimit)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatalf("attacker: connect to the victim: %v", err)
	}
	return a
}

// profileFrame is a /parley/profile/1.0.0 frame announcing name (node/profile.go).
func profileFrame(name string) []byte {
	body := protowire.AppendTag(nil, 1, protowire.BytesType)
	body = protowire.AppendString(body, name)
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// open opens a stream on proto with a deadline.
func (a *attacker) open(proto protocol.ID) (network.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioLimit)
	defer cancel()
	st, err := a.h.NewStream(ctx, a.victim, proto)
	if err != nil {
		return nil, err
	}
	st.SetDeadline(time.Now().Add(ioLimit))
	return st, nil
}

// sendRaw writes b on a new proto stream, closes its write side and reads until the
// victim ends the stream: nil if it closed cleanly, else the error (a reset).
func (a *attacker) sendRaw(proto protocol.ID, b []byte) error {
	st, err := a.open(proto)
	if err != nil {
		return err
	}
	defer st.Reset()
	if _, err := st.Write(b); err != nil {
		return err
	}
	st.CloseWrite()
	_, err = io.Copy(io.Discard, st)
	return err
}

// sendFrame writes one DM frame on a new stream and reads the ACK.
func (a *attacker) sendFrame(frame []byte) (dm.Ack, error) {
	st, err := a.open(dm.ProtocolID)
	if err != nil {
		return dm.Ack{}, err
	}
	defer st.Close()
	return writeReadAck(st, bufio.NewReader(st), frame)
}

func writeReadAck(st network.Stream, r *bufio.Reader, frame []byte) (dm.Ack, error) {
	if _, err := st.Write(frame); err != nil {
		st.Reset()
		return dm.Ack{}, err
	}
	typ, p, err := dm.ReadFrame(r)
	if err != nil {
		st.Reset()
		return dm.Ack{}, err
	}
	if typ != dm.TypeAck {
		return dm.Ack{}, fmt.Errorf("answer of type 0x%02x", byte(typ))
	}
	return dm.ParseAck(p)
}

// message is a valid DM from the attacker.
func message(id, text, fromName string) []byte {
	return dm.AppendMessage(nil, dm.Message{ID: id, SentAt: time.Now().UTC(), Text: text, FromName: fromName})
}

// offer sends an OFFER of one small file named name and returns the answer.
func (a *attacker) offer(name string) (transfer.Answer, error) {
	content := []byte("offered by a hostile peer: " + name)
	man := transfer.Manifest{ChunkSize: transfer.ChunkSize, Entries: []transfer.Entry{fileEntry(name, content)}}
	id := transfer.TransferID(a.h.ID(), a.victim, &man)
	st, err := a.open(transfer.ProtocolID)
	if err != nil {
		return transfer.Answer{}, err
	}
	defer st.Close()
	if _, err := st.Write(transfer.AppendOffer(nil, transfer.Offer{ID: id, Fresh: true, Manifest: man})); err != nil {
		st.Reset()
		return transfer.Answer{}, err
	}
	typ, p, err := transfer.ReadFrame(bufio.NewReader(st))
	if err != nil {
		st.Reset()
		return transfer.Answer{}, err
	}
	if typ != transfer.TypeAnswer {
		return transfer.Answer{}, fmt.Errorf("answer frame of type 0x%02x", byte(typ))
	}
	return transfer.ParseAnswer(p)
}

// hostileLab is the victim, an honest peer that talks to it, and how to check both.
type hostileLab struct {
	victim, honest    *testnode.Node
	vicAddr           string
	vicID, honestID   string
	pid               int
	started           time.Time
	exchanged, floods int
}

func newHostileLab(t *testing.T) *hostileLab { return newHostileLabWith(t, false) }

// newHostileLabWith is newHostileLab whose victim, if plain, is built without -race
// (testnode.Options.Plain): for tests whose figure is the victim's memory. args are
// more `up` flags for the victim.
func newHostileLabWith(t *testing.T, plain bool, args ...string) *hostileLab {
	victim := testnode.Start(t, testnode.Options{Name: "Vic", Plain: plain,
		Args: append(append(loopbackArgs(), "--message-rate", fmt.Sprint(victimRate)), args...)})
	l := &hostileLab{victim: victim, vicAddr: tcpAddr(t, victim.Status().Addrs), vicID: victim.Status().PeerID}
	l.honest = testnode.Start(t, testnode.Options{Name: "Hal", Args: append(loopbackArgs(), "--peer", l.vicAddr)})
	l.honestID = l.honest.Status().PeerID
	testnode.WaitFor(t, 30*time.Second, "Vic and Hal connected", func() bool {
		return isOnline(victim.Peers(), l.honestID) && isOnline(l.honest.Peers(), l.vicID)
	})
	victim.CLI("contacts", "add", "Hal") // a contact: its name is pinned to its key
	l.pid, l.started = victim.PID(), victim.StartedAt()
	return l
}

// assertHealthy: the victim's process is the one started, still running, and the two
// honest nodes exchange a message both ways (Vic addresses Hal by name, which must
// reach the pinned contact, whoever else calls itself Hal).
func (l *hostileLab) assertHealthy(t *testing.T, after string) {
	t.Helper()
	if err := alive(l.pid); err != nil || l.victim.PID() != l.pid || !l.victim.StartedAt().Equal(l.started) {
		t.Fatalf("after %s the victim's process is gone (%v)\nlog:\n%s", after, err, tail(l.victim.Log()))
	}
	l.exchanged++
	var res api.SendResult
	l.honest.JSON(&res, "send", l.vicID, fmt.Sprintf("honest %d after %s", l.exchanged, after))
	if res.Message.State != api.StateDelivered {
		t.Fatalf("after %s Hal's message to Vic is %s\nvictim log:\n%s", after, res.Message.State, tail(l.victim.Log()))
	}
	l.victim.JSON(&res, "send", "Hal", fmt.Sprintf("reply %d after %s", l.exchanged, after))
	if res.Message.State != api.StateDelivered || res.Message.To != l.honestID {
		t.Fatalf("after %s Vic's message to Hal: %+v", after, res.Message)
	}
}

// history is the victim's archive, newest last.
func (l *hostileLab) history(t *testing.T) []api.Message {
	return l.victim.History("--limit", "100000")
}

// TestHostilePeer runs one victim node (a real `parley up`, loopback, no mDNS) and an
// honest node beside it, and attacks the victim from libp2p hosts in the test process:
// oversized frames, garbage on every Parley protocol and before the handshake, a forged
// author, replays, traversal names in offers, and floods of streams, offers and
// messages. After each attack the victim's process is the same one, still running, and
// the honest nodes exchange a message both ways.
func TestHostilePeer(t *testing.T) {
	l := newHostileLab(t)
	l.assertHealthy(t, "start")
	a := newAttacker(t, l.vicAddr, "")

	t.Run("OversizedFrames", func(t *testing.T) {
		for _, c := range []struct {
			proto protocol.ID
			frame []byte
		}{
			{dm.ProtocolID, append(binary.AppendUvarint(nil, dm.MaxFrame+1), byte(dm.TypeMessage))},
			{dm.ProtocolID, append(binary.AppendUvarint(nil, 1<<62), byte(dm.TypeMessage))},
			{node.PresenceProtocol, binary.AppendUvarint(nil, 1<<20)},
			{transfer.ProtocolID, append(binary.AppendUvarint(nil, transfer.MaxOfferFrame+1), byte(transfer.TypeOffer))},
		} {
			frame := append(c.frame, make([]byte, 64<<10)...) // and bytes behind the claim
			if err := a.sendRaw(c.proto, frame); err == nil {
				t.Errorf("%s: an oversized frame was not refused (the stream closed cleanly)", c.proto)
			}
		}
		l.assertHealthy(t, "oversized frames")
	})

	t.Run("GarbageOnEveryProtocol", func(t *testing.T) {
		garbage := make([]byte, 8<<10)
		rand.Read(garbage)
		for _, proto := range []protocol.ID{dm.ProtocolID, node.ProfileProtocol, node.PresenceProtocol, node.PunchProtocol, transfer.ProtocolID} {
			err := a.sendRaw(proto, garbage)
			t.Logf("%s: garbage answered with %v", proto, err)
			if err == nil && proto != node.ProfileProtocol { // a profile pull answers whatever was written
				t.Errorf("%s: garbage was not refused", proto)
			}
		}
		assertRawGarbageRefused(t, l.vicAddr, garbage)
		l.assertHealthy(t, "garbage")
	})

	t.Run("ForgedAuthor", func(t *testing.T) {
		// Another key announces the name of Vic's contact Hal, and signs its message "Hal".
		fake := newAttacker(t, l.vicAddr, "Hal")
		fakeID := fake.h.ID().String()
		testnode.WaitFor(t, 30*time.Second, "Vic to flag the second Hal", func() bool {
			p, ok := l.victim.Peer(fakeID)
			return ok && strings.Contains(p.Warning, "impersonation")
		})
		if p, _ := l.victim.Peer(l.honestID); p.Warning != "" {
			t.Errorf("the real Hal is flagged: %q", p.Warning)
		}
		assertContactWarns(t, l.victim, l.honestID, fakeID)
		ack, err := fake.sendFrame(message("forged-"+idTag(fake.h.ID()), "it is me, Hal", "Hal"))
		if err != nil || ack.Status != dm.AckStored {
			t.Fatalf("the forged message: %+v, %v", ack, err)
		}
		forged := 0
		for _, m := range l.history(t) {
			if m.From == fakeID {
				forged++
				if m.FromName != "" {
					t.Errorf("the forged author name %q was kept", m.FromName)
				}
			}
		}
		if forged != 1 || !strings.Contains(l.victim.Log(), "possible impersonation") {
			t.Errorf("%d messages from the impostor, log mentions impersonation: %v", forged, strings.Contains(l.victim.Log(), "possible impersonation"))
		}
		l.assertHealthy(t, "a forged author") // Vic's `send Hal` reaches the real Hal
	})

	t.Run("Replay", func(t *testing.T) {
		id := "replay-" + idTag(a.h.ID())
		frame := message(id, "once only", "")
		want := []dm.AckStatus{dm.AckStored, dm.AckDuplicate, dm.AckDuplicate, dm.AckDuplicate}
		for i, w := range want {
			if ack, err := a.sendFrame(frame); err != nil || ack.Status != w {
				t.Fatalf("send %d of the same frame: %+v, %v; want status %d", i, ack, err, w)
			}
		}
		// Twice more on one stream.
		st, err := a.open(dm.ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(st)
		for range 2 {
			if ack, err := writeReadAck(st, r, frame); err != nil || ack.Status != dm.AckDuplicate {
				t.Fatalf("replay on one stream: %+v, %v", ack, err)
			}
		}
		st.Close()
		// The ID of a message Hal sent: taken by Hal, it stays Hal's. IDs are unique per
		// sender and conversation, so the attacker's message under that ID is its own,
		// stored beside Hal's (or refused, once the strangers' share is used up).
		var halMsg api.Message
		for _, m := range l.history(t) {
			if m.From == l.honestID {
				halMsg = m
			}
		}
		ack, err := a.sendFrame(message(halMsg.ID, "rewritten by the attacker", "Hal"))
		if err != nil || !(ack.Status == dm.AckStored || ack.Status == dm.AckRejected && ack.Reason == dm.ReasonStrangers) {
			t.Fatalf("a replay of Hal's message ID: %+v, %v; want stored as the attacker's own, or refused for the strangers' share", ack, err)
		}
		count := 0
		for _, m := range l.history(t) {
			switch {
			case m.ID == id:
				count++
			case m.ID == halMsg.ID && m.From == l.honestID:
				if m.Text != halMsg.Text {
					t.Errorf("Hal's message was rewritten by a replay: %+v", m)
				}
			case m.ID == halMsg.ID && m.From != a.h.ID().String():
				t.Errorf("a message under Hal's ID from neither Hal nor the attacker: %+v", m)
			}
		}
		if count != 1 {
			t.Errorf("the replayed message is in the archive %d times, want once", count)
		}
		l.assertHealthy(t, "replays")
	})

	t.Run("TraversalNamesInOffers", func(t *testing.T) {
		for _, name := range []string{"../../etc/passwd", "/etc/passwd", "a/../../b", `..\..\win.ini`} {
			ans, err := a.offer(name)
			if err != nil || ans.Status != transfer.StatusRejected || !strings.Contains(strings.ToLower(ans.Reason), "name") {
				t.Errorf("offer of %q: %+v, %v; want rejected for its name", name, ans, err)
			}
		}
		l.assertHealthy(t, "traversal names")
	})

	t.Run("StreamFlood", func(t *testing.T) { assertStreamFloodLimited(t, l, a) })
	t.Run("OfferFlood", func(t *testing.T) { assertOfferFloodLimited(t, l, a) })
	t.Run("MessageFlood", func(t *testing.T) { assertMessageFloodLimited(t, l) })
}

// assertRawGarbageRefused opens a plain TCP connection to the victim's libp2p port and
// writes garbage instead of a handshake: the victim must hang up.
func assertRawGarbageRefused(t *testing.T, vicAddr string, garbage []byte) {
	t.Helper()
	ai, _ := peer.AddrInfoFromString(vicAddr)
	na, err := manet.ToNetAddr(ai.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", na.String(), ioLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioLimit))
	c.Write(garbage)
	if _, err := io.Copy(io.Discard, c); err != nil && errors.Is(err, syscall.ETIMEDOUT) {
		t.Errorf("the victim kept a connection that sent garbage for a handshake: %v", err)
	}
}

// assertContactWarns: the contact honestID carries a warning that names fakeID.
func assertContactWarns(t *testing.T, victim *testnode.Node, honestID, fakeID string) {
	t.Helper()
	var cl api.ContactList
	if err := json.Unmarshal([]byte(victim.CLI("contacts", "ls", "--json")), &cl); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.Contacts {
		if c.PeerID == honestID && strings.Contains(c.Warning, fakeID) {
			return
		}
	}
	t.Errorf("the contact Hal carries no warning about %s: %+v", fakeID, cl.Contacts)
}

// assertStreamFloodLimited opens 64 DM streams at once and leaves each with half a
// frame. The resource manager lets 16 of one peer's DM streams in; the rest are reset.
// Completing the frames then gets an ACK on the admitted streams only. Meanwhile the
// honest nodes are unaffected.
func assertStreamFloodLimited(t *testing.T, l *hostileLab, a *attacker) {
	const opened, admittedMax = 64, 16
	frame := message("stream-flood-"+idTag(a.h.ID()), "one of many streams", "")
	var streams []network.Stream
	defer func() {
		for _, st := range streams {
			st.Reset()
		}
	}()
	refusedAtOpen := 0
	for range opened {
		st, err := a.open(dm.ProtocolID)
		if err == nil {
			_, err = st.Write(frame[:1])
		}
		if err != nil {
			refusedAtOpen++
			continue
		}
		streams = append(streams, st)
	}
	l.assertHealthy(t, "64 DM streams held open")
	acked, refused := 0, refusedAtOpen
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, st := range streams {
		wg.Go(func() {
			_, err := writeReadAck(st, bufio.NewReader(st), frame[1:])
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked++
			} else {
				refused++
			}
		})
	}
	wg.Wait()
	t.Logf("stream flood: %d admitted and answered, %d refused", acked, refused)
	if acked == 0 || acked > admittedMax || refused < opened-admittedMax {
		t.Errorf("%d of %d streams admitted, %d refused; want 1..%d admitted", acked, opened, refused, admittedMax)
	}
}

// assertOfferFloodLimited sends 120 offers of distinct files as fast as answers come:
// past the burst, offers are answered "too many offers"; the honest nodes carry on.
func assertOfferFloodLimited(t *testing.T, l *hostileLab, a *attacker) {
	const offers = 120
	start := time.Now()
	taken, limited := 0, 0
	for i := range offers {
		ans, err := a.offer(fmt.Sprintf("flood-%03d.txt", i))
		switch {
		case err != nil:
			t.Fatalf("offer %d: %v (the victim must answer, not hang up, below its abuse threshold)", i, err)
		case strings.Contains(ans.Reason, "too many offers"):
			limited++
		default:
			taken++
		}
	}
	elapsed := time.Since(start)
	t.Logf("offer flood: %d answered on their merits, %d refused by the rate limit, in %v", taken, limited, elapsed)
	// A token bucket holds at most its burst plus what refilled meanwhile (40 + 0.5/s);
	// the traversal offers before this came from the same bucket.
	if limited == 0 || float64(taken) > 40+0.5*elapsed.Seconds()+1 {
		t.Errorf("offer flood: %d offers taken, %d limited in %v: the limit did not hold", taken, limited, elapsed)
	}
	l.assertHealthy(t, "an offer flood")
}

// assertMessageFloodLimited: a fresh attacker sends 400 messages, each on its own
// stream, while the honest nodes exchange theirs. The victim stores at most what its
// bucket allows (50 + 5/s), refuses the rest, and disconnects the flooder once it keeps
// on; every honest message is delivered, during the flood and after it.
func assertMessageFloodLimited(t *testing.T, l *hostileLab) {
	const sent = 400
	f := newAttacker(t, l.vicAddr, "")
	prefix := "flood-" + idTag(f.h.ID())
	type tally struct{ stored, rejected, failed int }
	var got tally
	var elapsed time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for i := range sent {
			ack, err := f.sendFrame(message(fmt.Sprintf("%s-%d", prefix, i), "flood", ""))
			switch {
			case err != nil:
				got.failed++
			case ack.Status == dm.AckRejected:
				got.rejected++
			default:
				got.stored++
			}
		}
		elapsed = time.Since(start)
	}()
	for !isDone(done) {
		l.assertHealthy(t, "messages during a flood")
	}
	<-done
	t.Logf("message flood: %d stored, %d rejected, %d failed (disconnected) of %d in %v", got.stored, got.rejected, got.failed, sent, elapsed)
	if bound := float64(victimBurst) + victimRate*elapsed.Seconds() + 1; float64(got.stored) > bound {
		t.Errorf("%d flood messages stored in %v, more than the bucket allows (%.0f)", got.stored, elapsed, bound)
	}
	if got.rejected == 0 || got.failed == 0 {
		t.Errorf("the flooder was not refused (%d) and disconnected (%d failures)", got.rejected, got.failed)
	}
	archived := 0
	for _, m := range l.history(t) {
		if strings.HasPrefix(m.ID, prefix) {
			archived++
		}
	}
	if archived != got.stored {
		t.Errorf("%d flood messages archived, %d were ACKed stored", archived, got.stored)
	}
	log := l.victim.Log()
	if !strings.Contains(log, "over its direct-message rate limit") || !strings.Contains(log, "closing=true") {
		t.Errorf("the victim's log does not record the limit and the disconnection:\n%s", tail(log))
	}
	l.assertHealthy(t, "a message flood")
}

// idTag is a short tag unique to a peer ID (its last bytes; the first are the same
// multihash prefix for every Ed25519 key).
func idTag(id peer.ID) string { return hex.EncodeToString([]byte(id)[len(id)-4:]) }

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
