package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/internal/wire"
	"github.com/parley-im/parley/room"
)

// The invite protocol (room.InviteProtocol) carries one frame each way: a room's state
// from an owner (an invitation, or an update: new members, a rotated key), or a member's
// notice that it left; the answer is one byte.

const (
	inviteTimeout  = 10 * time.Second
	maxInviteFrame = room.MaxInvite

	// maxPendingPerInviter and maxPending bound the invitations non-contacts can leave
	// waiting: per inviter and in all.
	maxPendingPerInviter = 20
	maxPending           = 100
)

// serveInvite takes one invite frame from a peer.
func (n *Node) serveInvite(s network.Stream) {
	from := s.Conn().RemotePeer()
	until := time.Now().Add(inviteTimeout)
	s.SetDeadline(until)
	if n.isBlocked(from) {
		s.Reset()
		return
	}
	if !n.allowRoomStream(n.limits.invites, from, "room invites") {
		s.Write([]byte{room.InviteRefused})
		s.Close()
		return
	}
	fr := wire.StreamReaderUntil(s, n.frameBudget(from), 4096, until) // a large invite keeps the limit
	defer fr.Release()
	payload, err := room.ReadFrameFrom(fr, maxInviteFrame)
	if err != nil {
		n.log.Warn("bad room invite frame", "peer", from, "err", err)
		s.Reset()
		return
	}
	inv, err := room.ParseInvite(payload)
	if err != nil {
		n.log.Warn("bad room invite", "peer", from, "err", err)
		s.Reset()
		return
	}
	if inv.Kind == room.KindAsk {
		n.answerAsk(s, from, inv.State.ID)
		return
	}
	answer := room.InviteOK
	n.roomMu.Lock()
	err = n.applyInvite(from, inv)
	n.roomMu.Unlock()
	if err != nil {
		n.log.Warn("room invite refused", "peer", n.displayName(from), "room", inv.State.ID, "err", err)
		answer = room.InviteRefused
	}
	s.Write([]byte{answer})
	s.Close()
}

// applyInvite acts on a frame from `from`; an error refuses it. Only a room's creator
// hands out its state: the room ID is derived from the creator's key (room.DeriveID), so
// no one else can send a state for a room we know. Called with roomMu held.
func (n *Node) applyInvite(from peer.ID, inv room.Invite) error {
	ctx := n.ctx
	if inv.Kind == room.KindLeft {
		return n.memberLeft(ctx, from, inv.State.ID)
	}
	st := inv.State
	held, holding := n.roomEngine.Room(st.ID)
	switch {
	case st.Creator != from:
		return errors.New("only the room's creator hands out its state")
	case !st.IsMember(n.host.ID()) && holding && newerState(st, held):
		return n.removedFrom(ctx, held, from)
	case !st.IsMember(n.host.ID()):
		return errors.New("we are not a member of the room it sends")
	}
	if holding {
		if st.Epoch == held.Epoch && st.Version == held.Version {
			// The creator confirms the state we hold: that clears any claim of a newer
			// epoch a member's post made (room.Engine.Update).
			return n.roomEngine.Update(st)
		}
		if err := n.updateRoom(ctx, st); err != nil {
			if errors.Is(err, room.ErrStale) {
				return nil // an older state arrived late: ours is newer
			}
			return err
		}
		n.log.Info("room updated", "room", st.Name, "epoch", st.Epoch, "members", len(st.Members), "by", n.displayName(from))
		n.publishRoom(st)
		return nil
	}
	return n.invited(ctx, from, inv)
}

// removedFrom leaves a room an owner removed us from.
func (n *Node) removedFrom(ctx context.Context, r room.Room, by peer.ID) error {
	if err := n.roomEngine.Leave(r.ID); err != nil && !errors.Is(err, room.ErrNotJoined) {
		return err
	}
	if err := n.saveRoom(ctx, r, archive.RoomLeft, ""); err != nil {
		return err
	}
	n.log.Info("removed from room", "room", r.Name, "id", r.ID, "by", n.displayName(by))
	n.publishLeft(r)
	return nil
}

