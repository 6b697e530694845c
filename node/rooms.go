package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/room"
)

// Rooms: a node keeps the rooms it is in (and invitations waiting for `room join`) in
// the archive, runs a room.Engine on a gossipsub router for their messages, hands room
// state to members over the invite protocol (roominvite.go) and fills gaps over the
// sync protocol (roomsync.go).

// roomPrefix starts a room reference where a peer is expected: send '#ops' ...
const roomPrefix = "#"

// IsRoomRef reports whether `to` names a room ("#" and a room's name or ID).
func IsRoomRef(to string) bool { return strings.HasPrefix(strings.TrimSpace(to), roomPrefix) }

// startRooms starts gossipsub and the room engine and joins the rooms stored as joined.
func (n *Node) startRooms() error {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithFloodPublish(true), // the first messages after a join are not lost (LIBP2P-NOTES)
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(room.MaxEnvelope+4096),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	n.roomEngine = room.NewEngine(ps, n.host.ID(), room.Config{
		OnMessage:    n.onRoomMessage,
		OnNewerEpoch: n.onNewerEpoch,
		Blocked:      n.isBlocked,
		Key:          n.cfg.Identity.Key,
		Logger:       n.log.With("part", "rooms"),
		Now:          n.cfg.RoomClock,
	})
	n.host.SetStreamHandler(room.InviteProtocol, n.serveInvite)
	n.host.SetStreamHandler(room.SyncProtocol, n.serveSync)
	stored, err := n.store.Rooms(n.ctx)
	if err != nil {
		return err
	}
	for _, rec := range stored {
		if rec.Status != archive.RoomJoined {
			continue
		}
		r, err := room.ParseState(rec.State)
		if err != nil {
			n.log.Error("stored room is damaged; skipped", "room", rec.ID, "err", err)
			continue
		}
		if err := n.roomEngine.Join(r); err != nil {
			return fmt.Errorf("rejoin room %s: %w", rec.Name, err)
		}
		n.seedLamport(r.ID)
	}
	n.goRun(func() { n.every(roomSyncEvery, n.syncRoomsPeriodically) })
	return nil
}

// onRoomMessage stores an accepted room message and tells clients about it once.
func (n *Node) onRoomMessage(id room.ID, m room.Message) {
	msg := n.archiveRoomMessage(id, m)
	inserted, err := n.store.Put(n.ctx, msg)
	if err != nil {
		n.log.Error("room message not stored", "room", id, "err", err)
		return
	}
	if !inserted {
		return
	}
	n.publishMessage(api.EventMessage, msg)
	if msg.Direction == archive.Incoming {
		n.hooks.onMessage(n.apiMessage(msg))
	}
}

func (n *Node) archiveRoomMessage(id room.ID, m room.Message) archive.Message {
	msg := archive.Message{
		ID: m.ID.String(), From: m.Author.String(), FromName: n.nameOf(m.Author.String()), Room: id.String(),
		Text: m.Text, SentAt: m.Clock.UTC(), Direction: archive.Incoming, State: archive.StateReceived,
		Lamport: m.Lamport, Sig: m.Sig,
	}
	if _, forged := n.contacts.impersonated(m.Author, msg.FromName); forged {
		msg.FromName = "" // shown by its peer ID instead
	}
	if m.Author == n.host.ID() {
		msg.Direction, msg.State = archive.Outgoing, archive.StateSent
	} else {
		msg.ReceivedAt = time.Now().UTC()
	}
	return msg
}

