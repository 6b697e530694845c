package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/node/dm"
)

// Send stores a message to `to` (a peer ID, a contact's nickname or a known peer's name)
// and delivers it, waiting for the recipient's ACK. A recipient that cannot be reached
// now gets the message later: it is queued and sent, in order, when the peer is seen
// again. An error means nothing was stored: a blocked peer gets nothing (ErrBlocked).
func (n *Node) Send(ctx context.Context, to, text string) (api.SendResult, error) {
	if IsRoomRef(to) {
		return n.sendToRoom(ctx, to, text)
	}
	n.touch()
	id, err := n.resolve(to)
	if err != nil {
		return api.SendResult{}, n.suggestRoom(ctx, to, err)
	}
	if n.isBlocked(id) {
		return api.SendResult{}, n.blockedError(id)
	}
	m, stored, err := n.newOutgoing(id, text)
	if err != nil {
		return api.SendResult{}, err
	}
	n.noteWrittenTo(id) // a peer the user writes to is no stranger
	if n.mustQueue(ctx, id) {
		return n.enqueue(ctx, id, stored)
	}
	if _, err := n.store.Put(ctx, stored); err != nil {
		return api.SendResult{}, fmt.Errorf("archive the message: %w", err)
	}
	n.publishMessage(api.EventMessage, stored)
	start := time.Now()
	if err := n.deliver(ctx, id, m); err != nil {
		n.log.Info("message not delivered now; queued", "peer", n.displayName(id), "err", err)
		return n.setOutgoingState(ctx, stored, archive.StateQueued, 0)
	}
	return n.setOutgoingState(ctx, stored, archive.StateDelivered, time.Since(start))
}

// suggestRoom adds to an unknown-peer error for `to` that a room of that name exists:
// `send ops hi` meant '#ops'.
func (n *Node) suggestRoom(ctx context.Context, to string, err error) error {
	if !errors.Is(err, ErrUnknownPeer) {
		return err
	}
	if r, rerr := n.joinedRoom(ctx, to); rerr == nil && strings.EqualFold(r.Name, strings.TrimSpace(to)) {
		return fmt.Errorf("%w; you are in a room of that name: send to '#%s' (quoted, since # starts a shell comment)", err, r.Name)
	}
	return err
}

// blockedError says that id is blocked and how to unblock it, by the name that finds it.
func (n *Node) blockedError(id peer.ID) error {
	label, ref := id.String(), id.String()
	if name := n.nameOf(id.String()); name != "" {
		label = fmt.Sprintf("%s (%s)", name, id)
		if found, err := n.resolve(name); err == nil && found == id {
			ref = name
		}
	}
	return fmt.Errorf("not sent: %s is %w; to write to them, first `parley contacts unblock %s`", label, ErrBlocked, ref)
}

// newOutgoing validates a message to id and builds its wire and archive forms.
func (n *Node) newOutgoing(id peer.ID, text string) (dm.Message, archive.Message, error) {
	if id == n.host.ID() {
		return dm.Message{}, archive.Message{}, fmt.Errorf("%w: that peer is you", ErrBadMessage)
	}
	if strings.TrimSpace(text) == "" {
		return dm.Message{}, archive.Message{}, fmt.Errorf("%w: the text is empty", ErrBadMessage)
	}
	m := dm.Message{ID: newMessageID(), SentAt: time.Now().UTC(), Text: text, FromName: n.cfg.Identity.Name}
	if err := m.Validate(); err != nil {
		return dm.Message{}, archive.Message{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	stored := archive.Message{
		ID: m.ID, From: n.host.ID().String(), FromName: m.FromName, To: id.String(), Text: text,
		SentAt: m.SentAt, Direction: archive.Outgoing, State: archive.StateSent,
	}
	return m, stored, nil
}

func (n *Node) setOutgoingState(ctx context.Context, m archive.Message, st archive.State, rtt time.Duration) (api.SendResult, error) {
	if err := n.store.SetState(context.WithoutCancel(ctx), m.Key(), st); err != nil {
		return api.SendResult{}, fmt.Errorf("record delivery state of %s: %w", m.ID, err)
	}
	m.State = st
	n.publishMessage(api.EventState, m)
	return api.SendResult{Message: n.apiMessage(m), RoundTrip: rtt}, nil
}

// Ping measures one libp2p ping round trip to `to`, connecting first if needed.
func (n *Node) Ping(ctx context.Context, to string) (time.Duration, error) {
	id, err := n.resolve(to)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: id}); err != nil {
		return 0, fmt.Errorf("%s is not reachable: %w", n.displayName(id), err)
	}
	rtt, err := pingOnce(ctx, n.host, id)
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", n.displayName(id), err)
	}
	return rtt, nil
}

// deliver connects if needed and sends m. The peer is protected from connection
// trimming already: the user wrote to it (noteWrittenTo).
func (n *Node) deliver(ctx context.Context, id peer.ID, m dm.Message) error {
	if !n.reachable(id) {
		cctx, cancel := context.WithTimeout(ctx, dialTimeout)
		err := n.host.Connect(cctx, peer.AddrInfo{ID: id})
		cancel()
		if err != nil {
			return fmt.Errorf("%s is not reachable (offline?): %w", n.displayName(id), err)
		}
	}
	if _, err := n.dm.Send(ctx, id, m); err != nil {
		return fmt.Errorf("deliver to %s: %w", n.displayName(id), err)
	}
	return nil
}

