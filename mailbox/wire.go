package mailbox

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// ProtocolID names this protocol and its version on libp2p streams.
const ProtocolID = "/parley/mailbox/1.0.0"

// Limits of the protocol, checked on every frame sent or received.
const (
	MaxEnvelope     = 64 << 10 // bytes of one sealed envelope
	MaxAddressID    = 64       // bytes of an address's ID (a peer ID is 38, a room ID 32)
	MaxRoomSecret   = 64       // bytes of a room's fetch secret
	MaxRequestFrame = 66 << 10 // bytes of a request frame's body (a DEPOSIT with a full envelope)
	MaxPage         = 100      // envelopes in one MAIL page
	MaxPageBytes    = 1 << 20  // envelope bytes in one MAIL page (a page holds at least one)
	MaxAnswerFrame  = 1<<20 + 80<<10
	MaxAckIDs       = MaxPage // ids in one ACK
	maxCountsFrame  = 64      // bytes of a DEPOSITED, ACKED or COUNTS answer's body
)

// Frame types: requests (client to mailbox) and their answers.
const (
	TypeDeposit   byte = 0x01
	TypeFetch     byte = 0x02
	TypeAck       byte = 0x03
	TypeStatus    byte = 0x04
	TypeDeposited byte = 0x81
	TypeMail      byte = 0x82
	TypeAcked     byte = 0x83
	TypeCounts    byte = 0x84
)

// Status is a mailbox's answer to a request.
type Status uint8

// Statuses. A client that gets one it does not know treats it as StatusInternal.
const (
	StatusOK          Status = 0
	StatusFull        Status = 1 // the mailbox (disk cap) or this recipient's box is full
	StatusQuota       Status = 2 // the depositor's own share is used up
	StatusTooLarge    Status = 3 // the envelope is over the mailbox's size limit
	StatusNotAllowed  Status = 4 // the asker may not do this (not the recipient; wrong room secret; refused depositor)
	StatusRateLimited Status = 5 // too many requests from this peer; try again later
	StatusUnsupported Status = 6 // an address kind this mailbox does not serve
	StatusInternal    Status = 7 // the mailbox failed (its disk); try again later
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusFull:
		return "mailbox full"
	case StatusQuota:
		return "over quota"
	case StatusTooLarge:
		return "too large"
	case StatusNotAllowed:
		return "not allowed"
	case StatusRateLimited:
		return "rate limited"
	case StatusUnsupported:
		return "unsupported address"
	}
	return fmt.Sprintf("mailbox error %d", uint8(s))
}

// Kind says what an Address names.
type Kind uint8

// Address kinds. KindPerson is reserved (see doc.go): a mailbox answers it Unsupported.
const (
	KindPeer   Kind = 1 // one peer (device); ID is its peer ID's bytes
	KindRoom   Kind = 2 // a room; ID is the room's ID; fetching needs the room's fetch secret
	KindPerson Kind = 3 // reserved: a person with several devices
)

// Address is who mail is for.
type Address struct {
	Kind Kind
	ID   []byte
}

func (a Address) valid() error {
	if a.Kind == 0 || a.Kind > 127 {
		return fmt.Errorf("%w: address kind %d", wire.ErrMalformed, a.Kind)
	}
	if len(a.ID) == 0 || len(a.ID) > MaxAddressID {
		return fmt.Errorf("%w: address id is %d bytes; want 1..%d", wire.ErrMalformed, len(a.ID), MaxAddressID)
	}
	return nil
}

// key is the address as a map key.
func (a Address) key() string { return string(rune(a.Kind)) + string(a.ID) }

// Deposit is a DEPOSIT request: keep Envelope for To.
type Deposit struct {
	To       Address
	Envelope []byte
	TTL      time.Duration // 0: the mailbox's default; more than its maximum: its maximum
	Secret   []byte        // KindRoom only: the room's fetch secret, proving the depositor holds the room key
}

