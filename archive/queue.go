package archive

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// These queries spell the states out, rather than binding them, so that
// SQLite can use the partial index messages_waiting. A held message (also
// deposited at the recipient's mailboxes) still waits in the queue.
const (
	queuedQuery = "SELECT " + messageColumns +
		" FROM messages WHERE state IN ('queued', 'held') AND to_peer = ? ORDER BY sent_at, seq"
	queuedRecipientsQuery = "SELECT DISTINCT to_peer FROM messages" +
		" WHERE state IN ('queued', 'held') AND to_peer != '' ORDER BY to_peer"
)

// Queued returns the messages to peer to that wait in state queued or held, in the
// order they were queued: by SentAt, then in the order they were stored.
// The node sends them in this order when the peer is seen again.
func (s *Store) Queued(ctx context.Context, to string) ([]Message, error) {
	return s.queryMessages(ctx, fmt.Sprintf("list messages queued for %q", to), queuedQuery, to)
}

// QueuedRecipients returns, sorted, the peers that queued messages wait
// for (the distinct To of messages in state queued; room messages, whose
// To is empty, are left out).
func (s *Store) QueuedRecipients(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, queuedRecipientsQuery)
	if err != nil {
		return nil, s.wrap(err, "list recipients of queued messages")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var to string
		if err := rows.Scan(&to); err != nil {
			return nil, s.wrap(err, "list recipients of queued messages")
		}
		out = append(out, to)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list recipients of queued messages")
	}
	return out, nil
}

// SetHeld marks the message with key k held at the mailboxes named (peer IDs) until
// `until` (when the last of them deletes it unfetched): deposited there, and still
// queued here until the recipient's receipt. Only a queued message becomes held.
func (s *Store) SetHeld(ctx context.Context, k Key, at []string, until time.Time) error {
	res, err := s.writer.ExecContext(ctx, "UPDATE messages SET state = 'held', held_at = ?, held_until = ?"+keyWhere+" AND state = 'queued'",
		append([]any{strings.Join(at, ","), toNanos(until)}, keyArgs(k)...)...)
	if err != nil {
		return s.wrap(err, "mark message %q held", k.ID)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("mark message %q held: %w", k.ID, ErrNotFound)
	}
	return nil
}

// PutPeerMail records the mailbox details a peer published (opaque to the archive).
func (s *Store) PutPeerMail(ctx context.Context, peerID string, details []byte) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO peer_mail (peer_id, details, updated_at) VALUES (?, ?, ?)
ON CONFLICT (peer_id) DO UPDATE SET details = excluded.details, updated_at = excluded.updated_at`,
		peerID, details, time.Now().UnixNano())
	if err != nil {
		return s.wrap(err, "record the mailboxes of %s", peerID)
	}
	return nil
}

// PeerMail returns every peer's recorded mailbox details.
func (s *Store) PeerMail(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT peer_id, details FROM peer_mail")
	if err != nil {
		return nil, s.wrap(err, "read peers' mailboxes")
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var d []byte
		if err := rows.Scan(&id, &d); err != nil {
			return nil, s.wrap(err, "read peers' mailboxes")
		}
		out[id] = d
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "read peers' mailboxes")
	}
	return out, nil
}

// ReleaseExpiredHolds turns held messages whose mailboxes have let them go (held_until
// before now) back to queued, and returns them as they are now.
func (s *Store) ReleaseExpiredHolds(ctx context.Context, now time.Time) ([]Message, error) {
	msgs, err := s.queryMessages(ctx, "list expired holds", "SELECT "+messageColumns+
		" FROM messages WHERE state = 'held' AND held_until > 0 AND held_until < ? ORDER BY sent_at, seq", toNanos(now))
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, m := range msgs {
		res, err := s.writer.ExecContext(ctx, "UPDATE messages SET state = 'queued', held_at = '', held_until = 0"+keyWhere+" AND state = 'held'", keyArgs(m.Key())...)
		if err != nil {
			return out, s.wrap(err, "release the hold of %q", m.ID)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 { // not delivered meanwhile
			m.State, m.HeldAt = StateQueued, nil
			out = append(out, m)
		}
	}
	return out, nil
}
