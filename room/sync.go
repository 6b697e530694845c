package room

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// SyncProtocol is the libp2p protocol on which a member asks another member for room
// messages it may have missed: request frames answered by page frames, each page
// continuing after the last message of the one before.
const SyncProtocol = "/parley/sync/1.0.0"

// Sync limits.
const (
	MaxSyncPage      = 100     // messages in one page
	MaxSyncPageBytes = 1 << 20 // bytes of one encoded page
	MaxSyncRequest   = 512     // bytes of one encoded request
)

// Cursor marks a place in a room's history in Compare order: that of the last message a
// page held. The zero Cursor is before every message.
type Cursor struct {
	Lamport uint64
	Clock   time.Time
	Author  peer.ID
	ID      MessageID
}

// CursorOf is the cursor right at m: the next page starts after m.
func CursorOf(m Message) Cursor {
	return Cursor{Lamport: m.Lamport, Clock: m.Clock, Author: m.Author, ID: m.ID}
}

// IsZero reports whether c is the zero cursor, before every message.
func (c Cursor) IsZero() bool {
	return c.Lamport == 0 && c.Clock.IsZero() && c.Author == "" && c.ID == MessageID{}
}

// Before reports whether m comes strictly after c in Compare order.
func (c Cursor) Before(m Message) bool {
	if c.IsZero() {
		return true
	}
	at := Message{ID: c.ID, Author: c.Author, Clock: c.Clock, Lamport: c.Lamport}
	return Compare(at, m) < 0
}

// SyncRequest asks for a room's messages, in Compare order, that come strictly after
// After and whose author clock is at or after Since (the zero time: all).
type SyncRequest struct {
	Room  ID
	Since time.Time
	After Cursor
	Limit int // messages wanted, 1..MaxSyncPage; 0 means MaxSyncPage
}

// SyncPage answers a SyncRequest: messages in Compare order, each in full with its
// author's signature; More says that more messages follow the last one.
type SyncPage struct {
	Messages []Message
	More     bool
}

// AppendSyncRequest appends r's protobuf encoding to b. A zero Since, a zero After and a
// zero Limit are not written.
//
//	1 room  bytes   16 bytes
//	2 since varint  Unix nanoseconds
//	3 after bytes   cursor: 1 lamport varint, 2 clock varint (Unix ns), 3 author bytes, 4 id bytes
//	4 limit varint
func AppendSyncRequest(b []byte, r SyncRequest) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Room[:])
	if !r.Since.IsZero() {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.Since.UnixNano()))
	}
	if !r.After.IsZero() {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, appendCursor(nil, r.After))
	}
	if r.Limit != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.Limit))
	}
	return b
}

func appendCursor(b []byte, c Cursor) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, c.Lamport)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(c.Clock.UnixNano()))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, string(c.Author))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, c.ID[:])
}

// ParseSyncRequest decodes and validates a request, refusing more than MaxSyncRequest
// bytes before decoding. A missing Limit comes back as MaxSyncPage. Errors wrap
// ErrTooLarge or ErrMalformed.
func ParseSyncRequest(p []byte) (SyncRequest, error) {
	if len(p) > MaxSyncRequest {
		return SyncRequest{}, fmt.Errorf("%w: sync request of %d bytes; at most %d", ErrTooLarge, len(p), MaxSyncRequest)
	}
	var r SyncRequest
	var sawRoom bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		var err error
		switch num {
		case 1:
			if len(b) != len(r.Room) {
				return fmt.Errorf("%w: sync room id of %d bytes", ErrMalformed, len(b))
			}
			copy(r.Room[:], b)
			sawRoom = true
		case 2:
			if b != nil {
				return fmt.Errorf("%w: sync since is not a varint", ErrMalformed)
			}
			r.Since = time.Unix(0, int64(v)).UTC()
		case 3:
			r.After, err = parseCursor(b)
		case 4:
			if b != nil || v == 0 || v > MaxSyncPage {
				return fmt.Errorf("%w: sync limit %d; want 1..%d", ErrMalformed, v, MaxSyncPage)
			}
			r.Limit = int(v)
		}
		return err
	})
	if err != nil {
		return SyncRequest{}, err
	}
	if !sawRoom {
		return SyncRequest{}, fmt.Errorf("%w: sync request names no room", ErrMalformed)
	}
	if r.Limit == 0 {
		r.Limit = MaxSyncPage
	}
	return r, nil
}

