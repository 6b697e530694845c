package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/archive"
)

// Defaults of the conversation report: a silence of more than ReportGap ends a session,
// and every session counts at least ReportMinSession, like billing by the started minute.
const (
	ReportGap        = 10 * time.Minute
	ReportMinSession = time.Minute
)

// Export writes the archive (filtered by q) as JSON lines, oldest first.
func (n *Node) Export(ctx context.Context, w io.Writer, q api.HistoryQuery) (int, error) {
	aq, err := n.archiveQuery(q)
	if err != nil {
		return 0, err
	}
	count, err := n.store.Export(ctx, w, aq)
	return count, badRequestIfInvalid(err)
}

// Report is the time spent in conversation per peer; gap ≤ 0 and minSession < 0 take
// the defaults.
func (n *Node) Report(ctx context.Context, since, until time.Time, gap, minSession time.Duration) (api.Report, error) {
	if gap <= 0 {
		gap = ReportGap
	}
	if minSession < 0 {
		minSession = ReportMinSession
	}
	times, err := n.store.Report(ctx, since, until, gap, minSession)
	if err != nil {
		return api.Report{}, badRequestIfInvalid(err)
	}
	r := api.Report{Since: since, Until: until, Gap: gap, MinSession: minSession, Peers: []api.ConversationTime{}}
	for _, t := range times {
		r.Peers = append(r.Peers, api.ConversationTime{
			PeerID: t.Peer, Name: n.nameOf(t.Peer), Sessions: t.Sessions, Messages: t.Messages,
			Duration: t.Duration, First: t.First, Last: t.Last,
		})
	}
	return r, nil
}

// Purge deletes messages sent before `before`; queued messages stay.
func (n *Node) Purge(ctx context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("%w: purge needs a time", api.ErrBadRequest)
	}
	deleted, err := n.store.Purge(ctx, before)
	return deleted, badRequestIfInvalid(err)
}

func (n *Node) archiveQuery(q api.HistoryQuery) (archive.Query, error) {
	aq := archive.Query{Search: q.Search, Since: q.Since, Until: q.Until, Limit: q.Limit}
	if IsRoomRef(q.Peer) {
		r, err := n.knownRoom(context.Background(), q.Peer)
		if err != nil {
			return aq, err
		}
		aq.Room = r
		return aq, nil
	}
	if q.Peer != "" {
		id, err := n.resolve(q.Peer)
		if err != nil {
			return aq, err
		}
		aq.Peer = id.String()
	}
	return aq, nil
}

// nameOf is what a user calls a peer: a contact's nickname, else the name the peer
// stated itself, else the name the contact was added under, else a name discovery
// claimed for it.
func (n *Node) nameOf(peerID string) string {
	id, err := peer.Decode(peerID)
	if err != nil {
		return ""
	}
	c, isContact := n.contacts.get(id)
	if isContact && c.Nickname != "" {
		return c.Nickname
	}
	e, seen := n.peers.get(id)
	if seen && e.ownName {
		return e.name
	}
	if isContact && c.Name != "" {
		return c.Name
	}
	return e.name
}

func badRequestIfInvalid(err error) error {
	if errors.Is(err, archive.ErrInvalid) {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return err
}
