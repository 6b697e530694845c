package transfer

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// IDLen is the length of a transfer ID on the wire (32 hex characters in the API).
const IDLen = 16

// Status is a transfer's outcome as one side tells the other (ANSWER, DONE).
type Status uint8

// Statuses on the wire.
const (
	StatusAccepted    Status = 0 // ANSWER: the receiver pulls now
	StatusPending     Status = 1 // ANSWER: waiting for the receiving user's Accept
	StatusRejected    Status = 2 // ANSWER: refused, see reason
	StatusCompleted   Status = 3 // ANSWER or DONE: every file verified and released
	StatusQuarantined Status = 4 // ANSWER or DONE: the scanner refused a file
	StatusFailed      Status = 5 // ANSWER or DONE: given up, see reason
	StatusCanceled    Status = 6 // ANSWER: canceled by one side
	maxStatus                = StatusCanceled
)

// ErrCode says why a sender refuses a GET (ERROR frame).
type ErrCode uint8

// Error codes on the wire.
const (
	CodeUnknown     ErrCode = 1 // no such transfer offered to this peer
	CodeCanceled    ErrCode = 2 // the sender canceled the transfer
	CodeChanged     ErrCode = 3 // a source file changed or vanished since the offer
	CodeUnavailable ErrCode = 4 // reading the source failed; may clear
	CodeRelayed     ErrCode = 5 // the connection is relayed and relays are not allowed
	CodeBadRequest  ErrCode = 6 // index or range outside the manifest
	maxCode                 = CodeBadRequest
)

// Answer is the receiver's reply to an OFFER.
type Answer struct {
	ID     string
	Status Status
	Reason string
}

// Get asks the sender for Count chunks of file File starting at chunk First.
type Get struct {
	ID    string
	File  uint64
	First uint64
	Count uint64
}

// ChunkHeader precedes Length raw bytes of chunk Index of file File.
type ChunkHeader struct {
	File   uint64
	Index  uint64
	Length uint64
}

// Done is the receiver's final word on a transfer.
type Done struct {
	ID     string
	Status Status
	Reason string
}

// Cancel tells the peer that one side canceled the transfer.
type Cancel struct {
	ID     string
	Reason string
}

// Ack acknowledges a DONE or a CANCEL.
type Ack struct{ ID string }

// ErrorFrame is the sender's refusal of a GET.
type ErrorFrame struct {
	Code   ErrCode
	Reason string
}

func appendID(p []byte, id string) []byte {
	raw, _ := hex.DecodeString(id)
	return appendBytesField(p, 1, raw)
}

func appendReason(p []byte, num protowire.Number, reason string) []byte {
	if reason == "" {
		return p
	}
	return appendBytesField(p, num, []byte(truncateReason(reason)))
}

// AppendAnswer appends a's frame to b.
func AppendAnswer(b []byte, a Answer) []byte {
	p := appendID(nil, a.ID)
	p = appendVarintField(p, 2, uint64(a.Status))
	return appendFrame(b, TypeAnswer, appendReason(p, 3, a.Reason))
}

// AppendGet appends g's frame to b.
func AppendGet(b []byte, g Get) []byte {
	p := appendID(nil, g.ID)
	p = appendVarintField(p, 2, g.File)
	p = appendVarintField(p, 3, g.First)
	p = appendVarintField(p, 4, g.Count)
	return appendFrame(b, TypeGet, p)
}

// AppendChunkHeader appends h's frame to b; Length raw bytes must follow it.
func AppendChunkHeader(b []byte, h ChunkHeader) []byte {
	p := appendVarintField(nil, 1, h.File)
	p = appendVarintField(p, 2, h.Index)
	p = appendVarintField(p, 3, h.Length)
	return appendFrame(b, TypeChunk, p)
}

// AppendDone appends d's frame to b.
func AppendDone(b []byte, d Done) []byte {
	p := appendID(nil, d.ID)
	p = appendVarintField(p, 2, uint64(d.Status))
	return appendFrame(b, TypeDone, appendReason(p, 3, d.Reason))
}

// AppendCancel appends c's frame to b.
func AppendCancel(b []byte, c Cancel) []byte {
	return appendFrame(b, TypeCancel, appendReason(appendID(nil, c.ID), 2, c.Reason))
}

// AppendAck appends a's frame to b.
func AppendAck(b []byte, a Ack) []byte {
	return appendFrame(b, TypeAck, appendID(nil, a.ID))
}

// AppendError appends e's frame to b.
func AppendError(b []byte, e ErrorFrame) []byte {
	p := appendVarintField(nil, 1, uint64(e.Code))
	return appendFrame(b, TypeError, appendReason(p, 2, e.Reason))
}