// sendToRoom publishes text in a room. The result is delivered when the message went to
// at least one other member, queued when none is connected (they fetch it by sync).
func (n *Node) sendToRoom(ctx context.Context, ref, text string) (api.SendResult, error) {
	n.touch()
	r, err := n.joinedRoom(ctx, ref)
	if err != nil {
		return api.SendResult{}, err
	}
	if strings.TrimSpace(text) == "" {
		return api.SendResult{}, fmt.Errorf("%w: the text is empty", ErrBadMessage)
	}
	m, err := n.roomEngine.Publish(ctx, r.ID, text)
	switch {
	case errors.Is(err, room.ErrNotAllowed):
		return api.SendResult{}, fmt.Errorf("%w: only the owners post in the announcement room %q", ErrBadMessage, r.Name)
	case errors.Is(err, room.ErrTooLarge):
		return api.SendResult{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	case errors.Is(err, room.ErrKeyOutOfDate):
		return api.SendResult{}, fmt.Errorf("%w: not sent: the key of room %q changed (someone was removed) and this node has not received the new one; "+
			"it has asked the room's creator for it (%v); send again once it arrives, or in at most %v if the creator does not answer", api.ErrBadRequest, r.Name, err, room.DefaultClaimHold)
	case err != nil:
		return api.SendResult{}, err
	}
	msg := n.archiveRoomMessage(r.ID, m)
	msg.State = archive.StateQueued
	if len(n.roomEngine.Peers(r.ID)) > 0 {
		msg.State = archive.StateDelivered
	}
	inserted, err := n.store.Put(ctx, msg)
	if err != nil {
		return api.SendResult{}, fmt.Errorf("archive the message: %w", err)
	}
	kind := api.EventMessage
	if !inserted { // the engine stored it first, as sent
		kind = api.EventState
		if err := n.store.SetState(ctx, msg.Key(), msg.State); err != nil {
			return api.SendResult{}, err
		}
	}
	n.publishMessage(kind, msg)
	return api.SendResult{Message: n.apiMessage(msg)}, nil
}

// Rooms lists the rooms we are in and the invitations waiting for `room join`.
func (n *Node) Rooms(ctx context.Context) (api.RoomList, error) {
	recs, err := n.store.Rooms(ctx)
	if err != nil {
		return api.RoomList{}, err
	}
	out := api.RoomList{Rooms: []api.Room{}, Invites: []api.RoomInvite{}}
	for _, rec := range recs {
		switch rec.Status {
		case archive.RoomJoined:
			id, err := room.ParseID(rec.ID)
			if err != nil {
				continue
			}
			if r, ok := n.roomEngine.Room(id); ok {
				out.Rooms = append(out.Rooms, n.apiRoom(r))
			}
		case archive.RoomPending:
			if inv, err := n.apiInvite(rec); err == nil {
				out.Invites = append(out.Invites, inv)
			}
		}
	}
	return out, nil
}

// CreateRoom makes a room owned by this node, with a fresh key, and joins it.
func (n *Node) CreateRoom(ctx context.Context, req api.RoomCreateRequest) (api.Room, error) {
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(req.Name), roomPrefix))
	if err := room.ValidateName(name); err != nil {
		return api.Room{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	for _, r := range n.joinedRooms() {
		if r.Name == name {
			return api.Room{}, fmt.Errorf("%w: you are already in a room named %q; choose another name", ErrBadMessage, name)
		}
	}
	r, err := room.New(name, n.host.ID(), req.Announce)
	if err != nil {
		return api.Room{}, err
	}
	if err := n.saveRoom(ctx, r, archive.RoomJoined, ""); err != nil {
		return api.Room{}, err
	}
	if err := n.roomEngine.Join(r); err != nil {
		return api.Room{}, err
	}
	n.log.Info("room created", "room", r.Name, "id", r.ID, "announce", r.Announce)
	return n.publishRoom(r), nil
}

// InviteToRoom adds a peer to a room we own and hands it the room: now if it is
// reachable, else when it next connects.
func (n *Node) InviteToRoom(ctx context.Context, ref, who string) (api.Room, error) {
	id, err := n.resolve(who)
	if err != nil {
		return api.Room{}, err
	}
	next, err := n.addMember(ctx, ref, id)
	if err != nil {
		return api.Room{}, err
	}
	n.log.Info("room invite", "room", next.Name, "peer", n.displayName(id))
	if err := n.sendInvite(ctx, id, room.Invite{Kind: room.KindInvite, State: next}); err != nil {
		n.log.Info("invite not delivered now; it goes out when the peer connects", "peer", n.displayName(id), "err", err)
	}
	n.pushRoomState(next, id)
	return n.publishRoom(next), nil
}

// addMember adds id to a room we own, as a new version of its state.
func (n *Node) addMember(ctx context.Context, ref string, id peer.ID) (room.Room, error) {
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	r, err := n.ownedRoom(ctx, ref)
	if err != nil {
		return room.Room{}, err
	}
	switch {
	case id == n.host.ID():
		return room.Room{}, fmt.Errorf("%w: you are already in %q", ErrBadMessage, r.Name)
	case len(r.Members) >= room.MaxMembers:
		return room.Room{}, fmt.Errorf("%w: %q has the most members a room can have (%d)", ErrBadMessage, r.Name, room.MaxMembers)
	}
	next := r.Clone()
	next.Members[id] = struct{}{}
	next.Version++
	return next, n.updateRoom(ctx, next)
}

// JoinRoom accepts a pending invitation.
func (n *Node) JoinRoom(ctx context.Context, idText string) (api.Room, error) {
	idText, err := n.inviteID(ctx, idText)
	if err != nil {
		return api.Room{}, err
	}
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	id, err := room.ParseID(idText)
	if err != nil {
		return api.Room{}, fmt.Errorf("%w: %v: give the ID `parley room ls` shows", ErrBadMessage, err)
	}
	rec, err := n.store.GetRoom(ctx, id.String())
	if errors.Is(err, archive.ErrNotFound) || (err == nil && rec.Status == archive.RoomLeft) {
		return api.Room{}, fmt.Errorf("%w: no invitation to room %s; ask a room owner to invite you", api.ErrNotFound, id)
	}
	if err != nil {
		return api.Room{}, err
	}
	if r, ok := n.roomEngine.Room(id); ok {
		return n.apiRoom(r), nil
	}
	r, err := room.ParseState(rec.State)
	if err != nil {
		return api.Room{}, fmt.Errorf("stored invitation to %s is damaged: %w", id, err)
	}
	inviter, _ := peer.Decode(rec.Inviter)
	return n.joinRoom(ctx, r, inviter)
}

// inviteID is the room ID that text names: the ID itself, or the one pending
// invitation whose ID starts with text or whose room is named text ('#' optional).
func (n *Node) inviteID(ctx context.Context, text string) (string, error) {
	text = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), roomPrefix))
	if _, err := room.ParseID(text); err == nil || text == "" {
		return text, nil
	}
	recs, err := n.store.Rooms(ctx)
	if err != nil {
		return "", err
	}
	var matches []string
	labels := map[string]string{}
	for _, rec := range recs {
		if rec.Status == archive.RoomPending && (strings.HasPrefix(rec.ID, strings.ToLower(text)) || strings.EqualFold(rec.Name, text)) {
			matches = append(matches, rec.ID)
			labels[rec.ID] = rec.ID + " (#" + rec.Name + ")"
		}
	}
	return uniqueMatch("pending invitation", text, matches, labels, "`parley room ls`")
}

