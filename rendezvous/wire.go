package rendezvous

import (
	"bufio"
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// ProtocolID names this protocol and its version on libp2p streams.
const ProtocolID = "/rendezvous/1.0.0"

// Limits enforced on frames and fields.
const (
	MaxFrame        = 64 << 10 // bytes in one frame
	MaxNamespaceLen = 255      // bytes of namespace
	MaxRecordLen    = 8 << 10  // bytes of one signed peer record
)

// ErrMalformed wraps every decoding failure of a peer's frame.
var ErrMalformed = wire.ErrMalformed

// MessageType is Message field 1.
type MessageType uint64

// Message types, as numbered by the spec.
const (
	TypeRegister         MessageType = 0
	TypeRegisterResponse MessageType = 1
	TypeUnregister       MessageType = 2
	TypeDiscover         MessageType = 3
	TypeDiscoverResponse MessageType = 4
)

func (t MessageType) String() string {
	switch t {
	case TypeRegister:
		return "REGISTER"
	case TypeRegisterResponse:
		return "REGISTER_RESPONSE"
	case TypeUnregister:
		return "UNREGISTER"
	case TypeDiscover:
		return "DISCOVER"
	case TypeDiscoverResponse:
		return "DISCOVER_RESPONSE"
	}
	return fmt.Sprintf("type(%d)", uint64(t))
}

// Status is a response's status, as numbered by the spec.
type Status uint64

// Statuses.
const (
	StatusOK                      Status = 0
	StatusInvalidNamespace        Status = 100
	StatusInvalidSignedPeerRecord Status = 101
	StatusInvalidTTL              Status = 102
	StatusInvalidCookie           Status = 103
	StatusNotAuthorized           Status = 200
	StatusInternalError           Status = 300
	StatusUnavailable             Status = 400
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusInvalidNamespace:
		return "E_INVALID_NAMESPACE"
	case StatusInvalidSignedPeerRecord:
		return "E_INVALID_SIGNED_PEER_RECORD"
	case StatusInvalidTTL:
		return "E_INVALID_TTL"
	case StatusInvalidCookie:
		return "E_INVALID_COOKIE"
	case StatusNotAuthorized:
		return "E_NOT_AUTHORIZED"
	case StatusInternalError:
		return "E_INTERNAL_ERROR"
	case StatusUnavailable:
		return "E_UNAVAILABLE"
	}
	return fmt.Sprintf("status(%d)", uint64(s))
}

// Register is a REGISTER request, and one registration in a DISCOVER_RESPONSE.
type Register struct {
	Namespace        string
	SignedPeerRecord []byte // marshalled record.Envelope of a peer.PeerRecord
	TTL              uint64 // seconds; 0 asks for the server's default
}

// RegisterResponse answers a REGISTER.
type RegisterResponse struct {
	Status     Status
	StatusText string
	TTL        uint64 // seconds granted
}

// Unregister withdraws the sender's registration in a namespace.
type Unregister struct {
	Namespace string
	ID        []byte // deprecated by the spec; servers ignore it
}

// Discover asks for registrations in a namespace.
type Discover struct {
	Namespace string
	Limit     uint64
	Cookie    []byte
}

// DiscoverResponse answers a DISCOVER.
type DiscoverResponse struct {
	Registrations []Register
	Cookie        []byte
	Status        Status
	StatusText    string
}

// Message is one frame. Only the part named by Type is encoded, and only it is
// meaningful after decoding.
type Message struct {
	Type             MessageType
	Register         Register
	RegisterResponse RegisterResponse
	Unregister       Unregister
	Discover         Discover
	DiscoverResponse DiscoverResponse
}

// Message field numbers.
const (
	fieldType             protowire.Number = 1
	fieldRegister         protowire.Number = 2
	fieldRegisterResponse protowire.Number = 3
	fieldUnregister       protowire.Number = 4
	fieldDiscover         protowire.Number = 5
	fieldDiscoverResponse protowire.Number = 6
)

