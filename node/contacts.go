package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
)

// contactBook caches the archive's contacts in memory: transfers ask IsContact, name
// resolution looks nicknames up, and the gater asks about blocking on every connection.
type contactBook struct {
	mu   sync.RWMutex
	byID map[peer.ID]archive.Contact
}

func (b *contactBook) load(cs []archive.Contact) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byID = make(map[peer.ID]archive.Contact, len(cs))
	for _, c := range cs {
		if id, err := peer.Decode(c.PeerID); err == nil {
			b.byID[id] = c
		}
	}
}

func (b *contactBook) put(id peer.ID, c archive.Contact) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byID[id] = c
}

func (b *contactBook) remove(id peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byID, id)
}

func (b *contactBook) get(id peer.ID) (archive.Contact, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	c, ok := b.byID[id]
	return c, ok
}

// isContact reports whether id is in the buddy list (and not blocked).
func (b *contactBook) isContact(id peer.ID) bool {
	c, ok := b.get(id)
	return ok && c.Contact && !c.Blocked
}

// byName returns contacts whose nickname or announced name equals name, ignoring case.
func (b *contactBook) byName(name string) []peer.ID {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ids []peer.ID
	for id, c := range b.byID {
		if c.Contact && (strings.EqualFold(c.Nickname, name) || strings.EqualFold(c.Name, name)) {
			ids = append(ids, id)
		}
	}
	return ids
}

// loadContacts fills the contact book and the block list from the archive.
func (n *Node) loadContacts(ctx context.Context) error {
	cs, err := n.store.Contacts(ctx)
	if err != nil {
		return fmt.Errorf("load contacts: %w", err)
	}
	n.contacts.load(cs)
	for _, c := range cs {
		if id, err := peer.Decode(c.PeerID); err == nil && c.Blocked {
			n.blocked.set(id, true)
		}
	}
	return nil
}

// Contacts lists the buddy list and blocked peers with their presence.
func (n *Node) Contacts(ctx context.Context) ([]api.Contact, error) {
	cs, err := n.store.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Contact, len(cs))
	for i, c := range cs {
		out[i] = n.apiContact(c)
	}
	return out, nil
}

func (n *Node) apiContact(c archive.Contact) api.Contact {
	ac := api.Contact{
		PeerID: c.PeerID, Nickname: c.Nickname, Name: c.Name, Group: c.Group,
		Contact: c.Contact, Blocked: c.Blocked, AddedAt: c.AddedAt, Presence: api.PresenceOffline,
	}
	if id, err := peer.Decode(c.PeerID); err == nil && !c.Blocked {
		if e, ok := n.peers.get(id); ok {
			p := n.apiPeer(e)
			ac.Presence, ac.Status = p.Presence, p.Status
			if ac.Name == "" {
				ac.Name = e.name
			}
		}
	}
	return ac
}

// AddContact puts a peer (ID or the name of a peer seen) in the buddy list, or changes
// its nickname and group.
func (n *Node) AddContact(ctx context.Context, req api.ContactRequest) (api.Contact, error) {
	n.touch()
	id, err := n.resolve(req.Peer)
	if err != nil {
		return api.Contact{}, err
	}
	if id == n.host.ID() {
		return api.Contact{}, fmt.Errorf("%w: that peer is you", api.ErrBadRequest)
	}
	c, err := n.store.Contact(ctx, id.String())
	if errors.Is(err, archive.ErrNotFound) {
		c = archive.Contact{PeerID: id.String(), AddedAt: time.Now().UTC()}
	} else if err != nil {
		return api.Contact{}, err
	}
	c.Contact = true
	if req.Nickname != "" {
		c.Nickname = req.Nickname
	}
	if req.Group != "" {
		c.Group = req.Group
	}
	if e, ok := n.peers.get(id); ok && e.name != "" {
		c.Name = e.name
	}
	return n.saveContact(ctx, id, c)
}

func (n *Node) saveContact(ctx context.Context, id peer.ID, c archive.Contact) (api.Contact, error) {
	if err := n.store.PutContact(ctx, c); err != nil {
		if errors.Is(err, archive.ErrInvalid) {
			return api.Contact{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		return api.Contact{}, err
	}
	n.contacts.put(id, c)
	n.connMgr.Protect(id, protectTag)
	return n.apiContact(c), nil
}

// RemoveContact takes a peer off the buddy list (a block stays).
func (n *Node) RemoveContact(ctx context.Context, who string) error {
	id, err := n.resolve(who)
	if err != nil {
		return err
	}
	if err := n.store.RemoveContact(ctx, id.String()); err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return fmt.Errorf("%w: %s is not a contact", api.ErrNotFound, who)
		}
		return err
	}
	if c, err := n.store.Contact(ctx, id.String()); err == nil {
		n.contacts.put(id, c)
	} else {
		n.contacts.remove(id)
	}
	return nil
}

// SetBlocked blocks or unblocks a peer. A blocked peer's connections are closed at
// once and refused from then on; it no longer sees our presence.
func (n *Node) SetBlocked(ctx context.Context, who string, blocked bool) (api.Contact, error) {
	id, err := n.resolve(who)
	if err != nil {
		return api.Contact{}, err
	}
	if id == n.host.ID() {
		return api.Contact{}, fmt.Errorf("%w: that peer is you", api.ErrBadRequest)
	}
	if err := n.store.SetBlocked(ctx, id.String(), blocked); err != nil {
		return api.Contact{}, err
	}
	n.blocked.set(id, blocked)
	c, err := n.store.Contact(ctx, id.String())
	switch {
	case errors.Is(err, archive.ErrNotFound): // unblocked a peer that was not a contact
		n.contacts.remove(id)
		c = archive.Contact{PeerID: id.String()}
	case err != nil:
		return api.Contact{}, err
	default:
		n.contacts.put(id, c)
	}
	if blocked {
		n.log.Info("blocked peer; closing its connections", "peer", n.displayName(id))
		n.host.Network().ClosePeer(id)
	} else {
		n.dialAsync(id) // if it is around, talk again (and send what was queued)
	}
	n.publishPeer(id)
	return n.apiContact(c), nil
}

// gater refuses every connection to or from a blocked peer, before any protocol runs.
type gater struct{ blocked *blockList }

func (g gater) InterceptPeerDial(p peer.ID) bool { return !g.blocked.has(p) }

func (g gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

func (g gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.blocked.has(p)
}

func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
