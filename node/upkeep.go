package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// queueRetryEvery is how often queued messages are retried for peers we can reach,
// beyond the retry that a peer coming online triggers at once.
const queueRetryEvery = 15 * time.Second

func (n *Node) retryQueues() {
	n.releaseExpiredHolds()
	recipients, err := n.store.QueuedRecipients(n.ctx)
	if err != nil {
		n.log.Warn("read the message queue", "err", err)
		return
	}
	for _, r := range recipients {
		id, err := peer.Decode(r)
		if err == nil && len(n.host.Peerstore().Addrs(id)) > 0 && !n.isBlocked(id) {
			n.flushAsync(id)
		}
	}
}

// retentionEvery is how often messages older than cfg.Retain are purged.
const retentionEvery = time.Hour

func (n *Node) purgeOld() {
	deleted, err := n.store.Purge(n.ctx, time.Now().Add(-n.cfg.Retain))
	if err != nil {
		n.log.Warn("retention purge failed", "err", err)
		return
	}
	if deleted > 0 {
		n.log.Info("retention: purged old messages", "count", deleted, "older than", n.cfg.Retain)
	}
}
