package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/mailbox"
	"github.com/parley-im/parley/node/dm"
)

// loadPeerMail reads what peers published about their mail, as last seen.
func (n *Node) loadPeerMail() error {
	all, err := n.store.PeerMail(n.ctx)
	if err != nil {
		return err
	}
	for s, details := range all {
		id, err := peer.Decode(s)
		if err != nil {
			continue
		}
		pm, err := parseMailDetails(details, id)
		if err != nil {
			n.log.Warn("the recorded mailboxes of a peer do not parse; dropped", "peer", s, "err", err)
			continue
		}
		n.mail.set(id, pm)
	}
	return nil
}

// notePeerMail keeps what a peer's profile says about its mail, in memory and in the
// archive (a sender needs it while the peer is away, across restarts).
func (n *Node) notePeerMail(id peer.ID, pm peerMail) {
	if n.mail == nil || len(pm.binding.Public) == 0 {
		return
	}
	before, known := n.mail.of(id)
	if len(pm.boxes) == 0 && known {
		pm.boxes = before.boxes // just started, it has not found its mailboxes yet: they are still the best guess
	}
	details := appendMailDetails(nil, pm)
	if known && bytes.Equal(appendMailDetails(nil, before), details) {
		return
	}
	n.mail.set(id, pm)
	for _, box := range pm.boxes {
		n.host.Peerstore().AddAddrs(box.ID, box.Addrs, 24*time.Hour)
	}
	if err := n.store.PutPeerMail(n.ctx, id.String(), details); err != nil {
		n.log.Warn("record a peer's mailboxes", "peer", id.String(), "err", err)
	}
}

// boxesOf are the mailboxes to deposit id's mail at: up to maxMailboxes of those it
// published, their addresses known to the peerstore.
func (n *Node) boxesOf(id peer.ID) (peerMail, []peer.ID) {
	pm, ok := n.mail.of(id)
	if !ok || len(pm.binding.Public) == 0 {
		return pm, nil
	}
	var out []peer.ID
	for _, b := range pm.boxes {
		if b.ID == n.host.ID() || b.ID == id || slices.Contains(out, b.ID) {
			continue
		}
		n.host.Peerstore().AddAddrs(b.ID, b.Addrs, 24*time.Hour)
		out = append(out, b.ID)
		if len(out) == maxMailboxes {
			break
		}
	}
	return pm, out
}

// holdQueued deposits id's queued messages that no mailbox holds yet at id's mailboxes,
// in order, and marks those at least one took held (with where). They stay queued: the
// direct path still delivers them if id comes back first.
func (n *Node) holdQueued(id peer.ID) {
	if n.mail == nil {
		return
	}
	n.mail.holdMu.Lock() // one deposit round at a time: a message is deposited once
	defer n.mail.holdMu.Unlock()
	pm, boxes := n.boxesOf(id)
	if len(boxes) == 0 {
		return
	}
	queued, err := n.store.Queued(n.ctx, id.String())
	if err != nil {
		return
	}
	var todo []archive.Message
	var deposits []mailbox.Deposit
	for _, m := range queued {
		if m.State != archive.StateQueued || m.Room != "" {
			continue
		}
		wire := dm.Message{ID: m.ID, SentAt: m.SentAt, Text: m.Text, FromName: m.FromName}
		env, err := mailbox.Seal(n.cfg.Identity.Key, mailbox.Letter{
			To: id, ID: m.ID, CreatedAt: m.SentAt, Body: dm.AppendMessage(nil, wire),
		}, pm.binding)
		if err != nil {
			n.log.Warn("seal a message for a mailbox", "peer", n.displayName(id), "err", err)
			return
		}
		todo = append(todo, m)
		deposits = append(deposits, mailbox.Deposit{To: mailbox.PeerAddress(id), Envelope: env})
	}
	if len(todo) == 0 {
		return
	}
	heldAt := make([][]string, len(todo))
	until := make([]time.Time, len(todo))
	for _, box := range boxes {
		ctx, cancel := context.WithTimeout(n.ctx, mailTimeout)
		done, err := n.mail.client.DepositAll(ctx, box, deposits)
		cancel()
		for i, d := range done {
			if d.Status == mailbox.StatusOK {
				heldAt[i] = append(heldAt[i], box.String())
				if d.Expires.After(until[i]) {
					until[i] = d.Expires
				}
			}
		}
		if err != nil {
			n.log.Info("a mailbox did not take all of a peer's mail; the rest stays queued here", "peer", n.displayName(id),
				"mailbox", box.String(), "took", len(done), "of", len(deposits), "err", err)
		}
	}
	for i, m := range todo {
		if len(heldAt[i]) == 0 {
			continue
		}
		if err := n.store.SetHeld(n.ctx, m.Key(), heldAt[i], until[i]); err != nil {
			continue // delivered meanwhile, say
		}
		m.State, m.HeldAt = archive.StateHeld, heldAt[i]
		n.publishMessage(api.EventState, m)
	}
}