// Fetch is a FETCH request: send me mail for To after the envelope After, at most Limit.
type Fetch struct {
	To     Address
	After  uint64 // 0: from the start
	Limit  int    // 0 or over MaxPage: MaxPage
	Secret []byte // KindRoom only
}

// Ack is an ACK request: the recipient has stored these envelopes; delete them.
type Ack struct {
	To  Address
	IDs []uint64
}

// StatusReq is a STATUS request: how much is held for To.
type StatusReq struct {
	To     Address
	Secret []byte // KindRoom only
}

// Deposited answers a DEPOSIT.
type Deposited struct {
	Status  Status
	ID      uint64    // the envelope's id at this mailbox (StatusOK)
	Expires time.Time // when the mailbox lets it go (StatusOK)
}

// Item is one held envelope in a MAIL page.
type Item struct {
	ID        uint64
	Envelope  []byte
	Deposited time.Time
	Expires   time.Time
}

// Mail answers a FETCH: one page.
type Mail struct {
	Status Status
	Items  []Item
	More   bool // more is held after the last item
}

// Acked answers an ACK.
type Acked struct {
	Status  Status
	Deleted int // envelopes deleted (ids already gone count as nothing)
}

// Counts answers a STATUS.
type Counts struct {
	Status Status
	Count  int
	Bytes  int64
	Oldest time.Time // the oldest held envelope's deposit time; zero if none
}

// ErrMalformed wraps every decoding failure of a peer's frame.
var ErrMalformed = wire.ErrMalformed

func appendAddress(p []byte, a Address) []byte {
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(a.Kind))
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	return protowire.AppendBytes(p, a.ID)
}

func appendBytes(p []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return p
	}
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendBytes(p, b)
}

func appendVarint(p []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return p
	}
	p = protowire.AppendTag(p, num, protowire.VarintType)
	return protowire.AppendVarint(p, v)
}

func appendTime(p []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return p
	}
	return appendVarint(p, num, uint64(t.UnixNano()))
}

// appendFrame appends length, type and payload.
func appendFrame(b []byte, t byte, payload []byte) []byte {
	b = protowire.AppendVarint(b, uint64(1+len(payload)))
	b = append(b, t)
	return append(b, payload...)
}

// AppendDeposit appends d's frame to b.
func AppendDeposit(b []byte, d Deposit) []byte {
	p := appendAddress(nil, d.To)
	p = appendBytes(p, 3, d.Envelope)
	p = appendVarint(p, 4, uint64(d.TTL/time.Second))
	p = appendBytes(p, 5, d.Secret)
	return appendFrame(b, TypeDeposit, p)
}

// AppendFetch appends f's frame to b.
func AppendFetch(b []byte, f Fetch) []byte {
	p := appendAddress(nil, f.To)
	p = appendVarint(p, 3, f.After)
	p = appendVarint(p, 4, uint64(max(f.Limit, 0)))
	p = appendBytes(p, 5, f.Secret)
	return appendFrame(b, TypeFetch, p)
}

// AppendAck appends a's frame to b.
func AppendAck(b []byte, a Ack) []byte {
	p := appendAddress(nil, a.To)
	for _, id := range a.IDs {
		p = protowire.AppendTag(p, 3, protowire.VarintType)
		p = protowire.AppendVarint(p, id)
	}
	return appendFrame(b, TypeAck, p)
}

// AppendStatus appends s's frame to b.
func AppendStatus(b []byte, s StatusReq) []byte {
	p := appendAddress(nil, s.To)
	p = appendBytes(p, 5, s.Secret)
	return appendFrame(b, TypeStatus, p)
}

// AppendDeposited appends d's frame to b.
func AppendDeposited(b []byte, d Deposited) []byte {
	p := appendVarint(nil, 1, uint64(d.Status))
	p = appendVarint(p, 2, d.ID)
	p = appendTime(p, 3, d.Expires)
	return appendFrame(b, TypeDeposited, p)
}