// DeclineRoom turns down a pending invitation: it is kept as left (so the creator's
// later updates are ignored) and the creator is told, which takes us off the room.
func (n *Node) DeclineRoom(ctx context.Context, idText string) (api.RoomInvite, error) {
	idText, err := n.inviteID(ctx, idText)
	if err != nil {
		return api.RoomInvite{}, err
	}
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	id, err := room.ParseID(idText)
	if err != nil {
		return api.RoomInvite{}, fmt.Errorf("%w: %v: give the ID `parley room ls` shows", ErrBadMessage, err)
	}
	rec, err := n.store.GetRoom(ctx, id.String())
	if err != nil || rec.Status != archive.RoomPending {
		return api.RoomInvite{}, fmt.Errorf("%w: no pending invitation to room %s (see `parley room ls`)", api.ErrNotFound, id)
	}
	inv, err := n.apiInvite(rec)
	if err != nil {
		return api.RoomInvite{}, err
	}
	r, err := room.ParseState(rec.State)
	if err != nil {
		return api.RoomInvite{}, err
	}
	if err := n.saveRoom(ctx, r, archive.RoomLeft, rec.Inviter); err != nil {
		return api.RoomInvite{}, err
	}
	n.goRun(func() { n.sendInviteLogged(r.Creator, room.Invite{Kind: room.KindLeft, State: room.Room{ID: r.ID}}) })
	n.log.Info("room invitation declined", "room", r.Name, "id", r.ID)
	n.publishLeft(r)
	return inv, nil
}