// depositReceipts seals dm frames (ACKs or a READ) for id and leaves them at its
// mailboxes, for an author who is away.
func (n *Node) depositReceipts(id peer.ID, frames [][]byte) bool {
	pm, boxes := n.boxesOf(id)
	if len(boxes) == 0 {
		return false
	}
	var deposits []mailbox.Deposit
	for _, f := range frames {
		env, err := mailbox.Seal(n.cfg.Identity.Key, mailbox.Letter{
			To: id, ID: newMessageID(), CreatedAt: time.Now(), Body: f,
		}, pm.binding)
		if err != nil {
			return false
		}
		deposits = append(deposits, mailbox.Deposit{To: mailbox.PeerAddress(id), Envelope: env})
	}
	ok := false
	for _, box := range boxes {
		ctx, cancel := context.WithTimeout(n.ctx, mailTimeout)
		_, err := n.mail.client.DepositAll(ctx, box, deposits)
		cancel()
		if err == nil {
			ok = true
		} else {
			n.log.Debug("receipts not deposited", "mailbox", box.String(), "err", err)
		}
	}
	return ok
}

// mailReceipts are the message IDs fetched from mailboxes, per author: they are owed a
// delivery receipt.
type mailReceipts map[peer.ID][]string

// openMail opens one envelope from box and acts on its letter: a message is stored
// (exactly once: the archive dedupes by key), a receipt applied. An envelope that does
// not open, or whose author is blocked, is dropped (nil: acknowledged, deleted).
func (n *Node) openMail(ctx context.Context, box peer.ID, it mailbox.Item, got *mailReceipts) error {
	l, err := n.mail.key.Open(it.Envelope)
	if err != nil {
		n.log.Warn("dropped a mailbox envelope that does not open (forged, tampered or not for us)",
			"mailbox", box.String(), "envelope", it.ID, "err", err)
		return nil
	}
	if n.isBlocked(l.Author) || l.Author == n.host.ID() {
		return nil
	}
	typ, payload, err := dm.ReadFrame(bufio.NewReader(bytes.NewReader(l.Body)))
	if err != nil {
		n.log.Warn("dropped a mailbox letter with a malformed body", "author", l.Author.String(), "err", err)
		return nil
	}
	switch typ {
	case dm.TypeMessage:
		return n.openMessage(ctx, l, payload, got)
	case dm.TypeAck:
		if a, err := dm.ParseAck(payload); err == nil && a.Status != dm.AckRejected {
			n.markDelivered(ctx, l.Author, a.ID)
		}
	case dm.TypeRead:
		if r, err := dm.ParseRead(payload); err == nil {
			return n.MarkRead(ctx, l.Author, r.IDs)
		}
	}
	return nil
}

func (n *Node) openMessage(ctx context.Context, l mailbox.Letter, payload []byte, got *mailReceipts) error {
	m, err := dm.ParseMessage(payload)
	if err != nil || m.ID != l.ID {
		n.log.Warn("dropped a mailbox letter whose message is malformed", "author", l.Author.String(), "err", err)
		return nil
	}
	if _, err := n.Deliver(ctx, l.Author, m); err != nil {
		if errors.Is(err, dm.ErrInboxFull) {
			return err // a stranger over the shared budget: left at the mailbox for later
		}
		return err
	}
	if *got == nil {
		*got = mailReceipts{}
	}
	(*got)[l.Author] = append((*got)[l.Author], m.ID)
	return nil
}

// markDelivered applies a delivery receipt from `from` for our message msgID.
func (n *Node) markDelivered(ctx context.Context, from peer.ID, msgID string) {
	m, err := n.store.Get(ctx, archive.Key{ID: msgID, From: n.host.ID().String(), To: from.String()})
	if err != nil || m.Direction != archive.Outgoing {
		return
	}
	switch m.State {
	case archive.StateQueued, archive.StateHeld, archive.StateSent, archive.StateFailed:
	default:
		return // delivered or read already
	}
	if err := n.store.SetState(ctx, m.Key(), archive.StateDelivered); err != nil {
		return
	}
	m.State = archive.StateDelivered
	n.publishMessage(api.EventState, m)
}

// sendDeliveryReceipts tells author that we have the messages ids (fetched from a
// mailbox). An author we are connected to learns it from its own queue: its next
// send of them is answered "duplicate", which it counts as delivered, so it gets a
// flush; an author away gets the receipts at its mailboxes.
func (n *Node) sendDeliveryReceipts(author peer.ID, ids []string) {
	if n.reachable(author) {
		return
	}
	frames := make([][]byte, 0, len(ids))
	for _, id := range ids {
		frames = append(frames, dm.AppendAck(nil, dm.Ack{ID: id, Status: dm.AckStored}))
	}
	if !n.depositReceipts(author, frames) {
		n.log.Debug("delivery receipts not deposited: the author publishes no mailbox we reach", "author", n.displayName(author))
	}
}

// releaseExpiredHolds turns messages whose mailboxes let them go unfetched (their TTL
// ran out) back to queued, says so, and deposits them again for the peers still away.
func (n *Node) releaseExpiredHolds() {
	gone, err := n.store.ReleaseExpiredHolds(n.ctx, time.Now())
	if err != nil {
		n.log.Warn("check held messages", "err", err)
		return
	}
	peers := map[peer.ID]bool{}
	for _, m := range gone {
		n.log.Info("the recipient's mailboxes let a message go unfetched; it is still queued here", "peer", m.To, "message", m.ID)
		n.publishMessage(api.EventState, m)
		if id, err := peer.Decode(m.To); err == nil {
			peers[id] = true
		}
	}
	for id := range peers {
		n.flushAsync(id)
	}
}
