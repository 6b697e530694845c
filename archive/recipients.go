package archive

import "context"

// recipientsQuery lists the peers the user wrote to: the distinct To of outgoing direct
// messages, whatever their state (room messages have no To).
const recipientsQuery = "SELECT DISTINCT to_peer FROM messages" +
	" WHERE direction = 'out' AND room = '' AND to_peer != '' ORDER BY to_peer"

// Recipients returns, sorted, the peer IDs the user has sent a direct message to (and
// that are still in the archive: a message purged by retention no longer counts). The
// node treats them as known people, not strangers.
func (s *Store) Recipients(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, recipientsQuery)
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