// invited handles the state of a room we do not hold: joined at once when a contact
// invites, else kept as pending for `room join`. Updates for rooms we left are ignored;
// only a new invitation brings a left room back.
func (n *Node) invited(ctx context.Context, from peer.ID, inv room.Invite) error {
	rec, err := n.store.GetRoom(ctx, inv.State.ID.String())
	if err != nil && !errors.Is(err, archive.ErrNotFound) {
		return err
	}
	known := err == nil
	if known {
		if stored, perr := room.ParseState(rec.State); perr == nil && !newerState(inv.State, stored) {
			return nil // we hold this state, or a newer one, as pending or left
		}
		if rec.Status == archive.RoomLeft && inv.Kind != room.KindInvite {
			return nil
		}
	}
	// A contact's invitation is accepted at once, unless it is to a room we left or
	// declined: that one waits for `room join`.
	if n.contacts.isContact(from) && !(known && rec.Status == archive.RoomLeft) {
		_, err := n.joinRoom(ctx, inv.State, from)
		return err
	}
	alreadyPending := known && rec.Status == archive.RoomPending
	if fromPeer, all := n.pendingCounts(ctx, from); !alreadyPending && (fromPeer >= maxPendingPerInviter || all >= maxPending) {
		return fmt.Errorf("too many invitations wait for `room join` (%d from this peer, %d in all)", fromPeer, all)
	}
	if err := n.saveRoom(ctx, inv.State, archive.RoomPending, from.String()); err != nil {
		return err
	}
	n.log.Info("room invitation waiting: `parley room join ID`", "room", inv.State.Name, "id", inv.State.ID, "from", n.displayName(from))
	rec, err = n.store.GetRoom(ctx, inv.State.ID.String())
	if err != nil {
		return err
	}
	if out, err := n.apiInvite(rec); err == nil {
		n.events.publish(api.Event{Type: api.EventRoom, Time: time.Now(), Invite: &out})
	}
	return nil
}

// pendingCounts counts the invitations waiting for `room join`: from p, and in all.
func (n *Node) pendingCounts(ctx context.Context, p peer.ID) (fromPeer, all int) {
	recs, err := n.store.Rooms(ctx)
	if err != nil {
		return maxPendingPerInviter, maxPending // cannot tell: refuse rather than grow
	}
	for _, rec := range recs {
		if rec.Status == archive.RoomPending {
			all++
			if rec.Inviter == p.String() {
				fromPeer++
			}
		}
	}
	return fromPeer, all
}

// newerState reports whether a is a later state of the same room than b.
func newerState(a, b room.Room) bool {
	return a.Epoch > b.Epoch || (a.Epoch == b.Epoch && a.Version > b.Version)
}

// memberLeft removes a member who left a room we own, rotating the key.
func (n *Node) memberLeft(ctx context.Context, from peer.ID, id room.ID) error {
	r, ok := n.roomEngine.Room(id)
	if !ok || !r.IsMember(from) {
		return nil
	}
	if r.Creator != n.host.ID() {
		return nil // the creator rotates
	}
	_, err := n.removeMember(ctx, r, from)
	return err
}

// sendInvite delivers one invite frame to id and waits for the answer.
func (n *Node) sendInvite(ctx context.Context, id peer.ID, inv room.Invite) error {
	ctx, cancel := context.WithTimeout(ctx, inviteTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "room invite"), id, room.InviteProtocol)
	if err != nil {
		return fmt.Errorf("%s is not reachable: %w", n.displayName(id), err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(inviteTimeout))
	if err := room.WriteFrame(s, room.AppendInvite(nil, inv)); err != nil {
		s.Reset()
		return err
	}
	s.CloseWrite()
	var answer [1]byte
	if _, err := s.Read(answer[:]); err != nil {
		s.Reset()
		return fmt.Errorf("no answer from %s: %w", n.displayName(id), err)
	}
	if answer[0] != room.InviteOK {
		return fmt.Errorf("%s refused it", n.displayName(id))
	}
	return nil
}

func (n *Node) sendInviteLogged(id peer.ID, inv room.Invite) {
	if err := n.sendInvite(n.ctx, id, inv); err != nil {
		n.log.Debug("room frame not delivered", "peer", id, "room", inv.State.ID, "err", err)
	}
}

// pushRoomState sends r to every member connected now but us and skip; the others get
// it when they next connect (onRoomPeer).
func (n *Node) pushRoomState(r room.Room, skip peer.ID) {
	for m := range r.Members {
		if m == n.host.ID() || m == skip || !n.reachable(m) {
			continue
		}
		n.goRun(func() { n.sendInviteLogged(m, room.Invite{Kind: room.KindUpdate, State: r}) })
	}
}

// onRoomPeer runs when a Parley peer connects: for every room it is a member of, an
// owner hands it the current state (that is also how an invitation to a peer that was
// offline arrives), and we catch up on messages from it.
func (n *Node) onRoomPeer(id peer.ID) {
	if n.roomEngine == nil {
		return
	}
	for _, r := range n.joinedRooms() {
		if !r.IsMember(id) {
			continue
		}
		if r.Creator == n.host.ID() {
			// An invitation, not an update: it also reaches a peer invited while offline
			// that had left the room before (it waits for `room join` there).
			n.goRun(func() { n.sendInviteLogged(id, room.Invite{Kind: room.KindInvite, State: r}) })
		}
		n.goRun(func() { n.syncRoomFrom(r.ID, id, n.catchUpSince(r.ID)) })
	}
	n.resendLeft(id)
}

