package room

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// InviteProtocol is the libp2p protocol on which an owner hands a member a room's state
// and a member says it left: one Invite frame, answered by one reply byte. A member that
// asks the creator for the state (KindAsk) gets, after an InviteOK byte, one Invite frame
// of KindUpdate with the creator's current state.
const InviteProtocol = "/parley/room-invite/1.0.0"

// MaxInvite bounds an encoded Invite frame.
const MaxInvite = MaxState + 32

// Replies to an Invite frame: one byte.
const (
	InviteOK      byte = 0
	InviteRefused byte = 1 // e.g. the sender is blocked or rate-limited
)

// InviteKind says what an Invite frame carries.
type InviteKind uint8

// The kinds of Invite frames.
const (
	KindInvite InviteKind = 1 // you are invited: here is the room
	KindUpdate InviteKind = 2 // new members or a rotated key for a room you are in
	KindLeft   InviteKind = 3 // the sender left the room; only State.ID is set
	// KindAsk: the sender, a member, asks the creator for the room's current state (it
	// saw a member post under a newer epoch); only State.ID is set.
	KindAsk InviteKind = 4
)

func (k InviteKind) String() string {
	switch k {
	case KindInvite:
		return "invite"
	case KindUpdate:
		return "update"
	case KindLeft:
		return "left"
	case KindAsk:
		return "ask"
	}
	return fmt.Sprintf("InviteKind(%d)", uint8(k))
}

// bareID reports whether frames of kind k carry only a room ID, no state.
func (k InviteKind) bareID() bool { return k == KindLeft || k == KindAsk }

// Invite is the one frame of the invite protocol.
type Invite struct {
	Kind  InviteKind
	State Room
}

// AppendInvite appends inv's protobuf encoding to b: the kind, then the room's state, or
// for KindLeft and KindAsk only the room's ID.
//
//	1 kind  varint
//	2 state bytes   AppendState (KindInvite, KindUpdate)
//	3 id    bytes   16 bytes (KindLeft, KindAsk)
func AppendInvite(b []byte, inv Invite) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(inv.Kind))
	if inv.Kind.bareID() {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		return protowire.AppendBytes(b, inv.State.ID[:])
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, AppendState(nil, inv.State))
}

// ParseInvite decodes and validates an Invite frame, refusing more than MaxInvite bytes
// before decoding. Errors wrap ErrTooLarge or ErrMalformed.
func ParseInvite(p []byte) (Invite, error) {
	if len(p) > MaxInvite {
		return Invite{}, fmt.Errorf("%w: invite of %d bytes; at most %d", ErrTooLarge, len(p), MaxInvite)
	}
	var inv Invite
	var kind uint64
	var state, id []byte
	var sawKind bool
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		switch num {
		case 1:
			kind, sawKind = v, b == nil
		case 2:
			if b == nil || state != nil {
				return fmt.Errorf("%w: invite state field", ErrMalformed)
			}
			state = b
		case 3:
			if b == nil || id != nil {
				return fmt.Errorf("%w: invite id field", ErrMalformed)
			}
			id = b
		}
		return nil
	})
	if err != nil {
		return Invite{}, err
	}
	if !sawKind || kind < uint64(KindInvite) || kind > uint64(KindAsk) {
		return Invite{}, fmt.Errorf("%w: invite kind %d", ErrMalformed, kind)
	}
	inv.Kind = InviteKind(kind)
	if inv.Kind.bareID() {
		if state != nil || len(id) != len(inv.State.ID) {
			return Invite{}, fmt.Errorf("%w: a %s frame carries a 16-byte room id and no state", ErrMalformed, inv.Kind)
		}
		copy(inv.State.ID[:], id)
		return inv, nil
	}
	if id != nil || state == nil {
		return Invite{}, fmt.Errorf("%w: an %s carries the room state and no bare id", ErrMalformed, inv.Kind)
	}
	if inv.State, err = ParseState(state); err != nil {
		return Invite{}, fmt.Errorf("invite state: %w", err)
	}
	return inv, nil
}
