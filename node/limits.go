package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/node/dm"
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

// peerLimits are the per-peer rate limiters of the node's protocols.
type peerLimits struct {
	messages *ratelimit.Limiter[peer.ID] // nil: no limit
	offers   *ratelimit.Limiter[peer.ID]
}

// newPeerLimits builds the limiters for a message rate: 0 means DefaultMessageRate and a
// negative rate no limit on messages.
func newPeerLimits(messageRate float64) peerLimits {
	l := peerLimits{offers: ratelimit.New[peer.ID](ratelimit.Config{Rate: offerRate, Burst: offerBurst})}
	if messageRate == 0 {
		messageRate = DefaultMessageRate
	}
	if messageRate > 0 {
		l.messages = ratelimit.New[peer.ID](ratelimit.Config{
			Rate: messageRate, Burst: max(1, int(messageRate*messageBurstSeconds)),
		})
	}
	return l
}

// dmOptions are the dm service's options for these limits.
func (l peerLimits) dmOptions() []dm.Option {
	if l.messages == nil {
		return nil
	}
	return []dm.Option{dm.WithLimiter(l.messages)}
}