// resendLeft tells a creator again about rooms of theirs we left or declined: the first
// notice may not have reached them. A creator that already knows ignores it.
func (n *Node) resendLeft(creator peer.ID) {
	recs, err := n.store.Rooms(n.ctx)
	if err != nil {
		return
	}
	for _, rec := range recs {
		if rec.Status != archive.RoomLeft {
			continue
		}
		if r, err := room.ParseState(rec.State); err == nil && r.Creator == creator && r.IsMember(n.host.ID()) {
			n.goRun(func() { n.sendInviteLogged(creator, room.Invite{Kind: room.KindLeft, State: room.Room{ID: r.ID}}) })
		}
	}
}

// joinedRooms is the state of every room the engine is in.
func (n *Node) joinedRooms() []room.Room {
	recs, err := n.store.Rooms(n.ctx)
	if err != nil {
		return nil
	}
	var out []room.Room
	for _, rec := range recs {
		if rec.Status != archive.RoomJoined {
			continue
		}
		if id, err := room.ParseID(rec.ID); err == nil {
			if r, ok := n.roomEngine.Room(id); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

// onNewerEpoch runs when a member's post claims a newer epoch than the room's we hold: we
// may have missed a rotation, so we ask the creator for its state instead of waiting for
// it to push one (the room engine may refuse our posts until then). Called from the
// topic's validator: it only starts the ask, at most one per room per few seconds.
func (n *Node) onNewerEpoch(id room.ID, author peer.ID, epoch uint64) {
	r, ok := n.roomEngine.Room(id)
	if !ok || r.Creator == n.host.ID() || !n.limits.asks.Allow(id).Allowed {
		return
	}
	n.log.Debug("asking the room's creator for its state", "room", id, "held", r.Epoch, "claimed", epoch, "by", author)
	n.goRun(func() {
		if err := n.askRoomState(n.ctx, r.Creator, id); err != nil {
			n.log.Info("room creator not asked for the room's state", "room", r.Name, "creator", n.displayName(r.Creator), "err", err)
		}
	})
}

// askRoomState asks a room's creator for its current state and applies the answer as if
// the creator had pushed it.
func (n *Node) askRoomState(ctx context.Context, creator peer.ID, id room.ID) error {
	ctx, cancel := context.WithTimeout(ctx, inviteTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "room state ask"), creator, room.InviteProtocol)
	if err != nil {
		return fmt.Errorf("%s is not reachable: %w", n.displayName(creator), err)
	}
	defer s.Close()
	until := time.Now().Add(inviteTimeout)
	s.SetDeadline(until)
	inv, err := exchangeAsk(s, id, n.frameBudget(creator), until)
	if err != nil {
		s.Reset()
		return fmt.Errorf("ask %s: %w", n.displayName(creator), err)
	}
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	return n.applyInvite(creator, inv)
}

// exchangeAsk writes an ask for room id on s and reads the answer, an update for that
// room, all by until (which a large answer's progress deadline does not pass).
func exchangeAsk(s network.Stream, id room.ID, budget *wire.Budget, until time.Time) (room.Invite, error) {
	if err := room.WriteFrame(s, room.AppendInvite(nil, room.Invite{Kind: room.KindAsk, State: room.Room{ID: id}})); err != nil {
		return room.Invite{}, err
	}
	s.CloseWrite()
	fr := wire.StreamReaderUntil(s, budget, 4096, until)
	defer fr.Release()
	answer, err := fr.Raw().ReadByte()
	switch {
	case err != nil:
		return room.Invite{}, fmt.Errorf("no answer: %w", err)
	case answer != room.InviteOK:
		return room.Invite{}, errors.New("refused (not a member, or asked too often)")
	}
	payload, err := room.ReadFrameFrom(fr, maxInviteFrame)
	if err != nil {
		return room.Invite{}, err
	}
	inv, err := room.ParseInvite(payload)
	if err != nil {
		return room.Invite{}, err
	}
	if inv.Kind != room.KindUpdate || inv.State.ID != id {
		return room.Invite{}, fmt.Errorf("answered with a %s for room %s, not the state of room %s", inv.Kind, inv.State.ID, id)
	}
	return inv, nil
}

// answerAsk answers a member's ask for a room's state: if we created the room and the
// asker is a member now, InviteOK and our current state; else InviteRefused.
func (n *Node) answerAsk(s network.Stream, from peer.ID, id room.ID) {
	defer s.Close()
	r, ok := n.roomEngine.Room(id)
	if !ok || r.Creator != n.host.ID() || !r.IsMember(from) {
		n.log.Debug("room state ask refused", "peer", from, "room", id)
		s.Write([]byte{room.InviteRefused})
		return
	}
	if _, err := s.Write([]byte{room.InviteOK}); err != nil {
		s.Reset()
		return
	}
	if err := room.WriteFrame(s, room.AppendInvite(nil, room.Invite{Kind: room.KindUpdate, State: r})); err != nil {
		s.Reset()
	}
}