// parseCursor decodes a cursor; a cursor that is present needs a clock, author and ID.
func parseCursor(p []byte) (Cursor, error) {
	if p == nil {
		return Cursor{}, fmt.Errorf("%w: sync cursor is not a bytes field", ErrMalformed)
	}
	var c Cursor
	var seen uint8
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			c.Lamport = v
		case 2:
			c.Clock = time.Unix(0, int64(v)).UTC()
		case 3:
			if len(b) == 0 || len(b) > MaxAuthorLen {
				return fmt.Errorf("%w: cursor author of %d bytes", ErrMalformed, len(b))
			}
			c.Author = peer.ID(b)
		case 4:
			if len(b) != len(c.ID) {
				return fmt.Errorf("%w: cursor message id of %d bytes", ErrMalformed, len(b))
			}
			copy(c.ID[:], b)
		default:
			return nil
		}
		seen |= 1 << num
		return nil
	})
	if err != nil {
		return Cursor{}, err
	}
	if seen&0b11100 != 0b11100 {
		return Cursor{}, fmt.Errorf("%w: sync cursor lacks clock, author or id", ErrMalformed)
	}
	return c, nil
}

// AppendSyncPage appends p's protobuf encoding to b. The responder must keep a page within
// MaxSyncPage messages and MaxSyncPageBytes; PageOf does.
//
//	1 message bytes   repeated, each as AppendMessage, signature included
//	2 more    varint  1 if more messages follow
func AppendSyncPage(b []byte, p SyncPage) []byte {
	for _, m := range p.Messages {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, AppendMessage(nil, m))
	}
	if p.More {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b
}

// ParseSyncPage decodes a page, refusing more than MaxSyncPageBytes before decoding. Its
// messages must be valid and strictly ascending in Compare order; their signatures are
// not checked here (Engine.Deliver does). Errors wrap ErrTooLarge or ErrMalformed.
func ParseSyncPage(p []byte) (SyncPage, error) {
	if len(p) > MaxSyncPageBytes {
		return SyncPage{}, fmt.Errorf("%w: sync page of %d bytes; at most %d", ErrTooLarge, len(p), MaxSyncPageBytes)
	}
	var page SyncPage
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			return page.add(b)
		case 2:
			if b != nil || v > 1 {
				return fmt.Errorf("%w: sync page more flag %d", ErrMalformed, v)
			}
			page.More = v == 1
		}
		return nil
	})
	if err != nil {
		return SyncPage{}, err
	}
	return page, nil
}

// add decodes one of a page's messages and appends it, keeping the page's limits.
func (page *SyncPage) add(b []byte) error {
	if b == nil {
		return fmt.Errorf("%w: sync page message is not a bytes field", ErrMalformed)
	}
	if len(page.Messages) == MaxSyncPage {
		return fmt.Errorf("%w: sync page of more than %d messages", ErrMalformed, MaxSyncPage)
	}
	m, err := ParseMessage(b)
	if err != nil {
		return fmt.Errorf("sync page message %d: %w", len(page.Messages), err)
	}
	if n := len(page.Messages); n > 0 && Compare(page.Messages[n-1], m) >= 0 {
		return fmt.Errorf("%w: sync page message %d is out of order", ErrMalformed, n)
	}
	page.Messages = append(page.Messages, m)
	return nil
}

// PageOf builds the page that answers a request from msgs, which must be the messages
// after the request's cursor in Compare order (those before Since left out), at least
// limit+1 of them if there are that many: it takes up to limit messages (0 means
// MaxSyncPage) that fit in MaxSyncPageBytes, and sets More if any of msgs is left out.
func PageOf(msgs []Message, limit int) SyncPage {
	if limit <= 0 || limit > MaxSyncPage {
		limit = MaxSyncPage
	}
	size := 2 // the more flag
	n := 0
	for _, m := range msgs[:min(limit, len(msgs))] {
		l := len(AppendMessage(nil, m))
		size += 1 + protowire.SizeVarint(uint64(l)) + l
		if size > MaxSyncPageBytes {
			break
		}
		n++
	}
	return SyncPage{Messages: msgs[:n:n], More: n < len(msgs)}
}
