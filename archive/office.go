package archive

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// purgeBatch is how many messages one transaction of Purge deletes.
const purgeBatch = 1000

// Purge deletes the messages sent before before (SentAt < before) with
// their entries in the full-text index, and returns how many it deleted.
// Queued messages are never deleted: they have not reached their
// recipient yet. A message with no SentAt counts as sent at the Unix epoch.
//
// It deletes purgeBatch messages per transaction, so a message arriving
// meanwhile waits for one batch rather than for the whole purge. If ctx
// ends or a batch fails, the batches already done stay deleted and their
// count is returned with the error.
//
// The file does not shrink and need not be vacuumed: SQLite reuses the
// freed pages for the messages that come later, and FTS5 drops the deleted
// entries from its index as it merges segments.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	if before.IsZero() {
		return 0, fmt.Errorf("%w: purge needs a time to purge messages before", ErrInvalid)
	}
	return s.purge(ctx, before, purgeBatch)
}

// purgeSelect picks the next batch for Purge. state != 'queued' is spelled
// out so that the query plan is fixed (see TestQueriesUseIndexes).
const purgeSelect = "SELECT seq FROM messages WHERE sent_at < ? AND state NOT IN ('queued', 'held') LIMIT ?"

// purge is Purge with the batch size as a parameter, for tests.
func (s *Store) purge(ctx context.Context, before time.Time, batch int64) (int64, error) {
	var total int64
	for {
		res, err := s.writer.ExecContext(ctx,
			"DELETE FROM messages WHERE seq IN ("+purgeSelect+")", toNanos(before), batch)
		if err != nil {
			return total, s.wrap(err, "purge messages sent before %v (%d purged)", before, total)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.wrap(err, "purge messages sent before %v (%d purged)", before, total)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// Export writes the messages that match q to w as JSON lines, one Message
// per line, oldest first (by SentAt, then in the order they were stored).
// q.Peer, q.Since, q.Until and q.Search filter as in List; q.Limit is
// ignored: every match is written. It returns how many messages it wrote.
//
// Export reads through one cursor, so its memory use does not grow with
// the archive, and sees the archive as it was when it began (one read
// transaction): messages stored meanwhile are left out. While it runs,
// SQLite cannot reset the -wal file, which grows with the writes made
// meanwhile and is reclaimed after.
func (s *Store) Export(ctx context.Context, w io.Writer, q Query) (int, error) {
	where, args, err := listConditions(q)
	if err != nil {
		return 0, err
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT "+messageColumns+" FROM messages"+where+" ORDER BY sent_at, seq", args...)
	if err != nil {
		return 0, s.wrap(err, "export messages")
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return n, s.wrap(err, "export messages")
		}
		if err := enc.Encode(m); err != nil {
			return n, fmt.Errorf("export messages: write: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, s.wrap(err, "export messages")
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export messages: write: %w", err)
	}
	return n, nil
}

// ConversationTime is the time spent in conversation with one peer; see
// Report.
type ConversationTime struct {
	Peer     string        `json:"peer"` // the other party's peer ID
	Sessions int           `json:"sessions"`
	Messages int           `json:"messages"`
	Duration time.Duration `json:"duration_ns"`
	First    time.Time     `json:"first"` // SentAt of the first message counted
	Last     time.Time     `json:"last"`  // SentAt of the last message counted
}

// Report returns the time spent in conversation with each peer between
// since and until, as businesses bill client time. The rule:
//
//   - The messages that count are direct messages (Room ""), in both
//     directions and in any state, with a SentAt in [since, until); a zero
//     since or until does not limit. The peer is To for a message we sent
//     and From for one we received. Messages without a SentAt are skipped.
//   - A peer's messages, in time order, are split into sessions wherever
//     two consecutive ones are more than gap apart (exactly gap apart
//     stays one session).
//   - A session lasts from its first message to its last, plus minSession:
//     like billing by the started minute, a session of a single message
//     still counts as minSession.
//   - A peer's Duration is the sum of its sessions.
//
// For example, messages at 0, 2, 4, 60 and 61 minutes, with gap 10 minutes
// and minSession 1 minute, make 2 sessions lasting (4+1) + (1+1) = 7
// minutes.
//
// Only the messages inside the window count, so a conversation that
// straddles since or until is cut there; and conversations with different
// peers may overlap, so the Durations can add up to more than the time
// that passed. The result is ordered by Duration, longest first, then by
// peer ID. A negative gap or minSession is rejected with ErrInvalid.
func (s *Store) Report(ctx context.Context, since, until time.Time, gap, minSession time.Duration) ([]ConversationTime, error) {
	if gap < 0 || minSession < 0 {
		return nil, fmt.Errorf("%w: report gap %v and minimum session %v must not be negative", ErrInvalid, gap, minSession)
	}
	query, args := reportQuery(since, until)
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(err, "report conversation time")
	}
	defer rows.Close()
	r := reporter{gap: gap, minSession: minSession, peers: map[string]*peerTime{}}
	for rows.Next() {
		var peer string
		var sent int64
		if err := rows.Scan(&peer, &sent); err != nil {
			return nil, s.wrap(err, "report conversation time")
		}
		r.add(peer, fromNanos(sent))
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "report conversation time")
	}
	return r.result(), nil
}

// reportQuery selects (peer, sent_at) of the messages Report counts, in
// time order, so the sessions of all peers are built in one pass.
func reportQuery(since, until time.Time) (string, []any) {
	conds := []string{"room = ''", "sent_at != 0", "peer != ''"}
	var args []any
	if !since.IsZero() {
		conds = append(conds, "sent_at >= ?")
		args = append(args, toNanos(since))
	}
	if !until.IsZero() {
		conds = append(conds, "sent_at < ?")
		args = append(args, toNanos(until))
	}
	return "SELECT CASE direction WHEN 'out' THEN to_peer ELSE from_peer END AS peer, sent_at" +
		" FROM messages WHERE " + strings.Join(conds, " AND ") + " ORDER BY sent_at, seq", args
}

// reporter applies Report's rule to messages fed to it in time order.
type reporter struct {
	gap, minSession time.Duration
	peers           map[string]*peerTime
}

// peerTime is one peer's total so far and its open session.
type peerTime struct {
	ConversationTime
	start time.Time // the open session's first message
}

func (r *reporter) add(peer string, t time.Time) {
	p := r.peers[peer]
	switch {
	case p == nil:
		p = &peerTime{ConversationTime: ConversationTime{Peer: peer, Sessions: 1, First: t}, start: t}
		r.peers[peer] = p
	case t.Sub(p.Last) > r.gap:
		r.closeSession(p)
		p.Sessions++
		p.start = t
	}
	p.Messages++
	p.Last = t
}

func (r *reporter) closeSession(p *peerTime) {
	p.Duration += p.Last.Sub(p.start) + r.minSession
}

func (r *reporter) result() []ConversationTime {
	out := make([]ConversationTime, 0, len(r.peers))
	for _, p := range r.peers {
		r.closeSession(p)
		out = append(out, p.ConversationTime)
	}
	slices.SortFunc(out, func(a, b ConversationTime) int {
		return cmp.Or(cmp.Compare(b.Duration, a.Duration), cmp.Compare(a.Peer, b.Peer))
	})
	return out
}
