package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// RoomStatus says whether we are in a room or only invited to it.
type RoomStatus string

// The statuses a stored room can have.
const (
	RoomJoined  RoomStatus = "joined"
	RoomPending RoomStatus = "pending" // invited by someone who is not a contact: waits for `room join`
	RoomLeft    RoomStatus = "left"    // we left: updates pushed by owners are ignored, a new invite is not
)

// Room is a stored room: its encoded state (ID, name, key, epoch, members; see
// room.AppendState) and how we relate to it.
type Room struct {
	ID        string // room ID, 32 hex digits
	Name      string
	Status    RoomStatus
	Inviter   string // peer ID of who invited us ("" for rooms we made)
	UpdatedAt time.Time
	SyncedAt  time.Time // our clock when a catch-up from a member last completed (PutRoom keeps it)
	State     []byte    // room.AppendState; holds the room key: the archive file is 0600
}

// roomOrder is the order every member shows a room's messages in: Lamport counter,
// author clock, author, message ID. The room sync protocol pages in the same order.
const (
	roomOrder     = "lamport, sent_at, from_peer, id"
	roomOrderDesc = "lamport DESC, sent_at DESC, from_peer DESC, id DESC"
)

// OrderKey is a room message's place in roomOrder as one string that sorts in byte
// order (clients sort by it, and so show a room as every member does): the Lamport
// counter and the author clock (Unix ns, shifted so times before 1970 sort first) as
// fixed-width decimals, then the author and the ID, each after a space, which sorts
// below every character of a peer ID. Direct messages have none ("").
func (m Message) OrderKey() string {
	if m.Room == "" {
		return ""
	}
	clock := uint64(toNanos(m.SentAt)) ^ 1<<63
	return fmt.Sprintf("%020d %020d %s %s", min(m.Lamport, math.MaxInt64), clock, m.From, m.ID)
}

// PutRoom stores r, replacing what was stored for its ID.
func (s *Store) PutRoom(ctx context.Context, r Room) error {
	if r.ID == "" || len(r.State) == 0 || (r.Status != RoomJoined && r.Status != RoomPending && r.Status != RoomLeft) {
		return fmt.Errorf("%w: room %q needs an ID, a state and a status of joined, pending or left", ErrInvalid, r.ID)
	}
	_, err := s.writer.ExecContext(ctx, `
INSERT INTO rooms (id, name, status, inviter, updated_at, state) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status,
	inviter = excluded.inviter, updated_at = excluded.updated_at, state = excluded.state`,
		r.ID, r.Name, string(r.Status), r.Inviter, toNanos(r.UpdatedAt), r.State)
	if err != nil {
		return s.wrap(err, "store room %q", r.ID)
	}
	return nil
}

// Rooms returns every stored room, by name.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.reader.QueryContext(ctx,
		"SELECT id, name, status, inviter, updated_at, synced_at, state FROM rooms ORDER BY name, id")
	if err != nil {
		return nil, s.wrap(err, "list rooms")
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, s.wrap(err, "list rooms")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list rooms")
	}
	return out, nil
}

// GetRoom returns the stored room with this ID, or ErrNotFound.
func (s *Store) GetRoom(ctx context.Context, id string) (Room, error) {
	row := s.reader.QueryRowContext(ctx,
		"SELECT id, name, status, inviter, updated_at, synced_at, state FROM rooms WHERE id = ?", id)
	r, err := scanRoom(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, fmt.Errorf("room %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Room{}, s.wrap(err, "get room %q", id)
	}
	return r, nil
}

func scanRoom(row scanner) (Room, error) {
	var r Room
	var updated, synced int64
	if err := row.Scan(&r.ID, &r.Name, &r.Status, &r.Inviter, &updated, &synced, &r.State); err != nil {
		return Room{}, err
	}
	r.UpdatedAt, r.SyncedAt = fromNanos(updated), fromNanos(synced)
	return r, nil
}

// DeleteRoom forgets a room (its messages stay in the archive); no error if it is not there.
func (s *Store) DeleteRoom(ctx context.Context, id string) error {
	if _, err := s.writer.ExecContext(ctx, "DELETE FROM rooms WHERE id = ?", id); err != nil {
		return s.wrap(err, "delete room %q", id)
	}
	return nil
}

// RoomCursor is a position in a room's order (see roomOrder); the zero cursor is
// before every message.
type RoomCursor struct {
	Lamport uint64
	SentAt  time.Time
	From    string
	ID      string
}

// RoomMessagesAfter returns up to limit messages of a room that come after cursor in
// the room's order and were sent at or after since (zero: any time), in that order.
func (s *Store) RoomMessagesAfter(ctx context.Context, room string, since time.Time, after RoomCursor, limit int) ([]Message, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: room page limit %d", ErrInvalid, limit)
	}
	return s.queryMessages(ctx, "list room messages", "SELECT "+messageColumns+
		" FROM messages WHERE room = ? AND sent_at >= ? AND (lamport, sent_at, from_peer, id) > (?, ?, ?, ?)"+
		" ORDER BY "+roomOrder+" LIMIT ?",
		room, toNanos(since), int64(after.Lamport), toNanos(after.SentAt), after.From, after.ID, limit)
}

// LatestRoomMessage returns the sending time of the newest message of a room, zero if
// it has none.
func (s *Store) LatestRoomMessage(ctx context.Context, room string) (time.Time, error) {
	var latest sql.NullInt64
	err := s.reader.QueryRowContext(ctx, "SELECT max(sent_at) FROM messages WHERE room = ?", room).Scan(&latest)
	if err != nil {
		return time.Time{}, s.wrap(err, "latest message of room %q", room)
	}
	return fromNanos(latest.Int64), nil
}

// SetRoomSynced records that a catch-up of the room completed at t.
func (s *Store) SetRoomSynced(ctx context.Context, id string, t time.Time) error {
	if _, err := s.writer.ExecContext(ctx, "UPDATE rooms SET synced_at = max(synced_at, ?) WHERE id = ?", toNanos(t), id); err != nil {
		return s.wrap(err, "record the sync of room %q", id)
	}
	return nil
}

// MaxRoomLamport is the highest Lamport counter among a room's messages (0 if none).
func (s *Store) MaxRoomLamport(ctx context.Context, room string) (uint64, error) {
	var l sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, "SELECT max(lamport) FROM messages WHERE room = ?", room).Scan(&l); err != nil {
		return 0, s.wrap(err, "highest Lamport counter of room %q", room)
	}
	return uint64(max(l.Int64, 0)), nil
}