// ParseAnswer decodes an ANSWER payload.
func ParseAnswer(p []byte) (Answer, error) {
	var a Answer
	var status uint64
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		return setFields(num, v, b, &a.ID, &status, &a.Reason)
	})
	if err == nil {
		a.Status, err = checkStatus(status)
	}
	if err == nil {
		err = needID(a.ID, "ANSWER")
	}
	return a, err
}

// ParseGet decodes a GET payload.
func ParseGet(p []byte) (Get, error) {
	var g Get
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			return setID(&g.ID, b)
		case 2:
			g.File = v
		case 3:
			g.First = v
		case 4:
			g.Count = v
		}
		return nil
	})
	if err == nil {
		err = needID(g.ID, "GET")
	}
	if err == nil && g.Count == 0 {
		err = fmt.Errorf("%w: GET of zero chunks", ErrMalformed)
	}
	return g, err
}

// ParseChunkHeader decodes a CHUNK header payload.
func ParseChunkHeader(p []byte) (ChunkHeader, error) {
	var h ChunkHeader
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			h.File = v
		case 2:
			h.Index = v
		case 3:
			h.Length = v
		}
		return nil
	})
	if err == nil && (h.Length == 0 || h.Length > MaxChunkSize) {
		err = fmt.Errorf("%w: chunk length %d outside 1..%d", ErrMalformed, h.Length, MaxChunkSize)
	}
	return h, err
}

// ParseDone decodes a DONE payload.
func ParseDone(p []byte) (Done, error) {
	var d Done
	var status uint64
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		return setFields(num, v, b, &d.ID, &status, &d.Reason)
	})
	if err == nil {
		d.Status, err = checkStatus(status)
	}
	if err == nil && d.Status != StatusCompleted && d.Status != StatusQuarantined && d.Status != StatusFailed {
		err = fmt.Errorf("%w: DONE with status %d", ErrMalformed, d.Status)
	}
	if err == nil {
		err = needID(d.ID, "DONE")
	}
	return d, err
}

// ParseCancel decodes a CANCEL payload.
func ParseCancel(p []byte) (Cancel, error) {
	var c Cancel
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			return setID(&c.ID, b)
		case 2:
			return setReason(&c.Reason, b)
		}
		return nil
	})
	if err == nil {
		err = needID(c.ID, "CANCEL")
	}
	return c, err
}

// ParseAck decodes an ACK payload.
func ParseAck(p []byte) (Ack, error) {
	var a Ack
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if num == 1 {
			return setID(&a.ID, b)
		}
		return nil
	})
	if err == nil {
		err = needID(a.ID, "ACK")
	}
	return a, err
}

// ParseError decodes an ERROR payload.
func ParseError(p []byte) (ErrorFrame, error) {
	var e ErrorFrame
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			if v == 0 || v > uint64(maxCode) {
				return fmt.Errorf("%w: error code %d", ErrMalformed, v)
			}
			e.Code = ErrCode(v)
		case 2:
			return setReason(&e.Reason, b)
		}
		return nil
	})
	if err == nil && e.Code == 0 {
		err = fmt.Errorf("%w: ERROR without a code", ErrMalformed)
	}
	return e, err
}

// setFields fills the id (1), status (2) and reason (3) shared by ANSWER and DONE.
func setFields(num protowire.Number, v uint64, b []byte, id *string, status *uint64, reason *string) error {
	switch num {
	case 1:
		return setID(id, b)
	case 2:
		*status = v
	case 3:
		return setReason(reason, b)
	}
	return nil
}

func setID(id *string, b []byte) error {
	if len(b) != IDLen {
		return fmt.Errorf("%w: transfer id of %d bytes, want %d", ErrMalformed, len(b), IDLen)
	}
	*id = hex.EncodeToString(b)
	return nil
}

func needID(id, frame string) error {
	if id == "" {
		return fmt.Errorf("%w: %s without a transfer id", ErrMalformed, frame)
	}
	return nil
}

func setReason(reason *string, b []byte) error {
	if len(b) > MaxReason || !utf8.Valid(b) {
		return fmt.Errorf("%w: reason is over %d bytes or not UTF-8", ErrMalformed, MaxReason)
	}
	*reason = string(b)
	return nil
}

func checkStatus(v uint64) (Status, error) {
	if v > uint64(maxStatus) {
		return 0, fmt.Errorf("%w: status %d", ErrMalformed, v)
	}
	return Status(v), nil
}

// truncateReason cuts a reason to MaxReason bytes on a rune boundary.
func truncateReason(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= MaxReason {
		return s
	}
	s = s[:MaxReason]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
