package archive

import (
	"context"
	"fmt"
)

// These queries spell state = 'queued' out, rather than binding it, so
// that SQLite can use the partial index messages_queued.
const (
	queuedQuery = "SELECT " + messageColumns +
		" FROM messages WHERE state = 'queued' AND to_peer = ? ORDER BY sent_at, seq"
	queuedRecipientsQuery = "SELECT DISTINCT to_peer FROM messages" +
		" WHERE state = 'queued' AND to_peer != '' ORDER BY to_peer"
)

// Queued returns the messages to peer to that wait in state queued, in the
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
