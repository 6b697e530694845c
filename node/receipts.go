package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/node/dm"
)

// maxUnread bounds how many received messages one MarkConversationRead looks at.
const maxUnread = 10000

// MarkConversationRead marks every message received from `who` as read and sends the
// sender a read receipt (in the background; a receipt that cannot be delivered now is
// deposited at the sender's mailboxes, or else dropped, and the sender keeps showing
// delivered).
func (n *Node) MarkConversationRead(ctx context.Context, who string) (int, error) {
	n.touch()
	if IsRoomRef(who) {
		return n.markRoomRead(ctx, who)
	}
	id, err := n.resolve(who)
	if err != nil {
		return 0, err
	}
	msgs, err := n.store.List(ctx, archive.Query{Peer: id.String(), Limit: maxUnread})
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, m := range msgs {
		if m.Direction == archive.Incoming && m.State == archive.StateReceived {
			if err := n.store.SetState(ctx, m.Key(), archive.StateRead); err != nil {
				return len(ids), err
			}
			ids = append(ids, m.ID)
		}
	}
	if len(ids) > 0 && !n.isBlocked(id) {
		n.goRun(func() { n.sendReceipts(id, ids) })
	}
	return len(ids), nil
}

func (n *Node) sendReceipts(id peer.ID, ids []string) {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), dm.MaxReadIDs)]
		ids = ids[len(batch):]
		if err := n.dm.SendRead(n.ctx, id, batch); err != nil {
			n.log.Debug("read receipt not delivered; leaving it at the sender's mailboxes", "peer", n.displayName(id), "err", err)
			n.depositRead(id, slices.Concat(batch, ids))
			return
		}
	}
}

// MarkRead implements dm.Inbox: from's user has seen our messages ids. Only messages we
// sent to that very peer change state: the lookup is by the archive's key (ID, us as the
// sender, from as the recipient), so a receipt never reaches a message with the same ID
// elsewhere.
func (n *Node) MarkRead(ctx context.Context, from peer.ID, ids []string) error {
	for _, msgID := range ids {
		m, err := n.store.Get(ctx, archive.Key{ID: msgID, From: n.host.ID().String(), To: from.String()})
		if err != nil || m.Direction != archive.Outgoing || m.State == archive.StateRead {
			continue
		}
		if err := n.store.SetState(ctx, m.Key(), archive.StateRead); err != nil {
			return fmt.Errorf("mark %s read: %w", msgID, err)
		}
		m.State = archive.StateRead
		n.publishMessage(api.EventState, m)
	}
	return nil
}

// depositRead leaves read receipts for ids at id's mailboxes.
func (n *Node) depositRead(id peer.ID, ids []string) {
	if n.mail == nil {
		return
	}
	var frames [][]byte
	for len(ids) > 0 {
		batch := ids[:min(len(ids), dm.MaxReadIDs)]
		ids = ids[len(batch):]
		frames = append(frames, dm.AppendRead(nil, dm.Read{IDs: batch}))
	}
	if !n.depositReceipts(id, frames) {
		n.log.Debug("read receipts dropped: the sender is away and publishes no mailbox we reach", "peer", n.displayName(id))
		return
	}
	n.log.Info("read receipts left at the sender's mailboxes", "peer", n.displayName(id))
}
