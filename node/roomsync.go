package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/room"
)

// The sync protocol (room.SyncProtocol): a member asks another member for the messages
// of a room after a cursor, a page at a time, over a direct encrypted stream. Messages
// carry their author's signature, so whoever relays them cannot forge or alter them; the
// server answers only peers that are members of the room now, so a removed member gets
// nothing more.

const (
	syncTimeout     = 30 * time.Second // one page
	syncSessionMax  = 3 * time.Minute  // a whole catch-up from one member
	maxSyncPages    = 100              // per sync session: at most 100 × MaxSyncPage messages
	catchUpOverlap  = time.Hour        // re-ask this far before our newest message: clocks and gaps differ
	firstJoinWindow = 30 * 24 * time.Hour
	roomSyncEvery   = time.Minute     // anti-entropy: one random connected member per room
	periodicWindow  = 3 * time.Minute // ...for messages sent this recently
	joinResyncAfter = 3 * time.Second // a second catch-up once the new member's mesh has formed
)

// serveSync answers a member's page requests until it closes the stream.
func (n *Node) serveSync(s network.Stream) {
	from := s.Conn().RemotePeer()
	defer s.Close()
	if !n.allowRoomStream(n.limits.syncs, from, "room sync") {
		s.Reset()
		return
	}
	fr := wire.StreamReader(s, nil, 4096)
	defer fr.Release()
	for range maxSyncPages {
		s.SetDeadline(time.Now().Add(syncTimeout))
		payload, err := room.ReadFrameFrom(fr, room.MaxSyncRequest)
		if err != nil {
			return // io.EOF: the member has what it wanted
		}
		req, err := room.ParseSyncRequest(payload)
		if err != nil {
			n.log.Warn("bad room sync request", "peer", from, "err", err)
			s.Reset()
			return
		}
		page, err := n.syncPage(from, req)
		if err != nil {
			n.log.Info("room sync refused", "peer", n.displayName(from), "room", req.Room, "err", err)
			s.Reset()
			return
		}
		if err := room.WriteFrame(s, room.AppendSyncPage(nil, page)); err != nil {
			s.Reset()
			return
		}
	}
}

// syncPage is the page of room messages answering req from a member.
func (n *Node) syncPage(from peer.ID, req room.SyncRequest) (room.SyncPage, error) {
	r, ok := n.roomEngine.Room(req.Room)
	switch {
	case !ok:
		return room.SyncPage{}, fmt.Errorf("we are not in room %s", req.Room)
	case !r.IsMember(from) || n.isBlocked(from):
		return room.SyncPage{}, fmt.Errorf("the peer is not a member of %s", req.Room)
	}
	limit := req.Limit
	if limit <= 0 || limit > room.MaxSyncPage {
		limit = room.MaxSyncPage
	}
	after := archive.RoomCursor{}
	if !req.After.IsZero() {
		after = archive.RoomCursor{Lamport: req.After.Lamport, SentAt: req.After.Clock, From: req.After.Author.String(), ID: req.After.ID.String()}
	}
	msgs, err := n.store.RoomMessagesAfter(n.ctx, req.Room.String(), req.Since, after, limit+1)
	if err != nil {
		return room.SyncPage{}, err
	}
	signed := make([]room.Message, 0, len(msgs))
	for _, m := range msgs {
		if m.Direction == archive.Outgoing && m.State == archive.StateQueued {
			n.markRoomMessageDelivered(m) // a member has fetched it
		}
		if rm, err := roomMessageOf(m); err == nil { // unsigned ones (none the engine accepted) are not relayed
			signed = append(signed, rm)
		}
	}
	// The archive orders ties of Lamport and clock by the author's text form; the
	// protocol by its bytes. Same-nanosecond ties are all this can reorder.
	slices.SortFunc(signed, room.Compare)
	return room.PageOf(signed, limit), nil
}

// roomMessageOf rebuilds the signed room message from its archived form.
func roomMessageOf(m archive.Message) (room.Message, error) {
	author, err := peer.Decode(m.From)
	if err != nil {
		return room.Message{}, err
	}
	raw, err := hex.DecodeString(m.ID)
	var id room.MessageID
	if err != nil || len(raw) != len(id) || len(m.Sig) == 0 {
		return room.Message{}, fmt.Errorf("message %s is not a signed room message", m.ID)
	}
	copy(id[:], raw)
	return room.Message{ID: id, Author: author, Clock: m.SentAt, Lamport: m.Lamport, Text: m.Text, Sig: m.Sig}, nil
}