// AppendMail appends m's frame to b.
func AppendMail(b []byte, m Mail) []byte {
	p := appendVarint(nil, 1, uint64(m.Status))
	for _, it := range m.Items {
		q := appendVarint(nil, 1, it.ID)
		q = appendBytes(q, 2, it.Envelope)
		q = appendTime(q, 3, it.Deposited)
		q = appendTime(q, 4, it.Expires)
		p = protowire.AppendTag(p, 2, protowire.BytesType)
		p = protowire.AppendBytes(p, q)
	}
	if m.More {
		p = appendVarint(p, 3, 1)
	}
	return appendFrame(b, TypeMail, p)
}

// AppendAcked appends a's frame to b.
func AppendAcked(b []byte, a Acked) []byte {
	p := appendVarint(nil, 1, uint64(a.Status))
	p = appendVarint(p, 2, uint64(a.Deleted))
	return appendFrame(b, TypeAcked, p)
}

// AppendCounts appends c's frame to b.
func AppendCounts(b []byte, c Counts) []byte {
	p := appendVarint(nil, 1, uint64(c.Status))
	p = appendVarint(p, 2, uint64(c.Count))
	p = appendVarint(p, 3, uint64(c.Bytes))
	p = appendTime(p, 4, c.Oldest)
	return appendFrame(b, TypeCounts, p)
}

// Request is one decoded request: exactly one of its fields is set.
type Request struct {
	Deposit *Deposit
	Fetch   *Fetch
	Ack     *Ack
	Status  *StatusReq
}

// DecodeRequest decodes a request frame's type and payload, as read from a stream.
func DecodeRequest(t byte, p []byte) (Request, error) {
	var r Request
	var err error
	switch t {
	case TypeDeposit:
		r.Deposit = new(Deposit)
		err = decodeDeposit(p, r.Deposit)
	case TypeFetch:
		r.Fetch = new(Fetch)
		err = decodeFetch(p, r.Fetch)
	case TypeAck:
		r.Ack = new(Ack)
		err = decodeAck(p, r.Ack)
	case TypeStatus:
		r.Status = new(StatusReq)
		err = decodeStatusReq(p, r.Status)
	default:
		return r, fmt.Errorf("%w: request type 0x%02x", ErrMalformed, t)
	}
	return r, err
}

// addrField decodes fields 1 and 2 (the address) and reports whether num was one.
func addrField(a *Address, num protowire.Number, v uint64, b []byte) (bool, error) {
	switch num {
	case 1:
		if v == 0 || v > 127 {
			return true, fmt.Errorf("%w: address kind %d", ErrMalformed, v)
		}
		a.Kind = Kind(v)
		return true, nil
	case 2:
		a.ID = b
		return true, nil
	}
	return false, nil
}

func secretField(b []byte) ([]byte, error) {
	if len(b) > MaxRoomSecret {
		return nil, fmt.Errorf("%w: room secret is %d bytes; at most %d", ErrMalformed, len(b), MaxRoomSecret)
	}
	return b, nil
}

func decodeDeposit(p []byte, d *Deposit) error {
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if ok, err := addrField(&d.To, num, v, b); ok {
			return err
		}
		var err error
		switch num {
		case 3:
			d.Envelope = b
		case 4:
			d.TTL = time.Duration(min(v, uint64(maxTTLSeconds))) * time.Second
		case 5:
			d.Secret, err = secretField(b)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(d.Envelope) == 0 {
		return fmt.Errorf("%w: deposit without an envelope", ErrMalformed)
	}
	return d.To.valid()
}

// maxTTLSeconds bounds a TTL field so that it converts to a Duration without overflow.
const maxTTLSeconds = 10 * 365 * 24 * 3600

func decodeFetch(p []byte, f *Fetch) error {
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if ok, err := addrField(&f.To, num, v, b); ok {
			return err
		}
		var err error
		switch num {
		case 3:
			f.After = v
		case 4:
			f.Limit = int(min(v, MaxPage))
		case 5:
			f.Secret, err = secretField(b)
		}
		return err
	})
	if err != nil {
		return err
	}
	return f.To.valid()
}

