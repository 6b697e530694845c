package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/node/dm"
)

// dialTimeout bounds a connection attempt made for sending: a peer that does not answer
// in this time gets the message from the queue later.
const dialTimeout = 5 * time.Second

// mustQueue reports whether a new message to id has to wait in the queue: messages to a
// peer leave in order, so while older ones wait, new ones wait behind them; and a peer
// we are not connected to and cannot reach now gets it later.
func (n *Node) mustQueue(ctx context.Context, id peer.ID) bool {
	if queued, err := n.store.Queued(ctx, id.String()); err == nil && len(queued) > 0 {
		return true
	}
	if n.reachable(id) {
		return false
	}
	if len(n.host.Peerstore().Addrs(id)) == 0 {
		return true // nowhere to dial: it has not been seen since we started
	}
	cctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return n.host.Connect(cctx, peer.AddrInfo{ID: id}) != nil
}

// enqueue stores m as queued; the queue is sent when its recipient is seen again. If
// the recipient is connected (m only waits behind older queued messages), it waits up
// to dm.AckTimeout for the queue to reach m, so a caller still learns "delivered".
func (n *Node) enqueue(ctx context.Context, id peer.ID, m archive.Message) (api.SendResult, error) {
	m.State = archive.StateQueued
	connected := n.reachable(id)
	var events <-chan api.Event
	if connected {
		var stop func()
		events, stop = n.events.subscribe(256) // before Put, so the delivery event is not missed
		defer stop()
	}
	if _, err := n.store.Put(ctx, m); err != nil {
		return api.SendResult{}, fmt.Errorf("queue the message: %w", err)
	}
	n.publishMessage(api.EventMessage, m)
	if !connected {
		n.goRun(func() { n.holdQueued(id) }) // away: its mailboxes keep a sealed copy meanwhile
	}
	if connected {
		n.flushAsync(id)
		n.awaitDelivery(ctx, events, m.Key().String())
		if now, err := n.store.Get(ctx, m.Key()); err == nil {
			m = now
		}
	}
	return api.SendResult{Message: n.apiMessage(m)}, nil
}

// awaitDelivery waits until the message with key (archive.Key.String) leaves the queue,
// ctx ends or dm.AckTimeout passes.
func (n *Node) awaitDelivery(ctx context.Context, events <-chan api.Event, key string) {
	timeout := time.NewTimer(dm.AckTimeout)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok || (e.Type == api.EventState && e.Message != nil && e.Message.Key == key) {
				return
			}
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// flushAsync sends id's queue in the background. If that is already happening, the
// running flush goes round once more when it ends, so a trigger is never lost (for
// example a peer coming back while the flush still waits on a dial to its old address).
func (n *Node) flushAsync(id peer.ID) {
	n.dialMu.Lock()
	defer n.dialMu.Unlock()
	if n.ctx.Err() != nil {
		return
	}
	if n.flushing[id] {
		n.flushAgain[id] = true
		return
	}
	n.flushing[id] = true
	n.goRun(func() {
		for {
			n.flushQueue(id)
			if !n.takeFlushAgain(id) {
				return
			}
		}
	})
}

// takeFlushAgain reports whether another flush of id was asked for meanwhile; if not, the
// flush ends.
func (n *Node) takeFlushAgain(id peer.ID) bool {
	n.dialMu.Lock()
	defer n.dialMu.Unlock()
	if n.flushAgain[id] && n.ctx.Err() == nil {
		delete(n.flushAgain, id)
		return true
	}
	delete(n.flushing, id)
	delete(n.flushAgain, id)
	return false
}

// flushQueue sends id's queued messages oldest first, one at a time, until the queue is
// empty or one fails (the rest keep their order and wait for the next chance). The
// recipient stores a repeated ID once, so a message whose ACK was lost is safe to resend.
func (n *Node) flushQueue(id peer.ID) {
	for n.ctx.Err() == nil {
		queued, err := n.store.Queued(n.ctx, id.String())
		if err != nil || len(queued) == 0 {
			return
		}
		for _, m := range queued {
			if !n.sendQueued(id, m) {
				n.holdQueued(id) // the recipient is away: its mailboxes keep a sealed copy
				return
			}
		}
	}
}

func (n *Node) sendQueued(id peer.ID, m archive.Message) bool {
	wire := dm.Message{ID: m.ID, SentAt: m.SentAt, Text: m.Text, FromName: m.FromName}
	if err := n.deliver(n.ctx, id, wire); err != nil {
		n.log.Info("queued message still not delivered", "peer", n.displayName(id), "err", err)
		return false
	}
	n.setOutgoingState(n.ctx, m, archive.StateDelivered, 0)
	return true
}
