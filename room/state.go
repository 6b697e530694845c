package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/internal/wire"
)

// Limits on a room's state, checked when it is decoded.
const (
	MaxName    = 64   // bytes of a room's name
	MaxMembers = 1000 // members of a room
	// MaxState bounds an encoded state: MaxMembers members and as many owners, each a
	// peer ID of up to MaxAuthorLen bytes, and the fixed fields.
	MaxState = 2*MaxMembers*(MaxAuthorLen+3) + 512
)

// ValidateName checks a room name: 1..MaxName bytes of UTF-8 without control characters.
func ValidateName(name string) error {
	switch {
	case name == "" || len(name) > MaxName:
		return fmt.Errorf("room name is %d bytes; want 1..%d", len(name), MaxName)
	case !utf8.ValidString(name):
		return errors.New("room name is not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("room name contains a control character")
	}
	return nil
}

// AppendState appends the protobuf encoding of r's state to b: what an owner hands a
// member. Members and owners are written sorted, so equal states encode equally.
func AppendState(b []byte, r Room) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, r.ID[:])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, r.Name)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Key[:])
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, r.Epoch)
	if r.Announce {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	for _, p := range sortedIDs(r.Members) {
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendString(b, string(p))
	}
	for _, p := range sortedIDs(r.Owners) {
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendString(b, string(p))
	}
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendString(b, string(r.Creator))
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Nonce[:])
	b = protowire.AppendTag(b, 10, protowire.VarintType)
	return protowire.AppendVarint(b, r.Version)
}

func sortedIDs(set map[peer.ID]struct{}) []peer.ID {
	ids := make([]peer.ID, 0, len(set))
	for p := range set {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	return ids
}

// ParseState decodes and validates a room's state, refusing more than MaxState bytes
// before decoding. The ID must be DeriveID(creator, nonce) and the creator an owner, so
// nobody but a room's creator can make a state for its ID. Errors wrap ErrTooLarge or
// ErrMalformed.
func ParseState(p []byte) (Room, error) {
	if len(p) > MaxState {
		return Room{}, fmt.Errorf("%w: room state of %d bytes; at most %d", ErrTooLarge, len(p), MaxState)
	}
	r := Room{Members: map[peer.ID]struct{}{}, Owners: map[peer.ID]struct{}{}}
	var seen uint16
	err := wire.WalkFields(p, func(num protowire.Number, v uint64, b []byte) error {
		if num >= 1 && num <= 10 {
			seen |= 1 << num
		}
		switch num {
		case 1:
			if len(b) != len(r.ID) {
				return fmt.Errorf("%w: room id of %d bytes", ErrMalformed, len(b))
			}
			copy(r.ID[:], b)
		case 2:
			r.Name = string(b)
		case 3:
			if len(b) != len(r.Key) {
				return fmt.Errorf("%w: room key of %d bytes", ErrMalformed, len(b))
			}
			copy(r.Key[:], b)
		case 4:
			r.Epoch = v
		case 5:
			if v > 1 || b != nil {
				return fmt.Errorf("%w: announce flag %d", ErrMalformed, v)
			}
			r.Announce = v == 1
		case 6:
			return addPeer(r.Members, b, "member")
		case 7:
			return addPeer(r.Owners, b, "owner")
		case 8:
			return parseCreator(&r, b)
		case 9:
			if len(b) != len(r.Nonce) {
				return fmt.Errorf("%w: room nonce of %d bytes", ErrMalformed, len(b))
			}
			copy(r.Nonce[:], b)
		case 10:
			if b != nil {
				return fmt.Errorf("%w: room version is not a varint", ErrMalformed)
			}
			r.Version = v
		}
		return nil
	})
	if err != nil {
		return Room{}, err
	}
	if err := checkState(r, seen); err != nil {
		return Room{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return r, nil
}

// parseCreator sets r.Creator from a binary peer ID.
func parseCreator(r *Room, b []byte) error {
	if b == nil || len(b) > MaxAuthorLen {
		return fmt.Errorf("%w: creator ID of %d bytes", ErrMalformed, len(b))
	}
	p, err := peer.IDFromBytes(b)
	if err != nil {
		return fmt.Errorf("%w: creator ID: %v", ErrMalformed, err)
	}
	r.Creator = p
	return nil
}

// addPeer adds a binary peer ID to a member or owner set, refusing bad IDs, repeats and
// more than MaxMembers.
func addPeer(set map[peer.ID]struct{}, b []byte, what string) error {
	if b == nil || len(b) > MaxAuthorLen {
		return fmt.Errorf("%w: %s ID of %d bytes", ErrMalformed, what, len(b))
	}
	p, err := peer.IDFromBytes(b)
	if err != nil {
		return fmt.Errorf("%w: %s ID: %v", ErrMalformed, what, err)
	}
	if _, dup := set[p]; dup {
		return fmt.Errorf("%w: %s %s listed twice", ErrMalformed, what, p)
	}
	if len(set) == MaxMembers {
		return fmt.Errorf("%w: more than %d %ss", ErrMalformed, MaxMembers, what)
	}
	set[p] = struct{}{}
	return nil
}

// checkState checks a decoded state; seen has bit n set for each field n present.
func checkState(r Room, seen uint16) error {
	const required = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<8 | 1<<9
	if seen&required != required {
		return errors.New("room state lacks id, name, key, epoch, creator or nonce")
	}
	if r.ID != DeriveID(r.Creator, r.Nonce) {
		return errors.New("room id does not match its creator")
	}
	if !r.IsOwner(r.Creator) {
		return fmt.Errorf("room creator %s is not an owner", r.Creator)
	}
	if err := ValidateName(r.Name); err != nil {
		return err
	}
	if r.Epoch == 0 {
		return errors.New("room epoch is 0")
	}
	if len(r.Owners) == 0 {
		return errors.New("room has no owner")
	}
	for p := range r.Owners {
		if !r.IsMember(p) {
			return fmt.Errorf("owner %s is not a member", p)
		}
	}
	return nil
}