// AppendMessage appends m's frame (uvarint length, then the protobuf Message) to b.
func AppendMessage(b []byte, m Message) []byte {
	var p []byte
	p = protowire.AppendTag(p, fieldType, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(m.Type))
	switch m.Type {
	case TypeRegister:
		p = appendEmbedded(p, fieldRegister, appendRegister(nil, m.Register))
	case TypeRegisterResponse:
		p = appendEmbedded(p, fieldRegisterResponse, appendRegisterResponse(nil, m.RegisterResponse))
	case TypeUnregister:
		p = appendEmbedded(p, fieldUnregister, appendUnregister(nil, m.Unregister))
	case TypeDiscover:
		p = appendEmbedded(p, fieldDiscover, appendDiscover(nil, m.Discover))
	case TypeDiscoverResponse:
		p = appendEmbedded(p, fieldDiscoverResponse, appendDiscoverResponse(nil, m.DiscoverResponse))
	}
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendEmbedded(p []byte, num protowire.Number, sub []byte) []byte {
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendBytes(p, sub)
}

func appendString(p []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return p
	}
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendString(p, s)
}

func appendBytes(p []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return p
	}
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendBytes(p, b)
}

func appendUint(p []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return p
	}
	p = protowire.AppendTag(p, num, protowire.VarintType)
	return protowire.AppendVarint(p, v)
}

func appendRegister(p []byte, r Register) []byte {
	p = appendString(p, 1, r.Namespace)
	p = appendBytes(p, 2, r.SignedPeerRecord)
	return appendUint(p, 3, r.TTL)
}

func appendRegisterResponse(p []byte, r RegisterResponse) []byte {
	p = appendUint(p, 1, uint64(r.Status))
	p = appendString(p, 2, r.StatusText)
	return appendUint(p, 3, r.TTL)
}

func appendUnregister(p []byte, u Unregister) []byte {
	p = appendString(p, 1, u.Namespace)
	return appendBytes(p, 2, u.ID)
}

func appendDiscover(p []byte, d Discover) []byte {
	p = appendString(p, 1, d.Namespace)
	p = appendUint(p, 2, d.Limit)
	return appendBytes(p, 3, d.Cookie)
}

func appendDiscoverResponse(p []byte, d DiscoverResponse) []byte {
	for _, r := range d.Registrations {
		p = appendEmbedded(p, 1, appendRegister(nil, r))
	}
	p = appendBytes(p, 2, d.Cookie)
	p = appendUint(p, 3, uint64(d.Status))
	return appendString(p, 4, d.StatusText)
}

// registrationSize is the number of bytes r adds to a DISCOVER_RESPONSE.
func registrationSize(r Register) int {
	n := len(appendRegister(nil, r))
	return protowire.SizeTag(1) + protowire.SizeBytes(n)
}

// ReadFrame reads one frame from r, refusing lengths over MaxFrame before allocating.
// It returns io.EOF only at a clean frame boundary. It reserves nothing: streams read
// through ReadFrameFrom.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	return ReadFrameFrom(wire.NewReader(r, wire.Config{}))
}

// ReadFrameFrom reads one frame from fr, which pays for it (see package wire); the body
// is valid until fr's next read or Release.
func ReadFrameFrom(fr *wire.Reader) ([]byte, error) {
	body, err := fr.Read(MaxFrame)
	if err == nil && len(body) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	return body, err
}

// ReadMessage reads and decodes one frame.
func ReadMessage(r *bufio.Reader) (Message, error) {
	return ReadMessageFrom(wire.NewReader(r, wire.Config{}))
}

// ReadMessageFrom reads and decodes one frame from fr.
func ReadMessageFrom(fr *wire.Reader) (Message, error) {
	body, err := ReadFrameFrom(fr)
	if err != nil {
		return Message{}, err
	}
	return ParseMessage(body)
}

