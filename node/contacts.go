package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
	"github.com/parley-im/parley/crypto"
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

// ids lists the contacts in the buddy list that are not blocked.
func (b *contactBook) ids() []peer.ID {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []peer.ID
	for id, c := range b.byID {
		if c.Contact && !c.Blocked {
			out = append(out, id)
		}
	}
	return out
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

// impersonated returns the contact whose nickname or recorded name equals name when id
// is neither in the buddy list nor blocked itself. A contact's row pins its name to its
// peer ID (its key): another peer announcing that name is a possible impersonation and
// is never merged with the contact.
func (b *contactBook) impersonated(id peer.ID, name string) (archive.Contact, bool) {
	if name == "" {
		return archive.Contact{}, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if _, known := b.byID[id]; known {
		return archive.Contact{}, false
	}
	for other, c := range b.byID {
		if other != id && c.Contact && (strings.EqualFold(c.Nickname, name) || strings.EqualFold(c.Name, name)) {
			return c, true
		}
	}
	return archive.Contact{}, false
}

// peerWarning is what `parley peers` shows beside a peer that announces a contact's name.
func (n *Node) peerWarning(id peer.ID, name string) string {
	c, ok := n.contacts.impersonated(id, name)
	if !ok {
		return ""
	}
	return fmt.Sprintf("possible impersonation: announces the name %q of your contact %s, with another key; "+
		"messages from it are not from them", name, c.PeerID)
}

// contactWarning is what `parley contacts ls` shows beside a contact whose name other
// peers announce.
func (n *Node) contactWarning(id peer.ID, c archive.Contact) string {
	var others []string
	for _, name := range []string{c.Nickname, c.Name} {
		if name == "" {
			continue // peers not named yet are nobody's impostors
		}
		for _, other := range n.peers.byName(name) {
			if _, known := n.contacts.get(other); !known && other != id && !slices.Contains(others, other.String()) {
				others = append(others, other.String())
			}
		}
	}
	if len(others) == 0 {
		return ""
	}
	return fmt.Sprintf("possible impersonation: %s announce this contact's name with another key; "+
		"compare safety numbers with `parley contacts verify`", strings.Join(others, ", "))
}

// checkImpersonation logs and publishes a peer that announces a contact's name. The
// caller calls it when the name it knows for id changed.
func (n *Node) checkImpersonation(id peer.ID, name string) {
	c, ok := n.contacts.impersonated(id, name)
	if !ok {
		return
	}
	n.log.Warn("possible impersonation: a peer that is not your contact announces a contact's name",
		"name", name, "peer", id.String(), "contact", c.PeerID)
	n.publishPeer(id)
	if cid, err := peer.Decode(c.PeerID); err == nil {
		n.publishPeer(cid)
	}
}

// Verification is what the user compares with id's user (in person, by phone): both
// fingerprints and the safety number, which both sides compute identically.
func (n *Node) Verification(ctx context.Context, who string) (api.Verification, error) {
	id, err := n.resolve(who)
	if err != nil {
		return api.Verification{}, err
	}
	if id == n.host.ID() {
		return api.Verification{}, fmt.Errorf("%w: that peer is you", api.ErrBadRequest)
	}
	theirs, err := id.ExtractPublicKey()
	if err != nil {
		return api.Verification{}, fmt.Errorf("%w: the key of %s cannot be read from its peer ID: %v", api.ErrBadRequest, id, err)
	}
	v := api.Verification{PeerID: id.String(), Ours: n.fingerprint}
	if v.Fingerprint, err = crypto.Fingerprint(theirs); err != nil {
		return api.Verification{}, err
	}
	if v.SafetyNumber, err = crypto.SafetyNumber(n.cfg.Identity.Key.GetPublic(), theirs); err != nil {
		return api.Verification{}, err
	}
	if c, err := n.store.Contact(ctx, id.String()); err == nil {
		v.Name, v.Verified = c.DisplayName(), c.Verified
	}
	if e, ok := n.peers.get(id); ok && v.Name == "" {
		v.Name = e.name
	}
	return v, nil
}

// Verify marks a contact verified: the user compared the safety number with them.
func (n *Node) Verify(ctx context.Context, who string) (api.Verification, error) {
	n.touch()
	v, err := n.Verification(ctx, who)
	if err != nil {
		return api.Verification{}, err
	}
	if err := n.store.SetVerified(ctx, v.PeerID, true); err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			return api.Verification{}, fmt.Errorf("%w: %s is not a contact: add it first with `parley contacts add`", api.ErrNotFound, who)
		}
		return api.Verification{}, err
	}
	id, _ := peer.Decode(v.PeerID)
	if c, err := n.store.Contact(ctx, v.PeerID); err == nil {
		n.contacts.put(id, c)
	}
	n.log.Info("contact verified", "peer", n.displayName(id))
	v.Verified = true
	return v, nil
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
		Verified: c.Verified, DisplayName: n.nameOf(c.PeerID),
	}
	id, err := peer.Decode(c.PeerID)
	if err == nil && c.Contact {
		ac.Warning = n.contactWarning(id, c)
	}
	if err == nil && !c.Blocked {
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
	n.updateProtection(id)
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
	n.updateProtection(id) // still protected if the user wrote to it
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
	n.updateProtection(id)
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