// joinRoom stores r as joined, starts taking its messages and catches up from the
// inviter and the members connected now.
func (n *Node) joinRoom(ctx context.Context, r room.Room, inviter peer.ID) (api.Room, error) {
	if err := n.saveRoom(ctx, r, archive.RoomJoined, inviter.String()); err != nil {
		return api.Room{}, err
	}
	if err := n.roomEngine.Join(r); err != nil && !errors.Is(err, room.ErrJoined) {
		return api.Room{}, err
	}
	n.seedLamport(r.ID)
	n.log.Info("joined room", "room", r.Name, "id", r.ID, "invited_by", n.displayName(inviter))
	n.goRun(func() { n.catchUpAfterJoin(r.ID, inviter) })
	return n.publishRoom(r), nil
}

// LeaveRoom leaves a room; its owners are told, and rotate the key without us.
func (n *Node) LeaveRoom(ctx context.Context, ref string) (api.Room, error) {
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	r, err := n.joinedRoom(ctx, ref)
	if err != nil {
		return api.Room{}, err
	}
	if r.Creator == n.host.ID() && len(r.Members) > 1 {
		return api.Room{}, fmt.Errorf("%w: you made %q and only you can add or remove its members, so it would be stuck without you: "+
			"remove the others first (`parley room remove %s PEER`), then leave", ErrBadMessage, r.Name, r.Name)
	}
	if err := n.roomEngine.Leave(r.ID); err != nil && !errors.Is(err, room.ErrNotJoined) {
		return api.Room{}, err
	}
	if err := n.saveRoom(ctx, r, archive.RoomLeft, ""); err != nil {
		return api.Room{}, err
	}
	if creator := r.Creator; creator != n.host.ID() {
		n.goRun(func() { n.sendInviteLogged(creator, room.Invite{Kind: room.KindLeft, State: room.Room{ID: r.ID}}) })
	}
	n.log.Info("left room", "room", r.Name, "id", r.ID)
	return n.publishLeft(r), nil
}

// publishLeft tells clients we are no longer in r: the room as it stands, without us.
func (n *Node) publishLeft(r room.Room) api.Room {
	r = r.Clone()
	delete(r.Members, n.host.ID())
	delete(r.Owners, n.host.ID())
	out := n.apiRoom(r)
	n.events.publish(api.Event{Type: api.EventRoom, Time: time.Now(), Room: &out})
	return out
}

// RemoveFromRoom removes a member from a room we own and rotates the key: the removed
// member cannot read what is sent afterwards.
func (n *Node) RemoveFromRoom(ctx context.Context, ref, who string) (api.Room, error) {
	n.roomMu.Lock()
	defer n.roomMu.Unlock()
	r, err := n.ownedRoom(ctx, ref)
	if err != nil {
		return api.Room{}, err
	}
	id, err := n.resolveMember(r, who)
	if err != nil {
		return api.Room{}, err
	}
	if id == n.host.ID() {
		return api.Room{}, fmt.Errorf("%w: to leave %q yourself, use `parley room leave`", ErrBadMessage, r.Name)
	}
	return n.removeMember(ctx, r, id)
}

