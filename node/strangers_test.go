package node

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/node/dm"
)

// sendRawDM writes one MESSAGE from h to target on a new stream and reads the ACK.
func sendRawDM(ctx context.Context, h host.Host, target peer.ID, id, text string) (dm.Ack, error) {
	st, err := h.NewStream(ctx, target, dm.ProtocolID)
	if err != nil {
		return dm.Ack{}, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(dm.AppendMessage(nil, dm.Message{ID: id, SentAt: time.Now(), Text: text})); err != nil {
		st.Reset()
		return dm.Ack{}, err
	}
	typ, p, err := dm.ReadFrame(bufio.NewReader(st))
	if err != nil || typ != dm.TypeAck {
		st.Reset()
		return dm.Ack{}, fmt.Errorf("answer of type %d: %v", typ, err)
	}
	return dm.ParseAck(p)
}

// TestStrangersShareOneBudget: three fresh identities send 70 messages each (210, under
// each one's own rate limit) to a node that has a contact and a peer it wrote to. The
// strangers get 200 stored between them and refusals that name the strangers' share;
// the contact and the written-to peer are not touched by it.
func TestStrangersShareOneBudget(t *testing.T) {
	const budget, strangers, each = strangerMessages, 3, 70
	a := startNode(t, "Ann")
	bob := startNode(t, "Bob", fullAddr(a))
	cat := startNode(t, "Cat", fullAddr(a))
	waitUntil(t, "Bob and Cat named at Ann", func() bool { return hasOnline(a.Peers(), "Bob") && hasOnline(a.Peers(), "Cat") })
	ctx := context.Background()
	if _, err := a.AddContact(ctx, api.ContactRequest{Peer: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Send(ctx, "Cat", "hello Cat"); err != nil || res.Message.State != api.StateDelivered {
		t.Fatalf("Ann to Cat: %+v, %v", res, err)
	}
	var mu sync.Mutex
	stored, refused, other := 0, 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	for s := range strangers {
		h := newRawHost(t, a)
		wg.Go(func() {
			for i := range each {
				ack, err := sendRawDM(ctx, h, a.ID(), fmt.Sprintf("stranger-%d-%d", s, i), strings.Repeat("x", 100))
				mu.Lock()
				switch {
				case err == nil && ack.Status == dm.AckStored:
					stored++
				case err == nil && ack.Status == dm.AckRejected && ack.Reason == dm.ReasonStrangers:
					refused++
				default:
					other++
					t.Errorf("stranger %d message %d: %+v, %v", s, i, ack, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d strangers sent %d messages: %d stored, %d refused for the strangers' share, %d otherwise", strangers, strangers*each, stored, refused, other)
	// The share refills evenly over an hour (one message every 18 s): a slow run earns more.
	allowed := budget + refilled(start, budget)
	if stored > allowed || refused < strangers*each-allowed-1 {
		t.Errorf("%d stored and %d refused; want at most %d stored between all strangers", stored, refused, budget)
	}
	for _, who := range []*Node{bob, cat} {
		for i := range 3 {
			res, err := who.Send(ctx, "Ann", fmt.Sprint("still heard ", i))
			if err != nil || res.Message.State != api.StateDelivered {
				t.Fatalf("%s to Ann once the strangers' share is used up: %+v, %v", who.cfg.Identity.Name, res, err)
			}
		}
	}
}

// TestConnManagerProtectsOnlyKnownPeers: contacts and peers the user wrote to are
// protected from connection trimming, across a restart too; a stranger that sends a
// message is not. Removing a contact (not written to) or blocking a peer unprotects it.
func TestConnManagerProtectsOnlyKnownPeers(t *testing.T) {
	a := newRestartable(t, "Ann", Config{})
	bob := startNode(t, "Bob", fullAddr(a.Node))
	cat := startNode(t, "Cat", fullAddr(a.Node))
	waitUntil(t, "Bob and Cat named at Ann", func() bool { return hasOnline(a.Peers(), "Bob") && hasOnline(a.Peers(), "Cat") })
	ctx := context.Background()
	if _, err := a.AddContact(ctx, api.ContactRequest{Peer: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "Cat", "hello Cat"); err != nil {
		t.Fatal(err)
	}
	stranger := newRawHost(t, a.Node)
	if ack, err := sendRawDM(ctx, stranger, a.ID(), "from-a-stranger", "hi"); err != nil || ack.Status != dm.AckStored {
		t.Fatalf("a stranger's message: %+v, %v", ack, err)
	}
	if _, err := bob.Send(ctx, "Ann", "hi Ann"); err != nil { // a contact writing does not change it either
		t.Fatal(err)
	}
	want := func(when string, protected map[string]bool) {
		t.Helper()
		ids := map[string]peer.ID{"the contact Bob": bob.ID(), "Cat, written to": cat.ID(), "the stranger": stranger.ID()}
		for who, p := range protected {
			if got := a.connMgr.IsProtected(ids[who], protectTag); got != p {
				t.Errorf("%s: %s protected = %v, want %v", when, who, got, p)
			}
		}
	}
	want("at first", map[string]bool{"the contact Bob": true, "Cat, written to": true, "the stranger": false})
	a.Close()
	a.start()
	want("after a restart", map[string]bool{"the contact Bob": true, "Cat, written to": true, "the stranger": false})
	if err := a.RemoveContact(ctx, bob.ID().String()); err != nil {
		t.Fatal(err)
	}
	want("after removing Bob", map[string]bool{"the contact Bob": false})
	if _, err := a.SetBlocked(ctx, cat.ID().String(), true); err != nil {
		t.Fatal(err)
	}
	want("after blocking Cat", map[string]bool{"Cat, written to": false})
	if _, err := a.SetBlocked(ctx, cat.ID().String(), false); err != nil {
		t.Fatal(err)
	}
	want("after unblocking Cat", map[string]bool{"Cat, written to": true})
}

// TestStrangersShareBytes: the share's byte side binds too: strangers sending the
// largest messages get about 1 MiB stored between them, while message tokens remain.
func TestStrangersShareBytes(t *testing.T) {
	const strangers, each = 3, 15
	a := startNode(t, "Ann")
	ctx := context.Background()
	text := strings.Repeat("y", dm.MaxText)
	stored, storedBytes, refused := 0, 0, 0
	for s := range strangers {
		h := newRawHost(t, a)
		for i := range each {
			id := fmt.Sprintf("big-%d-%d", s, i)
			ack, err := sendRawDM(ctx, h, a.ID(), id, text)
			switch {
			case err == nil && ack.Status == dm.AckStored:
				stored++
				storedBytes += len(id) + len(text)
			case err == nil && ack.Status == dm.AckRejected && ack.Reason == dm.ReasonStrangers:
				refused++
			default:
				t.Fatalf("stranger %d message %d: %+v, %v", s, i, ack, err)
			}
		}
	}
	t.Logf("%d strangers sent %d messages of %d KiB: %d stored (%d KiB), %d refused", strangers, strangers*each, dm.MaxText>>10, stored, storedBytes>>10, refused)
	if storedBytes > strangerBytes+dm.MaxText || stored >= strangerMessages || refused == 0 {
		t.Errorf("%d messages, %d bytes stored, %d refused; want at most %d bytes", stored, storedBytes, refused, strangerBytes)
	}
}

// TestStrangerDuplicateGivesShareBack: a stranger resending a stored message (its ACK
// was lost, say) is answered "duplicate" and costs the share nothing more.
func TestStrangerDuplicateGivesShareBack(t *testing.T) {
	a := startNode(t, "Ann")
	start := time.Now()
	h := newRawHost(t, a)
	ctx := context.Background()
	for i := range 5 {
		ack, err := sendRawDM(ctx, h, a.ID(), "same-id", "again")
		want := dm.AckDuplicate
		if i == 0 {
			want = dm.AckStored
		}
		if err != nil || ack.Status != want {
			t.Fatalf("send %d: %+v, %v; want status %d", i, ack, err, want)
		}
	}
	if ev, _ := a.limits.strangers.Remaining(); ev < strangerMessages-1 || ev > strangerMessages-1+refilled(start, strangerMessages) {
		t.Errorf("the share holds %d messages after one stored and four duplicates, want %d", ev, strangerMessages-1)
	}
}

// refilled is how many messages a share of perHour earns back from start until now (a
// slow, loaded run earns some while it floods).
func refilled(start time.Time, perHour int) int {
	return int(time.Since(start).Hours() * float64(perHour))
}