// syncRoomFrom fetches a room's messages sent since `since` from member p and delivers
// the ones we lack. It gives up quietly: another member or the next round fills the gap.
func (n *Node) syncRoomFrom(id room.ID, p peer.ID, since time.Time) {
	started := time.Now()
	got, err := n.fetchRoomPages(id, p, since)
	switch {
	case err != nil:
		n.log.Debug("room sync failed", "room", id, "peer", p, "err", err)
	case !since.After(n.catchUpSince(id)): // a full catch-up, not the recent window only
		if err := n.store.SetRoomSynced(n.ctx, id.String(), started); err != nil {
			n.log.Warn("room sync not recorded", "room", id, "err", err)
		}
	}
	if got > 0 {
		n.log.Info("room caught up", "room", id, "from", n.displayName(p), "messages", got)
	}
}

func (n *Node) fetchRoomPages(id room.ID, p peer.ID, since time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(n.ctx, syncSessionMax)
	defer cancel()
	end, _ := ctx.Deadline()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "room sync"), p, room.SyncProtocol)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	// The session cap holds whatever a large page's progress deadline says: the reader
	// keeps it (Until), and the stream is reset when it passes.
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	fr := wire.StreamReaderUntil(s, n.frameBudget(p), 4096, end)
	defer fr.Release()
	req := room.SyncRequest{Room: id, Since: since, Limit: room.MaxSyncPage}
	got := 0
	for range maxSyncPages {
		s.SetDeadline(earliest(time.Now().Add(syncTimeout), end))
		if err := room.WriteFrame(s, room.AppendSyncRequest(nil, req)); err != nil {
			s.Reset()
			return got, err
		}
		payload, err := room.ReadFrameFrom(fr, room.MaxSyncPageBytes)
		if err != nil {
			s.Reset()
			return got, err
		}
		page, err := room.ParseSyncPage(payload)
		if err != nil {
			s.Reset()
			return got, fmt.Errorf("bad sync page: %w", err)
		}
		for _, m := range page.Messages {
			if n.roomEngine.Deliver(id, m) {
				got++
			}
			req.After = room.CursorOf(m)
		}
		if !page.More || len(page.Messages) == 0 {
			return got, nil
		}
	}
	return got, nil
}

// catchUpSince is how far back a member asks: an hour (for clocks that differ) before
// its last completed catch-up of the room, or a month back for a room never caught up.
// Our own clock decides, not the newest message's: a message that arrived by gossip just
// now says nothing about the gap before it.
func (n *Node) catchUpSince(id room.ID) time.Time {
	rec, err := n.store.GetRoom(n.ctx, id.String())
	if err != nil || rec.SyncedAt.IsZero() {
		return time.Now().Add(-firstJoinWindow)
	}
	return rec.SyncedAt.Add(-catchUpOverlap)
}

// catchUpAfterJoin syncs a room just joined from its inviter and the members connected
// now, and once more after the gossipsub mesh has formed, for messages published in
// between.
func (n *Node) catchUpAfterJoin(id room.ID, inviter peer.ID) {
	n.syncFromConnectedMembers(id, inviter)
	select {
	case <-n.ctx.Done():
		return
	case <-time.After(joinResyncAfter):
	}
	n.syncFromConnectedMembers(id, inviter)
}

func (n *Node) syncFromConnectedMembers(id room.ID, first peer.ID) {
	r, ok := n.roomEngine.Room(id)
	if !ok {
		return
	}
	since := n.catchUpSince(id)
	if first != "" && n.reachable(first) {
		n.syncRoomFrom(id, first, since)
	}
	for m := range r.Members {
		if m != n.host.ID() && m != first && n.reachable(m) {
			n.syncRoomFrom(id, m, since)
		}
	}
}

// syncRoomsPeriodically asks one random connected member of each room for what was
// sent in the last few minutes: the safety net for messages gossip did not bring.
func (n *Node) syncRoomsPeriodically() {
	for _, r := range n.joinedRooms() {
		var online []peer.ID
		for m := range r.Members {
			if m != n.host.ID() && n.reachable(m) {
				online = append(online, m)
			}
		}
		if len(online) == 0 {
			continue
		}
		n.syncRoomFrom(r.ID, online[rand.IntN(len(online))], time.Now().Add(-periodicWindow))
	}
}

func (n *Node) markRoomMessageDelivered(m archive.Message) {
	if err := n.store.SetState(n.ctx, m.Key(), archive.StateDelivered); err != nil {
		return
	}
	m.State = archive.StateDelivered
	n.publishMessage(api.EventState, m)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
