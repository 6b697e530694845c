package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
	"github.com/parley-im/parley/transfer"
)

// TestMessengerLimits: the resource manager's limits for one peer are the ones Parley
// sets, not libp2p's defaults, and a machine-wide limit still holds many peers.
func TestMessengerLimits(t *testing.T) {
	limits := messengerLimits().ToPartialLimitConfig()
	for proto, want := range protocolPeerLimits {
		got := limits.ProtocolPeer[proto]
		if int(got.StreamsInbound) != want.StreamsInbound || int64(got.Memory) != want.Memory {
			t.Errorf("%s per peer: %d inbound streams, %d bytes; want %d, %d",
				proto, got.StreamsInbound, got.Memory, want.StreamsInbound, want.Memory)
		}
	}
	if got := int(limits.PeerDefault.StreamsInbound); got != peerStreamsInbound {
		t.Errorf("inbound streams per peer: %d, want %d", got, peerStreamsInbound)
	}
	dmLimit := protocolPeerLimits[dm.ProtocolID].GetStreamLimit(network.DirInbound)
	if sys := int(limits.System.StreamsInbound); sys < 16*dmLimit {
		t.Errorf("system inbound streams %d hold fewer than 16 peers at their DM limit", sys)
	}
	if protocolPeerLimits[transfer.ProtocolID].StreamsInbound < 2*transfer.DefaultStreams {
		t.Errorf("a peer cannot pull a transfer's %d streams twice over", transfer.DefaultStreams)
	}
	rm, err := newResourceManager()
	if err != nil {
		t.Fatal(err)
	}
	rm.Close()
}

func TestNewPeerLimits(t *testing.T) {
	if l := newPeerLimits(-1); l.messages != nil || l.dmOptions() != nil || l.strangers != nil || l.offers == nil {
		t.Fatalf("a negative rate must turn off the message limits (per peer and the strangers' share) only: %+v", l)
	}
	l := newPeerLimits(0)
	if l.strangers == nil {
		t.Fatal("the default limits have no strangers' share")
	}
	p := peer.ID("a peer")
	allowed := 0
	for range 10 * DefaultMessageRate * messageBurstSeconds {
		if l.messages.Allow(p).Allowed {
			allowed++
		}
	}
	if allowed < DefaultMessageRate*messageBurstSeconds || allowed > DefaultMessageRate*messageBurstSeconds+DefaultMessageRate {
		t.Fatalf("default limit let %d of a burst through, want about %d", allowed, DefaultMessageRate*messageBurstSeconds)
	}
	if len(l.dmOptions()) != 1 {
		t.Fatal("the dm service gets no limiter")
	}
}

// Clients (`parley send -`) cap text at api.MaxText without importing the wire packages:
// it must stay what the wire formats allow.
func TestMaxTextAgreesWithTheWire(t *testing.T) {
	for name, max := range map[string]int{"dm.MaxText": dm.MaxText, "room.MaxText": room.MaxText} {
		if max != api.MaxText {
			t.Errorf("%s is %d, api.MaxText %d: keep them equal", name, max, api.MaxText)
		}
	}
}

// TestLargeFrameBudgets: a stranger's large frames and a contact's take places in
// different budgets, so strangers filling theirs never refuse a contact's offer; and
// the resource manager leaves room for what the budgets admit.
func TestLargeFrameBudgets(t *testing.T) {
	n := &Node{limits: newPeerLimits(0)}
	friend, stranger := peer.ID("friend"), peer.ID("stranger")
	n.contacts.load(nil)
	n.contacts.put(friend, archive.Contact{Contact: true})
	if n.frameBudget(friend) != n.limits.contactFrames || n.frameBudget(stranger) != n.limits.strangerFrames {
		t.Fatal("contacts and strangers share a budget of large frames")
	}
	big := append(binary.AppendUvarint(nil, 1<<20), make([]byte, 1<<20)...)
	var held []*wire.Reader
	for i := range 100 {
		p := peer.ID(fmt.Sprint("stranger ", i))
		r := wire.NewReader(bytes.NewReader(big), wire.Config{Budget: n.frameBudget(p), Peer: string(p)})
		if _, err := r.Read(1 << 20); err != nil {
			break
		}
		held = append(held, r)
	}
	if got := len(held); got != strangerFrameBytes>>20 {
		t.Errorf("strangers hold %d MiB frames at once; want %d", got, strangerFrameBytes>>20)
	}
	r := wire.NewReader(bytes.NewReader(big), wire.Config{Budget: n.frameBudget(friend), Peer: string(friend)})
	if _, err := r.Read(1 << 20); err != nil {
		t.Errorf("a contact's large frame while strangers fill theirs: %v", err)
	}

	limits := messengerLimits().ToPartialLimitConfig()
	if stream := int64(limits.Stream.Memory); stream < transfer.MaxOfferFrame {
		t.Errorf("a stream may reserve %d bytes: less than a maximal offer", stream)
	}
	if file := int64(limits.Protocol[transfer.ProtocolID].Memory); file < strangerFrameBytes+contactFrameBytes {
		t.Errorf("the file protocol may reserve %d bytes: less than the budgets of large frames", file)
	}
	if peerFile := protocolPeerLimits[transfer.ProtocolID].Memory; peerFile < contactLargeReads*transfer.MaxOfferFrame {
		t.Errorf("one peer's file streams may reserve %d bytes: less than a contact's large frames", peerFile)
	}
	if invite := protocolPeerLimits[room.InviteProtocol].Memory; invite < room.MaxInvite {
		t.Errorf("one peer's invitations may reserve %d bytes: less than one invitation", invite)
	}
	if sync := protocolPeerLimits[room.SyncProtocol].Memory; sync < room.MaxSyncPageBytes {
		t.Errorf("one peer's sync streams may reserve %d bytes: less than one page", sync)
	}
}
