package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
)

// offlineArchive is the archive of a node that is not running, opened read-only, so
// `parley history` works without `parley up`. It names peers as well as the archive
// alone can: contacts (nickname, else name), then the name on their newest message.
type offlineArchive struct {
	store    *archive.Store
	contacts []archive.Contact
	senders  map[string]string // peer ID → name on its newest message
	rooms    []archive.Room
}

// openOffline opens HOME/archive.db read-only; why is the error that sent us here
// (the node is not running), kept in what is returned on failure.
func openOffline(ctx context.Context, home string, why error) (*offlineArchive, error) {
	s, err := archive.OpenReadOnly(filepath.Join(home, "archive.db"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (it has not run in this home yet, so there is no archive to read)", why)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; reading its archive instead failed: %w", why, err)
	}
	o := &offlineArchive{store: s}
	if o.contacts, err = s.Contacts(ctx); err == nil {
		if o.senders, err = s.SenderNames(ctx); err == nil {
			o.rooms, err = s.Rooms(ctx)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return o, nil
}

func (o *offlineArchive) Close() error { return o.store.Close() }

// History is Node.History over the archive alone.
func (o *offlineArchive) History(ctx context.Context, q api.HistoryQuery) ([]api.Message, error) {
	aq := archive.Query{Search: q.Search, Since: q.Since, Until: q.Until, Limit: q.Limit}
	var err error
	if strings.HasPrefix(strings.TrimSpace(q.Peer), "#") {
		aq.Room, err = o.room(q.Peer)
	} else if q.Peer != "" {
		aq.Peer, err = o.peer(strings.TrimSpace(q.Peer))
	}
	if err != nil {
		return nil, err
	}
	msgs, err := o.store.List(ctx, aq)
	if err != nil {
		return nil, err
	}
	out := make([]api.Message, len(msgs))
	for i, m := range msgs {
		out[i] = o.apiMessage(m)
	}
	return out, nil
}

// peer resolves a peer ID or a name the archive knows.
func (o *offlineArchive) peer(who string) (string, error) {
	var ids []string
	for _, c := range o.contacts {
		if c.PeerID == who {
			return who, nil
		}
		if c.Contact && (strings.EqualFold(c.Nickname, who) || strings.EqualFold(c.Name, who)) {
			ids = append(ids, c.PeerID)
		}
	}
	if _, ok := o.senders[who]; ok {
		return who, nil
	}
	if len(ids) == 0 {
		for id, name := range o.senders {
			if strings.EqualFold(name, who) {
				ids = append(ids, id)
			}
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		if looksLikePeerID(who) {
			return who, nil // perhaps someone we only wrote to
		}
		return "", fmt.Errorf("unknown peer %q: no contact or sender of that name in the archive (with the node stopped, only those are known; use the peer ID)", who)
	}
	return "", fmt.Errorf("ambiguous peer %q (%s): use the peer ID instead", who, strings.Join(ids, ", "))
}

// looksLikePeerID accepts the base58 forms of libp2p peer IDs (12D3KooW…, Qm…) without
// importing libp2p: an ID that is wrong only finds no messages.
func looksLikePeerID(s string) bool {
	return len(s) >= 46 && (strings.HasPrefix(s, "12D3KooW") || strings.HasPrefix(s, "Qm"))
}

func (o *offlineArchive) room(ref string) (string, error) {
	name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ref), "#"))
	for _, r := range o.rooms {
		if r.Status != archive.RoomPending && (r.Name == name || r.ID == strings.ToLower(name)) {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no room %q in the archive; see `parley room ls` once the node runs", name)
}

func (o *offlineArchive) nameOf(id string) string {
	for _, c := range o.contacts {
		if c.PeerID == id && c.Contact {
			return orDefault(c.Nickname, orDefault(o.senders[id], c.Name))
		}
	}
	return o.senders[id]
}

func (o *offlineArchive) apiMessage(m archive.Message) api.Message {
	am := api.Message{
		ID: m.ID, Key: m.Key().String(), From: m.From, FromName: m.FromName, To: m.To, Room: m.Room, Text: m.Text,
		SentAt: m.SentAt, ReceivedAt: m.ReceivedAt, Direction: string(m.Direction), State: string(m.State),
	}
	switch {
	case m.Room != "":
		for _, r := range o.rooms {
			if r.ID == m.Room {
				am.RoomName = r.Name
			}
		}
	case m.Direction == archive.Outgoing:
		am.ToName = o.nameOf(m.To)
	}
	return am
}