func (n *Node) removeMember(ctx context.Context, r room.Room, id peer.ID) (api.Room, error) {
	next, err := n.roomEngine.Rotate(r.ID, id)
	if err != nil {
		return api.Room{}, err
	}
	if err := n.saveRoom(ctx, next, archive.RoomJoined, ""); err != nil {
		return api.Room{}, err
	}
	n.log.Info("room member removed; key rotated", "room", r.Name, "peer", n.displayName(id), "epoch", next.Epoch)
	n.pushRoomState(next, "")
	// The removed member learns it was removed from the epoch it already holds, without
	// it: the old key, never the new one.
	notice := r.Clone()
	delete(notice.Members, id)
	delete(notice.Owners, id)
	notice.Version = next.Version
	n.goRun(func() { n.sendInviteLogged(id, room.Invite{Kind: room.KindUpdate, State: notice}) })
	return n.publishRoom(next), nil
}

// resolveMember finds a member by peer ID or name, also one no longer seen.
func (n *Node) resolveMember(r room.Room, who string) (peer.ID, error) {
	if id, err := peer.Decode(strings.TrimSpace(who)); err == nil && r.IsMember(id) {
		return id, nil
	}
	var found []peer.ID
	for m := range r.Members {
		if strings.EqualFold(n.nameOf(m.String()), strings.TrimSpace(who)) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%w %q: not a member of %q; see `parley room ls`", ErrUnknownPeer, who, r.Name)
	}
	return "", fmt.Errorf("%w %q in %q: use the peer ID", ErrAmbiguousPeer, who, r.Name)
}

// updateRoom makes next the room's state, in the engine and the archive.
func (n *Node) updateRoom(ctx context.Context, next room.Room) error {
	if err := n.roomEngine.Update(next); err != nil {
		return err
	}
	rec, _ := n.store.GetRoom(ctx, next.ID.String())
	return n.saveRoom(ctx, next, archive.RoomJoined, rec.Inviter)
}

func (n *Node) saveRoom(ctx context.Context, r room.Room, status archive.RoomStatus, inviter string) error {
	return n.store.PutRoom(context.WithoutCancel(ctx), archive.Room{
		ID: r.ID.String(), Name: r.Name, Status: status, Inviter: inviter,
		UpdatedAt: time.Now(), State: room.AppendState(nil, r),
	})
}

// joinedRoom finds a joined room by "#name", name, or ID (or a unique ID prefix).
func (n *Node) joinedRoom(ctx context.Context, ref string) (room.Room, error) {
	ref = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ref), roomPrefix))
	if ref == "" {
		return room.Room{}, fmt.Errorf("%w: no room named", ErrBadMessage)
	}
	recs, err := n.store.Rooms(ctx)
	if err != nil {
		return room.Room{}, err
	}
	var byName, byID []room.Room
	for _, rec := range recs {
		if rec.Status != archive.RoomJoined {
			continue
		}
		id, err := room.ParseID(rec.ID)
		if err != nil {
			continue
		}
		r, ok := n.roomEngine.Room(id)
		if !ok {
			continue
		}
		if r.Name == ref {
			byName = append(byName, r)
		}
		if strings.HasPrefix(rec.ID, strings.ToLower(ref)) && len(ref) >= 6 {
			byID = append(byID, r)
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return room.Room{}, fmt.Errorf("%w: you are in %d rooms named %q: use the room's ID (`parley room ls`)", ErrBadMessage, len(byName), ref)
	case len(byID) == 1:
		return byID[0], nil
	}
	return room.Room{}, fmt.Errorf("%w: you are in no room %q; see `parley room ls`", api.ErrNotFound, ref)
}

// ownedRoom is joinedRoom for the changes only owners may make.
func (n *Node) ownedRoom(ctx context.Context, ref string) (room.Room, error) {
	r, err := n.joinedRoom(ctx, ref)
	if err != nil {
		return room.Room{}, err
	}
	if r.Creator != n.host.ID() {
		return room.Room{}, fmt.Errorf("%w: only %s, who made %q, invites and removes its members; ask them", ErrBadMessage, n.displayName(r.Creator), r.Name)
	}
	return r, nil
}