// Deliver implements dm.Inbox: store, then tell clients. Only a stored message is ACKed.
// A stranger's message draws on the strangers' shared budget and is refused (kept
// queued by its sender) when that is used up.
func (n *Node) Deliver(ctx context.Context, from peer.ID, m dm.Message) (dm.AckStatus, error) {
	refund, err := n.admitStranger(from, m)
	if err != nil {
		return 0, err
	}
	if _, forged := n.contacts.impersonated(from, m.FromName); forged {
		n.log.Warn("possible impersonation: a message signs with a contact's name from another key; the name is dropped",
			"name", m.FromName, "peer", from.String())
		m.FromName = "" // shown by its peer ID instead
	}
	msg := archive.Message{
		ID: m.ID, From: from.String(), FromName: m.FromName, To: n.host.ID().String(),
		Text: m.Text, SentAt: m.SentAt, ReceivedAt: time.Now().UTC(),
		Direction: archive.Incoming, State: archive.StateReceived,
	}
	inserted, err := n.store.Put(ctx, msg)
	if err != nil {
		refund()
		return 0, err
	}
	if n.peers.observe(from, "", ViaInbound, nil, time.Now()) || n.peers.learnName(from, m.FromName) {
		n.publishPeer(from)
	}
	if !inserted {
		refund()
		return dm.AckDuplicate, nil
	}
	n.publishMessage(api.EventMessage, msg)
	n.hooks.onMessage(n.apiMessage(msg))
	if n.isKnown(from) {
		n.flushAsync(from) // it writes to us, so it takes our queued messages now (one it refused, say)
	}
	return dm.AckStored, nil
}

func (n *Node) publishMessage(kind string, m archive.Message) {
	am := n.apiMessage(m)
	n.events.publish(api.Event{Type: kind, Time: time.Now(), Message: &am})
}

// History lists archived messages, oldest first.
func (n *Node) History(ctx context.Context, q api.HistoryQuery) ([]api.Message, error) {
	aq, err := n.archiveQuery(q)
	if err != nil {
		return nil, err
	}
	msgs, err := n.store.List(ctx, aq)
	if err != nil {
		return nil, badRequestIfInvalid(err)
	}
	out := make([]api.Message, len(msgs))
	for i, m := range msgs {
		out[i] = n.apiMessage(m)
	}
	return out, nil
}

// resolve turns a peer ID or a known peer's name into a peer ID.
func (n *Node) resolve(to string) (peer.ID, error) {
	to = strings.TrimSpace(to)
	if id, err := peer.Decode(to); err == nil {
		if n.knows(id) {
			return id, nil
		}
		return "", fmt.Errorf("%w %s: it has not been seen and is not a contact; see `parley peers`", ErrUnknownPeer, to)
	}
	ids := n.contacts.byName(to)
	if len(ids) == 0 {
		ids = n.peers.byName(to)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%w %q: no peer of that name has been seen; see `parley peers`", ErrUnknownPeer, to)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("%w %q (%v): use the peer ID instead", ErrAmbiguousPeer, to, ids)
	}
}

// knows reports whether id is us, a contact, a peer written to, a peer seen or
// connected, or a member of a room we are in.
func (n *Node) knows(id peer.ID) bool {
	if _, ok := n.peers.get(id); ok || id == n.host.ID() {
		return true
	}
	if _, ok := n.contacts.get(id); ok || n.wroteTo.has(id) {
		return true
	}
	return n.reachable(id) || n.sharesRoom(id)
}

func (n *Node) displayName(id peer.ID) string {
	if e, ok := n.peers.get(id); ok && e.name != "" {
		return fmt.Sprintf("%s (%s)", e.name, id)
	}
	return id.String()
}

// senderOf is what this node calls m's sender, and its warning about them: the sender's
// name in m when the node knows no better.
func (n *Node) senderOf(m archive.Message) (name, warning string) {
	if m.Direction == archive.Outgoing {
		return "", ""
	}
	name = n.nameOf(m.From)
	if name == "" {
		name = m.FromName
	}
	if id, err := peer.Decode(m.From); err == nil {
		warning = n.peerWarning(id, name)
	}
	return name, warning
}

// apiMessage is m as clients see it, with the recipient's name for outgoing messages.
func (n *Node) apiMessage(m archive.Message) api.Message {
	am := api.Message{
		ID: m.ID, Key: m.Key().String(), From: m.From, FromName: m.FromName, To: m.To, Room: m.Room, Text: m.Text,
		SentAt: m.SentAt, ReceivedAt: m.ReceivedAt, Direction: string(m.Direction), State: string(m.State),
		Order: m.OrderKey(),
	}
	am.FromDisplay, am.FromWarning = n.senderOf(m)
	if m.State == archive.StateHeld {
		am.HeldAt = m.HeldAt
	}
	if m.Room != "" {
		am.RoomName = n.roomName(m.Room)
		return am
	}
	if m.Direction == archive.Outgoing {
		am.ToName = n.nameOf(m.To)
	}
	return am
}
