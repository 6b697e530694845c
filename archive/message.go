package archive

import (
	"fmt"
	"math"
	"time"
)

// State is where a message is in its delivery life.
type State string

// The states a message can be in.
const (
	StateSent      State = "sent"
	StateDelivered State = "delivered"
	StateRead      State = "read"
	StateQueued    State = "queued"
	StateFailed    State = "failed"
	StateReceived  State = "received"
)

func (st State) valid() bool {
	switch st {
	case StateSent, StateDelivered, StateRead, StateQueued, StateFailed, StateReceived:
		return true
	}
	return false
}

// Direction says whether we wrote a message or received it.
type Direction string

// The two directions.
const (
	Outgoing Direction = "out"
	Incoming Direction = "in"
)

func (d Direction) valid() bool {
	return d == Outgoing || d == Incoming
}

// Message is one archived message.
type Message struct {
	ID         string    `json:"id"`                   // globally unique, chosen by the sender
	From       string    `json:"from"`                 // peer ID string of the author
	To         string    `json:"to"`                   // peer ID string of the recipient ("" for rooms)
	Room       string    `json:"room,omitempty"`       // room ID; "" for direct messages
	FromName   string    `json:"from_name,omitempty"`  // author's display name at the time
	Text       string    `json:"text"`                 // the message body
	SentAt     time.Time `json:"sent_at"`              // the author's clock
	ReceivedAt time.Time `json:"received_at,omitzero"` // our clock, zero for outgoing
	Direction  Direction `json:"direction"`
	State      State     `json:"state"`
	Lamport    uint64    `json:"lamport,omitempty"` // room messages: the author's Lamport counter
	Sig        []byte    `json:"-"`                 // room messages: the author's signature, for sync
}

// The times a nanosecond int64 can hold; time.Time.UnixNano is undefined
// outside them.
var (
	minStorableTime = time.Unix(0, math.MinInt64)
	maxStorableTime = time.Unix(0, math.MaxInt64)
)

func (m Message) validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: message has no ID", ErrInvalid)
	case !m.Direction.valid():
		return fmt.Errorf("%w: message %q has direction %q, want %q or %q", ErrInvalid, m.ID, m.Direction, Outgoing, Incoming)
	case !m.State.valid():
		return fmt.Errorf("%w: message %q has unknown state %q", ErrInvalid, m.ID, m.State)
	}
	if err := checkStorable("sent_at", m.SentAt); err != nil {
		return fmt.Errorf("message %q: %w", m.ID, err)
	}
	if err := checkStorable("received_at", m.ReceivedAt); err != nil {
		return fmt.Errorf("message %q: %w", m.ID, err)
	}
	return nil
}

func checkStorable(field string, t time.Time) error {
	if t.IsZero() || (!t.Before(minStorableTime) && !t.After(maxStorableTime)) {
		return nil
	}
	return fmt.Errorf("%w: %s %v is outside the years 1678 to 2262 the archive can store", ErrInvalid, field, t)
}

// toNanos stores t as unix nanoseconds; the zero time is stored as 0.
// Times outside the storable range saturate, which suits query bounds;
// Put rejects them before they get here.
func toNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minStorableTime):
		return math.MinInt64
	case t.After(maxStorableTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos; times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
