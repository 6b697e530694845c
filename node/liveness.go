package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// A peer that dies without closing its connections (kill -9, pulled cable) leaves a
// QUIC connection that only times out after 30 s of silence. The liveness loop pings
// every connected Parley peer and closes the connections of one that does not answer,
// so it shows offline within about livenessEvery+livenessTimeout.
const (
	livenessEvery   = 5 * time.Second
	livenessTimeout = 4 * time.Second
)

// every runs f every d until the node stops.
func (n *Node) every(d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// checkLiveness pings the online peers concurrently and waits for all answers.
func (n *Node) checkLiveness() {
	done := make(chan struct{})
	count := 0
	for _, e := range n.peers.all() {
		if !e.online {
			continue
		}
		count++
		go func(id peer.ID) {
			defer func() { done <- struct{}{} }()
			n.probe(id)
		}(e.id)
	}
	for range count {
		<-done
	}
}

// pingOnce is one libp2p ping. ping.Ping closes its channel without a result when ctx
// ends first, so a closed channel counts as a timeout.
func pingOnce(ctx context.Context, h host.Host, id peer.ID) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, ok := <-ping.Ping(ctx, h, id)
	switch {
	case !ok:
		return 0, fmt.Errorf("no ping answer: %w", context.Cause(ctx))
	case r.Error != nil:
		return 0, r.Error
	}
	return r.RTT, nil
}

func (n *Node) probe(id peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, livenessTimeout)
	defer cancel()
	_, err := pingOnce(ctx, n.host, id)
	if err == nil || n.ctx.Err() != nil {
		return
	}
	n.log.Info("peer stopped answering; closing its connections", "peer", n.displayName(id), "err", err)
	n.host.Network().ClosePeer(id)
}
