package archive

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Query selects messages for List. Zero fields do not filter.
type Query struct {
	Peer   string    // if set: direct messages From or To this peer ID (a conversation)
	Room   string    // if set: the messages of this room ID, in the room's order
	Search string    // if set: messages containing every word of it (see the package doc)
	Since  time.Time // if non-zero: SentAt >= Since
	Until  time.Time // if non-zero: SentAt < Until
	Limit  int       // 0 = DefaultLimit; the newest Limit matches, returned oldest first
}

// DefaultLimit is how many messages List returns when Query.Limit is 0.
const DefaultLimit = 100

// List returns the newest q.Limit messages matching q, oldest first
// (by SentAt, then by the order they were stored).
func (s *Store) List(ctx context.Context, q Query) ([]Message, error) {
	query, args, err := buildList(q)
	if err != nil {
		return nil, err
	}
	return s.queryMessages(ctx, "list messages", query, args...)
}

// queryMessages runs a query that selects messageColumns and returns its
// messages; what says what failed in an error.
func (s *Store) queryMessages(ctx context.Context, what, query string, args ...any) ([]Message, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "%s", what)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, s.wrap(err, "%s", what)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "%s", what)
	}
	return out, nil
}

// buildList turns q into SQL: the inner SELECT picks the newest matches,
// the outer one puts them oldest first.
func buildList(q Query) (string, []any, error) {
	where, args, err := listConditions(q)
	if err != nil {
		return "", nil, err
	}
	limit, err := listLimit(q.Limit)
	if err != nil {
		return "", nil, err
	}
	order, reverse := "sent_at, seq", "sent_at DESC, seq DESC"
	if q.Room != "" {
		order, reverse = roomOrder, roomOrderDesc
	}
	query := "SELECT " + messageColumns + " FROM (" +
		"SELECT seq, " + messageColumns + " FROM messages" + where +
		" ORDER BY " + reverse + " LIMIT ?" +
		") ORDER BY " + order
	return query, append(args, limit), nil
}

func listLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("%w: list limit %d is negative", ErrInvalid, limit)
	case limit == 0:
		return DefaultLimit, nil
	}
	return limit, nil
}

// listConditions returns the WHERE clause (or "") for q and its arguments.
func listConditions(q Query) (string, []any, error) {
	var conds []string
	var args []any
	if q.Peer != "" {
		conds = append(conds, "(from_peer = ? OR to_peer = ?) AND room = ''")
		args = append(args, q.Peer, q.Peer)
	}
	if q.Room != "" {
		conds = append(conds, "room = ?")
		args = append(args, q.Room)
	}
	if !q.Since.IsZero() {
		conds = append(conds, "sent_at >= ?")
		args = append(args, toNanos(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "sent_at < ?")
		args = append(args, toNanos(q.Until))
	}
	if strings.TrimSpace(q.Search) != "" {
		match, err := matchExpr(q.Search)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, "seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)")
		args = append(args, match)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// matchExpr turns user words into an FTS5 query that matches messages
// containing all of them, each as the start of a word: "hel" finds "hello".
// Each word becomes an FTS5 string ("..." with " doubled) followed by the
// prefix marker *; inside a string FTS5 reads no operators, so no input can
// cause an FTS5 syntax error. Words without a letter or digit would become
// empty phrases after tokenizing and are dropped.
func matchExpr(search string) (string, error) {
	var phrases []string
	for _, w := range searchWords(search) {
		if hasWordChar(w) {
			phrases = append(phrases, `"`+strings.ReplaceAll(w, `"`, `""`)+`"*`)
		}
	}
	if len(phrases) == 0 {
		return "", fmt.Errorf("%w: search %q has no letters or digits to look for", ErrInvalid, search)
	}
	return strings.Join(phrases, " "), nil
}

// searchWords splits search at spaces and control characters (a NUL would
// end the FTS5 query early); invalid UTF-8 also separates words.
func searchWords(search string) []string {
	clean := strings.ToValidUTF8(search, " ")
	return strings.FieldsFunc(clean, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	})
}

func hasWordChar(w string) bool {
	return strings.IndexFunc(w, func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsNumber(r)
	}) >= 0
}