func (n *Node) publishRoom(r room.Room) api.Room {
	out := n.apiRoom(r)
	n.events.publish(api.Event{Type: api.EventRoom, Time: time.Now(), Room: &out})
	return out
}

func (n *Node) apiRoom(r room.Room) api.Room {
	out := api.Room{
		ID: r.ID.String(), Name: r.Name, Announce: r.Announce, Epoch: r.Epoch,
		Owner: r.IsOwner(n.host.ID()), Members: []api.RoomMember{},
	}
	for _, m := range sortedPeers(r.Members) {
		presence := api.PresenceOffline
		if m == n.host.ID() {
			presence = n.Presence().Presence
		} else if e, ok := n.peers.get(m); ok {
			presence = n.apiPeer(e).Presence
		}
		name := n.nameOf(m.String())
		if m == n.host.ID() {
			name = n.cfg.Identity.Name
		}
		out.Members = append(out.Members, api.RoomMember{PeerID: m.String(), Name: name, Owner: r.IsOwner(m), Presence: presence})
	}
	return out
}

func (n *Node) apiInvite(rec archive.Room) (api.RoomInvite, error) {
	r, err := room.ParseState(rec.State)
	if err != nil {
		return api.RoomInvite{}, err
	}
	return api.RoomInvite{
		ID: rec.ID, Name: rec.Name, From: rec.Inviter, FromName: n.nameOf(rec.Inviter),
		Announce: r.Announce, Members: len(r.Members), ReceivedAt: rec.UpdatedAt,
	}, nil
}

// knownRoom is the ID of a room referred to by "#name" or ID among every room stored,
// also ones we left, whose history stays readable.
func (n *Node) knownRoom(ctx context.Context, ref string) (string, error) {
	if r, err := n.joinedRoom(ctx, ref); err == nil {
		return r.ID.String(), nil
	}
	name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ref), roomPrefix))
	recs, err := n.store.Rooms(ctx)
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.Status != archive.RoomPending && (rec.Name == name || rec.ID == strings.ToLower(name)) {
			return rec.ID, nil
		}
	}
	return "", fmt.Errorf("%w: no room %q; see `parley room ls`", api.ErrNotFound, name)
}

// roomName is a room's name, for messages shown to clients.
func (n *Node) roomName(id string) string {
	if rid, err := room.ParseID(id); err == nil && n.roomEngine != nil {
		if r, ok := n.roomEngine.Room(rid); ok {
			return r.Name
		}
	}
	if rec, err := n.store.GetRoom(n.ctx, id); err == nil {
		return rec.Name
	}
	return ""
}

// markRoomRead marks a room's received messages read. Rooms send no read receipts.
func (n *Node) markRoomRead(ctx context.Context, ref string) (int, error) {
	id, err := n.knownRoom(ctx, ref)
	if err != nil {
		return 0, err
	}
	msgs, err := n.store.List(ctx, archive.Query{Room: id, Limit: maxUnread})
	if err != nil {
		return 0, err
	}
	marked := 0
	for _, m := range msgs {
		if m.Direction == archive.Incoming && m.State == archive.StateReceived {
			if err := n.store.SetState(ctx, m.Key(), archive.StateRead); err != nil {
				return marked, err
			}
			marked++
		}
	}
	return marked, nil
}

// sortedPeers returns the set's peers in a stable order.
func sortedPeers(set map[peer.ID]struct{}) []peer.ID {
	out := make([]peer.ID, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// sharesRoom reports whether id is a member of a room we are in.
func (n *Node) sharesRoom(id peer.ID) bool {
	if n.roomEngine == nil {
		return false
	}
	for _, r := range n.joinedRooms() {
		if r.IsMember(id) {
			return true
		}
	}
	return false
}

// seedLamport raises a joined room's Lamport counter to the highest in the archive, so
// that after a restart our next message is ordered after what we have seen.
func (n *Node) seedLamport(id room.ID) {
	if l, err := n.store.MaxRoomLamport(n.ctx, id.String()); err == nil {
		n.roomEngine.SeedLamport(id, l)
	}
}
