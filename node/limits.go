package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/node/dm"
	"github.com/parley-im/parley/room"
)

// DefaultMessageRate is how many direct messages (and read receipts) per second one
// peer may send us, in bursts of messageBurstSeconds' worth. People type far slower; a
// script that goes over is slowed (its messages are refused and stay queued on its side),
// and one that keeps flooding is disconnected.
const DefaultMessageRate = 10

// messageBurstSeconds sizes a peer's message bucket: this many seconds at its rate.
const messageBurstSeconds = 10

// File offers: a send-file is one offer (a resumed one, one more), so a peer gets a
// burst of offerBurst and then one every two seconds.
const (
	offerRate  = 0.5
	offerBurst = 40
)

// Room invitations and updates: an owner sends one per change to a room and one per
// room when we connect; room sync sessions: one per shared room when we connect, one a
// minute per room after that.
const (
	inviteRate  = 1
	inviteBurst = 30
	syncRate    = 1
	syncBurst   = 30
	// askRate: how often we ask a room's creator for its state when members' posts claim
	// a newer epoch (one ask per room per 5 s, bursts of 2).
	askRate  = 0.2
	askBurst = 2
)

// Large frames (over wire.SmallFrame: file offers, room sync pages) being read at once.
// A frame is paid for as its bytes arrive, so these bound what slow or lying peers can
// make the node hold: a stranger has strangerLargeReads places, and all strangers
// together strangerFrameBytes; contacts have their own budget, so strangers never crowd
// them out. A frame that finds no place is refused (its stream reset) and sent again
// later by an honest peer. 64 MiB holds four maximal (16 MiB) offers.
const (
	strangerLargeReads = 2
	strangerFrameBytes = 64 << 20
	contactLargeReads  = 4
	contactFrameBytes  = 64 << 20
)

// peerLimits are the per-peer rate limiters of the node's protocols, and the budgets of
// large frames.
type peerLimits struct {
	messages *ratelimit.Limiter[peer.ID] // nil: no limit
	offers   *ratelimit.Limiter[peer.ID]
	invites  *ratelimit.Limiter[peer.ID]
	syncs    *ratelimit.Limiter[peer.ID]
	asks     *ratelimit.Limiter[room.ID] // our own asks for a room's state, per room

	strangers *ratelimit.Budget // direct messages from all strangers together (strangers.go); nil: no limit

	strangerFrames, contactFrames *wire.Budget
}

// newPeerLimits builds the limiters for a message rate: 0 means DefaultMessageRate and a
// negative rate no limit on messages, neither per peer nor the strangers' share.
func newPeerLimits(messageRate float64) peerLimits {
	l := peerLimits{
		offers:  ratelimit.New[peer.ID](ratelimit.Config{Rate: offerRate, Burst: offerBurst}),
		invites: ratelimit.New[peer.ID](ratelimit.Config{Rate: inviteRate, Burst: inviteBurst}),
		syncs:   ratelimit.New[peer.ID](ratelimit.Config{Rate: syncRate, Burst: syncBurst}),
		asks:    ratelimit.New[room.ID](ratelimit.Config{Rate: askRate, Burst: askBurst}),

		strangerFrames: wire.NewBudget(strangerLargeReads, strangerFrameBytes),
		contactFrames:  wire.NewBudget(contactLargeReads, contactFrameBytes),
	}
	if messageRate == 0 {
		messageRate = DefaultMessageRate
	}
	if messageRate > 0 {
		l.messages = ratelimit.New[peer.ID](ratelimit.Config{
			Rate: messageRate, Burst: max(1, int(messageRate*messageBurstSeconds)),
		})
		l.strangers = newStrangerBudget()
	}
	return l
}

// frameBudget is the budget of p's large frames: the contacts' or the strangers'.
func (n *Node) frameBudget(p peer.ID) *wire.Budget {
	if n.contacts.isContact(p) {
		return n.limits.contactFrames
	}
	return n.limits.strangerFrames
}

// dmOptions are the dm service's options for these limits.
func (l peerLimits) dmOptions() []dm.Option {
	if l.messages == nil {
		return nil
	}
	return []dm.Option{dm.WithLimiter(l.messages)}
}

// allowRoomStream applies a room protocol's limiter to a new stream from p: false means
// refuse it; a peer that keeps flooding also loses its connections.
func (n *Node) allowRoomStream(l *ratelimit.Limiter[peer.ID], p peer.ID, what string) bool {
	d := l.Allow(p)
	if d.Allowed {
		return true
	}
	if d.FirstRefusal() || d.Abusive {
		n.log.Warn("peer over its rate limit", "what", what, "peer", p, "refused", d.Refused, "closing", d.Abusive)
	}
	if d.Abusive {
		n.host.Network().ClosePeer(p)
	}
	return false
}