func decodeAck(p []byte, a *Ack) error {
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if ok, err := addrField(&a.To, num, v, b); ok {
			return err
		}
		if num == 3 {
			if len(a.IDs) == MaxAckIDs {
				return fmt.Errorf("%w: more than %d ids in an ACK", ErrMalformed, MaxAckIDs)
			}
			a.IDs = append(a.IDs, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.To.valid()
}

func decodeStatusReq(p []byte, s *StatusReq) error {
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if ok, err := addrField(&s.To, num, v, b); ok {
			return err
		}
		var err error
		if num == 5 {
			s.Secret, err = secretField(b)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.To.valid()
}

func decodeTime(v uint64) time.Time {
	if v == 0 || v > 1<<63-1 {
		return time.Time{}
	}
	return time.Unix(0, int64(v))
}

func statusField(v uint64) Status {
	if v > 255 {
		return StatusInternal
	}
	return Status(v)
}

// DecodeDeposited decodes a DEPOSITED payload.
func DecodeDeposited(p []byte) (Deposited, error) {
	var d Deposited
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			d.Status = statusField(v)
		case 2:
			d.ID = v
		case 3:
			d.Expires = decodeTime(v)
		}
		return nil
	})
	return d, err
}

// DecodeMail decodes a MAIL payload.
func DecodeMail(p []byte) (Mail, error) {
	var m Mail
	var total int
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			m.Status = statusField(v)
		case 2:
			if len(m.Items) == MaxPage {
				return fmt.Errorf("%w: more than %d envelopes in a page", ErrMalformed, MaxPage)
			}
			it, err := decodeItem(b)
			if err != nil {
				return err
			}
			total += len(it.Envelope)
			m.Items = append(m.Items, it)
		case 3:
			m.More = v != 0
		}
		return nil
	})
	if err == nil && total > MaxPageBytes+MaxEnvelope {
		err = fmt.Errorf("%w: a page of %d envelope bytes", ErrMalformed, total)
	}
	return m, err
}

func decodeItem(p []byte) (Item, error) {
	var it Item
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			it.ID = v
		case 2:
			it.Envelope = b
		case 3:
			it.Deposited = decodeTime(v)
		case 4:
			it.Expires = decodeTime(v)
		}
		return nil
	})
	switch {
	case err != nil:
		return it, err
	case it.ID == 0:
		return it, fmt.Errorf("%w: envelope without an id", ErrMalformed)
	case len(it.Envelope) == 0 || len(it.Envelope) > MaxEnvelope:
		return it, fmt.Errorf("%w: envelope of %d bytes; want 1..%d", ErrMalformed, len(it.Envelope), MaxEnvelope)
	}
	return it, nil
}

// DecodeAcked decodes an ACKED payload.
func DecodeAcked(p []byte) (Acked, error) {
	var a Acked
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			a.Status = statusField(v)
		case 2:
			a.Deleted = int(min(v, MaxAckIDs))
		}
		return nil
	})
	return a, err
}

// DecodeCounts decodes a COUNTS payload.
func DecodeCounts(p []byte) (Counts, error) {
	var c Counts
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			c.Status = statusField(v)
		case 2:
			c.Count = int(min(v, 1<<31-1))
		case 3:
			c.Bytes = int64(min(v, 1<<62))
		case 4:
			c.Oldest = decodeTime(v)
		}
		return nil
	})
	return c, err
}

// answerLimit caps an answer frame's body by its type, before it is allocated.
func answerLimit(t byte) int {
	switch t {
	case TypeMail:
		return MaxAnswerFrame
	case TypeDeposited, TypeAcked, TypeCounts:
		return maxCountsFrame
	}
	return 0
}

// requestLimit caps a request frame's body by its type, before it is allocated.
func requestLimit(t byte) int {
	switch t {
	case TypeDeposit:
		return MaxRequestFrame
	case TypeFetch, TypeStatus:
		return 256
	case TypeAck:
		return 256 + MaxAckIDs*11
	}
	return 0
}

var errUnexpected = errors.New("unexpected answer type")
