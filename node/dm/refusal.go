package dm

import (
	"errors"
	"fmt"
)

// Reason says why a recipient refused a message (an ACK with status AckRejected). It is
// ACK field 3; older nodes neither send nor read it, so a refusal without one is
// ReasonNone, and a reason this node does not know is shown as a plain refusal. Every
// refusal means the same to the sender: keep the message queued and try again later.
type Reason uint8

// Refusal reasons.
const (
	ReasonNone      Reason = 0 // not said (an older node)
	ReasonRate      Reason = 1 // the sender is over its own rate limit
	ReasonStrangers Reason = 2 // the share of senders the recipient does not know is used up
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "the recipient refused the message for now"
	case ReasonRate:
		return "the recipient refused the message: you are sending faster than it accepts from one peer"
	case ReasonStrangers:
		return "the recipient refused the message: it takes only a few messages an hour from people " +
			"who are not its contacts and that share is used up (once it adds you as a contact or writes to you, this stops)"
	}
	return fmt.Sprintf("the recipient refused the message (reason %d)", uint8(r))
}

// ErrInboxFull is what an Inbox returns (wrapped) to refuse a message for now because
// its share for senders it does not know is used up: the sender is answered with
// AckRejected and ReasonStrangers, and the stream stays open.
var ErrInboxFull = errors.New("no more messages from unknown senders for now")

// ErrRefused is what Send returns (wrapped, with the reason) when the recipient answered
// AckRejected: nothing was stored there, and the message should stay queued and be sent
// again later.
var ErrRefused = errors.New("refused; it stays queued and is sent again later")

// refusal is the error Send returns for a refusing ACK.
func refusal(a Ack) error {
	return fmt.Errorf("%s: %w", a.Reason, ErrRefused)
}

// reasonOf is ACK field 3 as a Reason; a value too large for one is no reason.
func reasonOf(v uint64) Reason {
	if v > 0xff {
		return ReasonNone
	}
	return Reason(v)
}
