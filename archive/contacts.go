package archive

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Contact is a person in the buddy list, or a blocked peer.
type Contact struct {
	PeerID   string    `json:"peer_id"`
	Nickname string    `json:"nickname,omitempty"` // what the user calls them; empty: use Name
	Name     string    `json:"name,omitempty"`     // the display name they last announced
	Group    string    `json:"group,omitempty"`    // user-defined: "work", "family"; empty = ungrouped
	Contact  bool      `json:"contact"`            // in the buddy list (false for a peer that is only blocked)
	Blocked  bool      `json:"blocked"`
	AddedAt  time.Time `json:"added_at"` // when it entered the buddy list (or was blocked, if only blocked)
	// Verified: the user compared this peer's safety number (SetVerified); PutContact
	// leaves it as stored.
	Verified   bool      `json:"verified"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// DisplayName is the name to show for c: the nickname, else the announced
// name, else the peer ID.
func (c Contact) DisplayName() string {
	switch {
	case c.Nickname != "":
		return c.Nickname
	case c.Name != "":
		return c.Name
	}
	return c.PeerID
}

// Limits on a contact's fields, in bytes.
const (
	MaxPeerIDLen = 128
	MaxLabelLen  = 64 // nickname, group and announced name, as crypto.MaxNameLen
)

func (c Contact) validate() error {
	if err := validPeerID(c.PeerID); err != nil {
		return err
	}
	if !c.Contact && !c.Blocked {
		return fmt.Errorf("%w: contact %q is neither in the buddy list nor blocked: use RemoveContact to forget a peer", ErrInvalid, c.PeerID)
	}
	err := cmp.Or(validLabel("nickname", c.Nickname), validLabel("group", c.Group), validName(c.Name))
	if err != nil {
		return fmt.Errorf("contact %q: %w", c.PeerID, err)
	}
	if err := checkStorable("added_at", c.AddedAt); err != nil {
		return fmt.Errorf("contact %q: %w", c.PeerID, err)
	}
	return nil
}

// validPeerID accepts what a peer ID string can be: 1 to MaxPeerIDLen bytes
// of UTF-8 without spaces or control characters.
func validPeerID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: no peer ID", ErrInvalid)
	case len(id) > MaxPeerIDLen:
		return fmt.Errorf("%w: peer ID of %d bytes is longer than %d", ErrInvalid, len(id), MaxPeerIDLen)
	case !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%w: peer ID %q has spaces, control characters or invalid UTF-8", ErrInvalid, id)
	}
	return nil
}

// validLabel accepts a nickname or group, which the user types: at most
// MaxLabelLen bytes of UTF-8 without control characters (so it cannot
// break a line of `contacts ls` or a terminal).
func validLabel(field, value string) error {
	if err := validName(value); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if strings.IndexFunc(value, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %s %q has control characters", ErrInvalid, field, value)
	}
	return nil
}

// validName accepts an announced display name by the rule names travel
// under (node/profile.go): at most MaxLabelLen bytes of UTF-8. Control
// characters are let through: the peer chose them, refusing them would
// refuse the contact, and clients escape names when they show them.
func validName(name string) error {
	switch {
	case len(name) > MaxLabelLen:
		return fmt.Errorf("%w: name of %d bytes is longer than %d", ErrInvalid, len(name), MaxLabelLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name %q is not UTF-8", ErrInvalid, name)
	}
	return nil
}

// putContact upserts a contact. On an existing row, an empty name keeps
// the recorded one, and added_at changes only when the caller gave one
// (?8) or the peer is joining the buddy list now. In an UPDATE's SET,
// contacts.* are the values before the update.
const putContact = `
INSERT INTO contacts (peer_id, nickname, name, group_name, contact, blocked, added_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (peer_id) DO UPDATE SET
	nickname = excluded.nickname,
	name = CASE WHEN excluded.name = '' THEN contacts.name ELSE excluded.name END,
	group_name = excluded.group_name,
	added_at = CASE
		WHEN ? THEN excluded.added_at
		WHEN contacts.contact = 0 AND excluded.contact = 1 THEN excluded.added_at
		ELSE contacts.added_at
	END,
	contact = excluded.contact,
	blocked = excluded.blocked`

// PutContact adds c or replaces the stored contact with the same PeerID.
// It replaces every field but two: an empty Name keeps the name the peer
// last announced (see SetContactName), and a zero AddedAt means now for a
// peer joining the buddy list and keeps the stored time otherwise. A
// contact that is neither in the buddy list nor blocked, a PeerID that is
// empty, longer than MaxPeerIDLen or has spaces, a Nickname or Group
// longer than MaxLabelLen or with control characters, and a Name longer
// than MaxLabelLen or not UTF-8 are rejected with ErrInvalid.
func (s *Store) PutContact(ctx context.Context, c Contact) error {
	if err := c.validate(); err != nil {
		return err
	}
	explicit := !c.AddedAt.IsZero()
	added := c.AddedAt
	if !explicit {
		added = s.now()
	}
	_, err := s.writer.ExecContext(ctx, putContact,
		c.PeerID, c.Nickname, c.Name, c.Group, c.Contact, c.Blocked, toNanos(added), explicit)
	if err != nil {
		return s.wrap(err, "store contact %q", c.PeerID)
	}
	return nil
}

const contactColumns = "peer_id, nickname, name, group_name, contact, blocked, added_at, verified, verified_at"

func scanContact(row scanner) (Contact, error) {
	var c Contact
	var added, verifiedAt int64
	err := row.Scan(&c.PeerID, &c.Nickname, &c.Name, &c.Group, &c.Contact, &c.Blocked, &added, &c.Verified, &verifiedAt)
	if err != nil {
		return Contact{}, err
	}
	c.AddedAt = fromNanos(added)
	if c.Verified {
		c.VerifiedAt = fromNanos(verifiedAt)
	}
	return c, nil
}

// Contact returns the stored row for peerID, which may be a peer that is
// only blocked (Contact false), or ErrNotFound.
func (s *Store) Contact(ctx context.Context, peerID string) (Contact, error) {
	row := s.reader.QueryRowContext(ctx, "SELECT "+contactColumns+" FROM contacts WHERE peer_id = ?", peerID)
	c, err := scanContact(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("contact %q: %w", peerID, ErrNotFound)
	}
	if err != nil {
		return Contact{}, s.wrap(err, "get contact %q", peerID)
	}
	return c, nil
}

// Contacts returns the buddy list and the blocked peers, ordered by Group
// (ungrouped first), then by DisplayName, both case-insensitively, then by
// PeerID. Filter on Contact and Blocked for one or the other.
func (s *Store) Contacts(ctx context.Context) ([]Contact, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT "+contactColumns+" FROM contacts")
	if err != nil {
		return nil, s.wrap(err, "list contacts")
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, s.wrap(err, "list contacts")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list contacts")
	}
	slices.SortFunc(out, compareContacts)
	return out, nil
}

// compareContacts orders by group and display name case-insensitively
// (SQLite's NOCASE folds only ASCII, hence in Go). Groups that differ only
// in case stay apart, each in one piece; the peer ID settles the rest.
func compareContacts(a, b Contact) int {
	return cmp.Or(
		cmp.Compare(strings.ToLower(a.Group), strings.ToLower(b.Group)),
		cmp.Compare(a.Group, b.Group),
		cmp.Compare(strings.ToLower(a.DisplayName()), strings.ToLower(b.DisplayName())),
		cmp.Compare(a.PeerID, b.PeerID),
	)
}

// RemoveContact takes peerID off the buddy list. A blocked peer stays
// blocked: its row is kept with Contact false. ErrNotFound if peerID is
// not in the buddy list.
func (s *Store) RemoveContact(ctx context.Context, peerID string) error {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = execCount(ctx, tx,
			"DELETE FROM contacts WHERE peer_id = ? AND contact = 1 AND blocked = 0", peerID)
		if err != nil || n > 0 {
			return err
		}
		n, err = execCount(ctx, tx,
			"UPDATE contacts SET contact = 0, verified = 0, verified_at = 0 WHERE peer_id = ? AND contact = 1", peerID)
		return err
	})
	if err != nil {
		return s.wrap(err, "remove contact %q", peerID)
	}
	if n == 0 {
		return fmt.Errorf("remove contact %q: %w", peerID, ErrNotFound)
	}
	return nil
}

// SetBlocked blocks or unblocks peerID. Blocking a peer that has no row
// creates one with Contact false; unblocking a peer that is only blocked
// removes its row, and unblocking a contact keeps it in the buddy list.
// Unblocking a peer that is not blocked does nothing.
func (s *Store) SetBlocked(ctx context.Context, peerID string, blocked bool) error {
	if err := validPeerID(peerID); err != nil {
		return err
	}
	var err error
	if blocked {
		_, err = s.writer.ExecContext(ctx, `
INSERT INTO contacts (peer_id, contact, blocked, added_at) VALUES (?, 0, 1, ?)
ON CONFLICT (peer_id) DO UPDATE SET blocked = 1`, peerID, toNanos(s.now()))
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "DELETE FROM contacts WHERE peer_id = ? AND contact = 0", peerID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE contacts SET blocked = 0 WHERE peer_id = ?", peerID)
			return err
		})
	}
	if err != nil {
		return s.wrap(err, "set blocked=%t for %q", blocked, peerID)
	}
	return nil
}

// SetContactName records the display name peerID announced, if peerID has
// a row (a contact or a blocked peer); otherwise it does nothing. A name
// longer than MaxLabelLen or not UTF-8 is rejected with ErrInvalid.
func (s *Store) SetContactName(ctx context.Context, peerID, name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("contact %q: %w", peerID, err)
	}
	_, err := s.writer.ExecContext(ctx, "UPDATE contacts SET name = ? WHERE peer_id = ?", name, peerID)
	if err != nil {
		return s.wrap(err, "record the name of contact %q", peerID)
	}
	return nil
}

// SetVerified records that the user compared peerID's safety number (or takes that
// back). Only a contact in the buddy list can be verified: ErrNotFound otherwise.
func (s *Store) SetVerified(ctx context.Context, peerID string, verified bool) error {
	if err := validPeerID(peerID); err != nil {
		return err
	}
	var at int64
	if verified {
		at = toNanos(s.now())
	}
	res, err := s.writer.ExecContext(ctx,
		"UPDATE contacts SET verified = ?, verified_at = ? WHERE peer_id = ? AND contact = 1", verified, at, peerID)
	if err != nil {
		return s.wrap(err, "set verified=%t for %q", verified, peerID)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("verify %q: %w (add it to the buddy list first)", peerID, ErrNotFound)
	}
	return nil
}

// inTx runs f in a write transaction (immediate, see dsn) and commits if f
// returns nil.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execCount runs a statement and returns how many rows it changed.
func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
