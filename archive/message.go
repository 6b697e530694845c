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
	// StateHeld: queued, and deposited at the recipient's mailboxes (Message.HeldAt)
	// until its delivery receipt comes.
	StateHeld State = "held"
)

func (st State) valid() bool {
	switch st {
	case StateSent, StateDelivered, StateRead, StateQueued, StateFailed, StateReceived, StateHeld:
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
	ID         string    `json:"id"`                   // chosen by the sender; unique with From, Room and To (Key)
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
	HeldAt     []string  `json:"held_at,omitempty"` // held: the mailboxes' peer IDs
}

// Key names one archived message. Its ID is the sender's choice, so it is unique only
// together with the sender and the conversation: a room (Room set, To empty) or a direct
// message's recipient (To set, Room empty). Another sender's message with the same ID
// is another message.
type Key struct {
	ID, From, To, Room string
}

// Key is m's key.
func (m Message) Key() Key { return Key{ID: m.ID, From: m.From, To: m.To, Room: m.Room} }

// String is k as one opaque token, the same for the same message everywhere: the
// conversation, the sender and the ID.
func (k Key) String() string {
	if k.Room != "" {
		return "room:" + k.Room + "/" + k.From + "/" + k.ID
	}
	return "dm:" + k.To + "/" + k.From + "/" + k.ID
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