// ParseMessage decodes a frame's body. The part named by the type must be present;
// parts for other types are checked for well-formedness and dropped.
func ParseMessage(p []byte) (Message, error) {
	var m Message
	var present [5]bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		var err error
		switch num {
		case fieldType:
			if v > uint64(TypeDiscoverResponse) {
				return fmt.Errorf("%w: message type %d", ErrMalformed, v)
			}
			m.Type = MessageType(v)
			return nil
		case fieldRegister:
			m.Register, err = parseRegister(b)
		case fieldRegisterResponse:
			m.RegisterResponse, err = parseRegisterResponse(b)
		case fieldUnregister:
			m.Unregister, err = parseUnregister(b)
		case fieldDiscover:
			m.Discover, err = parseDiscover(b)
		case fieldDiscoverResponse:
			m.DiscoverResponse, err = parseDiscoverResponse(b)
		default:
			return nil
		}
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("%w: field %d is not an embedded message", ErrMalformed, num)
		}
		present[num-fieldRegister] = true
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	if !present[m.Type] {
		return Message{}, fmt.Errorf("%w: %v without its body", ErrMalformed, m.Type)
	}
	return m, nil
}

// fields walks an embedded message, insisting that the known fields (true: varint,
// false: bytes) have the expected wire type.
func fields(p []byte, varints map[protowire.Number]bool, f func(num protowire.Number, v uint64, b []byte)) error {
	return wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		want, known := varints[num]
		if !known {
			return nil
		}
		if want != (b == nil) {
			return fmt.Errorf("%w: field %d has the wrong wire type", ErrMalformed, num)
		}
		f(num, v, b)
		return nil
	})
}

var (
	registerFields         = map[protowire.Number]bool{1: false, 2: false, 3: true}
	registerResponseFields = map[protowire.Number]bool{1: true, 2: false, 3: true}
	unregisterFields       = map[protowire.Number]bool{1: false, 2: false}
	discoverFields         = map[protowire.Number]bool{1: false, 2: true, 3: false}
	discoverResponseFields = map[protowire.Number]bool{1: false, 2: false, 3: true, 4: false}
)

func parseRegister(p []byte) (Register, error) {
	var r Register
	err := fields(p, registerFields, func(num protowire.Number, v uint64, b []byte) {
		switch num {
		case 1:
			r.Namespace = string(b)
		case 2:
			r.SignedPeerRecord = b
		case 3:
			r.TTL = v
		}
	})
	return r, err
}

func parseRegisterResponse(p []byte) (RegisterResponse, error) {
	var r RegisterResponse
	err := fields(p, registerResponseFields, func(num protowire.Number, v uint64, b []byte) {
		switch num {
		case 1:
			r.Status = Status(v)
		case 2:
			r.StatusText = string(b)
		case 3:
			r.TTL = v
		}
	})
	return r, err
}

func parseUnregister(p []byte) (Unregister, error) {
	var u Unregister
	err := fields(p, unregisterFields, func(num protowire.Number, _ uint64, b []byte) {
		switch num {
		case 1:
			u.Namespace = string(b)
		case 2:
			u.ID = b
		}
	})
	return u, err
}

func parseDiscover(p []byte) (Discover, error) {
	var d Discover
	err := fields(p, discoverFields, func(num protowire.Number, v uint64, b []byte) {
		switch num {
		case 1:
			d.Namespace = string(b)
		case 2:
			d.Limit = v
		case 3:
			d.Cookie = b
		}
	})
	return d, err
}

func parseDiscoverResponse(p []byte) (DiscoverResponse, error) {
	var d DiscoverResponse
	var err error
	walkErr := fields(p, discoverResponseFields, func(num protowire.Number, v uint64, b []byte) {
		switch num {
		case 1:
			r, rerr := parseRegister(b)
			if rerr != nil && err == nil {
				err = rerr
			}
			d.Registrations = append(d.Registrations, r)
		case 2:
			d.Cookie = b
		case 3:
			d.Status = Status(v)
		case 4:
			d.StatusText = string(b)
		}
	})
	if walkErr != nil {
		return DiscoverResponse{}, walkErr
	}
	return d, err
}
