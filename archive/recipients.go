package archive

import "context"

// recipientsQuery lists the peers the user wrote to: the distinct To of outgoing direct
// messages, whatever their state (room messages have no To). It walks the distinct
// to_peer values of the messages_to_sent index one seek each, rather than every message,
// so it costs one step per peer, not per message; the user's own ID (the To of every
// incoming message) is skipped.
const recipientsQuery = `
WITH RECURSIVE peers(p) AS (
	SELECT MIN(to_peer) FROM messages WHERE to_peer > ''
	UNION ALL
	SELECT (SELECT MIN(to_peer) FROM messages WHERE to_peer > peers.p) FROM peers WHERE peers.p IS NOT NULL
)
SELECT p FROM peers WHERE p IS NOT NULL AND p != ?1 AND EXISTS (
	SELECT 1 FROM messages WHERE to_peer = p AND direction = 'out' AND room = ''
) ORDER BY p`

// Recipients returns, sorted, the peer IDs that the user, self, has sent a direct
// message to (and that are still in the archive: a message purged by retention no
// longer counts). The node treats them as known people, not strangers.
func (s *Store) Recipients(ctx context.Context, self string) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, recipientsQuery, self)
	if err != nil {
		return nil, s.wrap(err, "list the peers written to")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var to string
		if err := rows.Scan(&to); err != nil {
			return nil, s.wrap(err, "list the peers written to")
		}
		out = append(out, to)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list the peers written to")
	}
	return out, nil
}
