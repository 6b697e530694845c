package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/node/dm"
)

// Strangers are the peers the user did not choose: neither contacts nor people the user
// wrote to (a direct message, or files). Peer IDs are free, so anything a stranger gets
// per identity a crowd gets many times over; what strangers may store is therefore one
// budget for all of them together: strangerMessages direct messages and strangerBytes
// bytes (text, ID and name) at once, refilling evenly over an hour. A message over it is
// refused with dm.ReasonStrangers and stays queued at its sender, which retries. Known
// peers never draw on it, and only they are protected from connection trimming. With no
// limit on messages (`up --message-rate 0`) there is no share either.
const (
	strangerMessages = 200
	strangerBytes    = 1 << 20
)

// newStrangerBudget is the strangers' shared budget.
func newStrangerBudget() *ratelimit.Budget {
	return ratelimit.NewBudget(ratelimit.BudgetConfig{Events: strangerMessages, Bytes: strangerBytes})
}

// peerSet is a set of peer IDs, safe for concurrent use.
type peerSet struct {
	mu  sync.RWMutex
	ids map[peer.ID]struct{}
}

func (s *peerSet) add(id peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[peer.ID]struct{})
	}
	s.ids[id] = struct{}{}
}

func (s *peerSet) has(id peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.ids[id]
	return ok
}

// isKnown reports whether the user chose id: a contact, or a peer the user wrote to.
func (n *Node) isKnown(id peer.ID) bool {
	return n.contacts.isContact(id) || n.wroteTo.has(id)
}

// updateProtection protects id's connections from trimming if it is known and not
// blocked, and unprotects them otherwise.
func (n *Node) updateProtection(id peer.ID) {
	if n.isKnown(id) && !n.blocked.has(id) {
		n.connMgr.Protect(id, protectTag)
		return
	}
	n.connMgr.Unprotect(id, protectTag)
}

// noteWrittenTo records that the user wrote to id: from now on it is known.
func (n *Node) noteWrittenTo(id peer.ID) {
	n.wroteTo.add(id)
	n.updateProtection(id)
}

// loadKnown fills the set of peers written to from the archive (so it survives
// restarts) and protects those and the contacts.
func (n *Node) loadKnown(ctx context.Context) error {
	ids, err := n.store.Recipients(ctx, n.host.ID().String())
	if err != nil {
		return fmt.Errorf("load the peers written to: %w", err)
	}
	for _, s := range ids {
		if id, err := peer.Decode(s); err == nil {
			n.wroteTo.add(id)
			n.updateProtection(id)
		}
	}
	for _, id := range n.contacts.ids() {
		n.updateProtection(id)
	}
	return nil
}

// admitStranger charges a message from a stranger to the strangers' budget; a known
// sender pays nothing. It returns what gives the charge back (for a message that stores
// nothing, a duplicate), or an error wrapping dm.ErrInboxFull when the budget is used up.
func (n *Node) admitStranger(from peer.ID, m dm.Message) (refund func(), err error) {
	if n.limits.strangers == nil || n.isKnown(from) {
		return func() {}, nil
	}
	size := int64(len(m.ID) + len(m.Text) + len(m.FromName))
	d := n.limits.strangers.Take(size)
	if d.Allowed {
		return func() { n.limits.strangers.Refund(size) }, nil
	}
	if d.FirstRefusal() {
		n.log.Warn("the strangers' share is used up: refusing direct messages from peers that are neither contacts nor written to, for now; their senders keep them queued and retry",
			"peer", from, "share", fmt.Sprintf("%d messages, %d bytes an hour", strangerMessages, strangerBytes),
			"refused so far", n.limits.strangers.Refused())
	}
	return nil, fmt.Errorf("message %s from %s, a stranger: %w", m.ID, from, dm.ErrInboxFull)
}
