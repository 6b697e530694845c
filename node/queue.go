package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
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
		n.flushAsync(id)
		return true
	}
	if n.host.Network().Connectedness(id) == network.Connected {
		return false
	}
	if len(n.host.Peerstore().Addrs(id)) == 0 {
		return true // nowhere to dial: it has not been seen since we started
	}
	cctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return n.host.Connect(cctx, peer.AddrInfo{ID: id}) != nil
}

// enqueue stores m as queued; the queue is sent when its recipient is seen again.
func (n *Node) enqueue(ctx context.Context, m archive.Message) (api.SendResult, error) {
	m.State = archive.StateQueued
	if _, err := n.store.Put(ctx, m); err != nil {
		return api.SendResult{}, fmt.Errorf("queue the message: %w", err)
	}
	n.publishMessage(api.EventMessage, m)
	return api.SendResult{Message: n.apiMessage(m)}, nil
}

// flushAsync sends id's queue in the background unless that is already happening.
func (n *Node) flushAsync(id peer.ID) {
	n.dialMu.Lock()
	if n.flushing[id] || n.ctx.Err() != nil {
		n.dialMu.Unlock()
		return
	}
	n.flushing[id] = true
	n.dialMu.Unlock()
	n.goRun(func() {
		defer func() {
			n.dialMu.Lock()
			delete(n.flushing, id)
			n.dialMu.Unlock()
		}()
		n.flushQueue(id)
	})
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
